"""One corpus row: checking its fields (types first, before anything is cast) and decoding its images.

A row follows the corpus schema (docs/corpus.md)::

    image              an image: a PIL image, a {"bytes", "path"} dict, raw bytes, a path or an array
    caption            str
    cf_images          list of images   (K entries, K may be 0)
    cf_captions        list of str      (same length as cf_images)
    edit_images        list of images   (M entries, M may be 0)
    edit_types         list of str      (same length as edit_images)
    edit_captions      list of str, optional (same length as edit_images)
    negative_captions  list of str, optional: captions that do not describe the image, with no image of their own
    id                 optional

A missing (or null) list means an empty one; a missing ``edit_captions`` means "none given". Every error raised
here is a :class:`CorpusError` whose message names the row (its position and its ``id`` when it has one) and the
field, so a bad row in a million can be found and fixed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from .errors import ROW_INDEX, CorpusError, CorpusWarning, describe_row
from .images import decode_image
from .paths import PathPolicy, resolve_image_path, resolve_reference

REQUIRED_COLUMNS = ("image", "caption")
IMAGE_LIST_COLUMNS = ("cf_images", "edit_images")
TEXT_LIST_COLUMNS = ("cf_captions", "edit_types", "edit_captions", "negative_captions")
LIST_COLUMNS = ("cf_images", "cf_captions", "edit_images", "edit_types", "edit_captions", "negative_captions")
OPTIONAL_COLUMNS = ("edit_captions", "negative_captions", "id")
SCHEMA_COLUMNS = (*REQUIRED_COLUMNS, *LIST_COLUMNS, "id")
IMAGE_COLUMNS = ("image", *IMAGE_LIST_COLUMNS)

# The edit types the project knows (docs/DESIGN.md); an unknown one is only warned about, never rejected.
KNOWN_EDIT_TYPES = frozenset(
    {"color", "shape", "size", "relation", "binding", "count", "existence", "attribute", "object", "action", "cause",
     "negation"}
)

__all__ = [
    "IMAGE_COLUMNS", "KNOWN_EDIT_TYPES", "LIST_COLUMNS", "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "ROW_INDEX",
    "SCHEMA_COLUMNS", "CorpusError", "CorpusWarning", "check_row", "check_unique_id", "decode_image",
    "describe_row", "resolve_image_path", "unknown_edit_types",
]


def type_name(value: Any) -> str:
    """How messages name a wrong value's type: ``a number (nan)``, ``a list``, ``null``, ``a string ('x')``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float, np.integer, np.floating)):
        shown = "nan" if isinstance(value, float) and math.isnan(value) else repr(value)
        return f"a number ({shown})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a dict"
    return f"a {type(value).__name__}"


def _check_text(value: Any, where: str, what: str = "text") -> str:
    if value is None:
        raise CorpusError(f"{where}: {what} is missing (null)", "missing_text")
    if not isinstance(value, str):
        raise CorpusError(f"{where}: expected a string, got {type_name(value)}", "not_a_string")
    if not value.strip():
        raise CorpusError(f"{where}: text is empty", "empty_text")
    return value


def _check_list(row: Mapping[str, Any], field: str, where: str) -> list:
    value = row.get(field)
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        hint = f"; write [{value!r}]" if isinstance(value, str) else ""
        raise CorpusError(f"{where}, field '{field}': must be a list, got {type_name(value)}{hint}", "not_a_list")
    return list(value)


def _check_image(value: Any, where: str, policy: PathPolicy | None) -> Any:
    """Type-check one image reference (no decoding) and resolve its path by ``policy``."""
    if value is None:
        raise CorpusError(f"{where}: image is missing (None)", "missing_image")
    if isinstance(value, Mapping):
        path, data = value.get("path"), value.get("bytes")
        if data is not None and not isinstance(data, (bytes, bytearray)):
            raise CorpusError(f"{where}: image 'bytes' must be bytes, got {type_name(data)}", "not_an_image")
        if path is not None and not isinstance(path, str):
            raise CorpusError(f"{where}: image 'path' must be a string, got {type_name(path)}", "not_an_image")
        if data is None and not path:
            raise CorpusError(f"{where}: image dict has neither 'bytes' nor 'path'", "missing_image")
    elif isinstance(value, str):
        if not value.strip():
            raise CorpusError(f"{where}: image path is empty", "missing_image")
    elif not isinstance(value, (Image.Image, bytes, bytearray, np.ndarray, os.PathLike)):
        raise CorpusError(
            f"{where}: expected an image (a path, a {{'path': ...}} or {{'bytes': ...}} dict, or a PIL image), "
            f"got {type_name(value)}",
            "not_an_image",
        )
    return resolve_reference(value, policy, where) if policy is not None else value


def missing_image_message(row: Mapping[str, Any], where: str) -> str:
    """The error for a row without ``image``: the keys it has, and how to name another one."""
    keys = sorted(str(k) for k in row if k != ROW_INDEX)
    return (
        f"{where}: no 'image' field (the row has {keys}); a corpus row needs 'image' and 'caption' "
        "(name other columns with image_column=... / caption_column=..., cf-vlm train --image_column ...)"
    )


def check_row(
    row: Mapping[str, Any], index: int | str | None = None, decode: bool = True, paths: PathPolicy | None = None
) -> dict[str, Any]:
    """Validate one row and return it normalised: lists (missing ones empty), RGB images when ``decode``.

    ``index`` names the row in errors (a :data:`ROW_INDEX` entry in the row wins). ``paths`` resolves and
    confines image paths (:class:`~cf_vlm_hf.data.paths.PathPolicy`); without it paths are used as they are.
    ``edit_captions`` comes back as a list of M strings, or None when the row gives none (missing, null, or empty
    beside M > 0 edits).

    Raises :class:`CorpusError` naming the row and field for: a missing ``image``/``caption``; a caption or list
    entry that is not a non-empty string (a number, NaN, null, a list); a list field that is not a list (a
    string); an image reference of the wrong type, missing, outside the corpus root, or (``decode``) not
    decodable; a ``cf_images``/``cf_captions`` or ``edit_images``/``edit_types``/``edit_captions`` length mismatch.
    """
    where = describe_row(row, index)
    if "image" not in row:
        raise CorpusError(missing_image_message(row, where), "missing_column")
    if "caption" not in row:
        raise CorpusError(f"{where}: missing column(s) ['caption']", "missing_column")

    caption = _check_text(row["caption"], f"{where}, field 'caption'", "caption")
    lists = {name: _check_list(row, name, where) for name in LIST_COLUMNS}
    cf_images, cf_captions = lists["cf_images"], lists["cf_captions"]
    edit_images, edit_types = lists["edit_images"], lists["edit_types"]
    edit_captions = lists["edit_captions"] if row.get("edit_captions") is not None else None
    if edit_captions is not None and not edit_captions and edit_images:
        edit_captions = None  # an empty list beside M edits: none given

    if len(cf_images) != len(cf_captions):
        hint = ""
        if not cf_images:
            hint = (
                "; captions that describe no image of their own are caption-only negatives: put them in "
                "'negative_captions'"
            )
        raise CorpusError(
            f"{where}: 'cf_images' has {len(cf_images)} entries but 'cf_captions' has {len(cf_captions)}{hint}",
            "cf_length_mismatch",
        )
    if len(edit_images) != len(edit_types):
        raise CorpusError(
            f"{where}: 'edit_images' has {len(edit_images)} entries but 'edit_types' has {len(edit_types)}",
            "edit_length_mismatch",
        )
    if edit_captions is not None and len(edit_captions) != len(edit_images):
        raise CorpusError(
            f"{where}: 'edit_images' has {len(edit_images)} entries but 'edit_captions' has {len(edit_captions)}",
            "edit_length_mismatch",
        )

    texts = {}
    for name in TEXT_LIST_COLUMNS:
        values = edit_captions if name == "edit_captions" else lists[name]
        if values is not None:
            values = [_check_text(t, f"{where}, field '{name}[{k}]'") for k, t in enumerate(values)]
        texts[name] = values

    image = _check_image(row["image"], f"{where}, field 'image'", paths)
    cf_images = [_check_image(v, f"{where}, field 'cf_images[{k}]'", paths) for k, v in enumerate(cf_images)]
    edit_images = [_check_image(v, f"{where}, field 'edit_images[{j}]'", paths) for j, v in enumerate(edit_images)]
    if decode:
        image = decode_image(image, f"{where}, field 'image'")
        cf_images = [decode_image(v, f"{where}, field 'cf_images[{k}]'") for k, v in enumerate(cf_images)]
        edit_images = [decode_image(v, f"{where}, field 'edit_images[{j}]'") for j, v in enumerate(edit_images)]

    out = dict(row)
    out.update(image=image, caption=caption, cf_images=cf_images, edit_images=edit_images, **texts)
    return out


def check_unique_id(row: Mapping[str, Any], index: int | None, seen: set) -> None:
    """Raise :class:`CorpusError` (reason ``"duplicate_id"``) if the row's ``id`` is in ``seen``; else add it.

    Rows without an ``id`` (``None``) are never duplicates.
    """
    row_id = row.get("id")
    if row_id is None:
        return
    if row_id in seen:
        raise CorpusError(f"{describe_row(row, index)}, field 'id': duplicate id {row_id!r}", "duplicate_id")
    seen.add(row_id)


def unknown_edit_types(row: Mapping[str, Any]) -> list[str]:
    """Return the row's edit types that are not in :data:`KNOWN_EDIT_TYPES` (in order, with repeats)."""
    return [t for t in (row.get("edit_types") or []) if t not in KNOWN_EDIT_TYPES]
