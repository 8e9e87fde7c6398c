"""One corpus row: decoding its images and checking its fields.

A row follows the corpus schema of docs/DESIGN.md::

    image          PIL image (or {"bytes", "path"} dict, or a path)
    caption        str
    cf_images      list of images      (K entries, K may be 0)
    cf_captions    list of str         (same length as cf_images)
    edit_images    list of images      (M entries, M may be 0)
    edit_types     list of str         (same length as edit_images)
    edit_captions  optional list of str (same length as edit_images)
    id             optional

Every error raised here is a :class:`CorpusError` whose message names the row (its position and its ``id``
when it has one) and the field, so a bad row in a million can be found and fixed.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

REQUIRED_COLUMNS = ("image", "caption", "cf_images", "cf_captions", "edit_images", "edit_types")
OPTIONAL_COLUMNS = ("edit_captions", "id")


# The edit types the project knows (docs/DESIGN.md); an unknown one is only warned about, never rejected.
KNOWN_EDIT_TYPES = frozenset(
    {"color", "shape", "size", "relation", "binding", "count", "existence", "attribute", "object", "action", "cause",
     "negation"}
)


class CorpusError(ValueError):
    """A corpus row that cannot be used; the message names the row and the field.

    ``reason`` is a short stable code (``"undecodable_image"``, ``"cf_length_mismatch"``, ...) used to count
    rejected rows by cause.
    """

    def __init__(self, message: str, reason: str = "invalid_row"):
        super().__init__(message)
        self.reason = reason


class CorpusWarning(UserWarning):
    """Something in a corpus that is suspicious but usable (unknown edit type) or rows dropped in ``skip`` mode."""


def describe_row(row: Mapping[str, Any], index: int | None) -> str:
    """``"row 12 (id 'abc')"`` — how errors name a row."""
    where = f"row {index}" if index is not None else "row"
    row_id = row.get("id") if isinstance(row, Mapping) else None
    if row_id is not None:
        where += f" (id {row_id!r})"
    return where


def decode_image(value: Any, where: str) -> Image.Image:
    """Return ``value`` as a loaded RGB PIL image.

    Accepts a PIL image, a ``datasets`` Image dict (``{"bytes": ..., "path": ...}``), raw bytes, a file path,
    or an HxWx3 uint8 array. ``where`` names the row and field in the error raised for anything else.
    """
    try:
        if isinstance(value, Image.Image):
            image = value
        elif isinstance(value, Mapping):
            if value.get("bytes") is not None:
                image = Image.open(io.BytesIO(value["bytes"]))
            elif value.get("path"):
                image = _open_path(value["path"], where)
            else:
                raise CorpusError(f"{where}: image dict has neither 'bytes' nor 'path'", "missing_image")
        elif isinstance(value, (bytes, bytearray)):
            image = Image.open(io.BytesIO(value))
        elif isinstance(value, (str, os.PathLike)):
            image = _open_path(value, where)
        elif isinstance(value, np.ndarray):
            image = Image.fromarray(value)
        elif value is None:
            raise CorpusError(f"{where}: image is missing (None)", "missing_image")
        else:
            raise CorpusError(f"{where}: cannot read an image from a {type(value).__name__}", "undecodable_image")
        image.load()
    except CorpusError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise CorpusError(f"{where}: image cannot be decoded ({err})", "undecodable_image") from err
    return image if image.mode == "RGB" else image.convert("RGB")


def _open_path(path: str | os.PathLike, where: str) -> Image.Image:
    if not os.path.exists(path):
        raise CorpusError(f"{where}: image file not found: {os.fspath(path)!r}", "missing_image")
    return Image.open(path)


def _check_text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise CorpusError(f"{where}: expected a string, got {type(value).__name__}", "not_a_string")
    if not value.strip():
        raise CorpusError(f"{where}: text is empty", "empty_text")
    return value


def _check_list(row: Mapping[str, Any], field: str, where: str) -> list:
    value = row.get(field)
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CorpusError(f"{where}: field '{field}' must be a list, got {type(value).__name__}", "not_a_list")
    return list(value)


def check_row(row: Mapping[str, Any], index: int | None = None, decode: bool = True) -> dict[str, Any]:
    """Validate one row and return it normalised (lists, RGB images when ``decode``).

    Raises :class:`CorpusError` naming the row and field for: a missing column, an empty caption, a
    ``cf_images``/``cf_captions`` or ``edit_images``/``edit_types``/``edit_captions`` length mismatch, an image
    that is missing or cannot be decoded.
    """
    where = describe_row(row, index)
    missing = [c for c in ("image", "caption") if c not in row]
    if missing:
        raise CorpusError(f"{where}: missing column(s) {missing}", "missing_column")

    caption = _check_text(row["caption"], f"{where}, field 'caption'")
    cf_images = _check_list(row, "cf_images", where)
    cf_captions = _check_list(row, "cf_captions", where)
    edit_images = _check_list(row, "edit_images", where)
    edit_types = _check_list(row, "edit_types", where)
    edit_captions = row.get("edit_captions")

    if len(cf_images) != len(cf_captions):
        raise CorpusError(
            f"{where}: 'cf_images' has {len(cf_images)} entries but 'cf_captions' has {len(cf_captions)}",
            "cf_length_mismatch",
        )
    if len(edit_images) != len(edit_types):
        raise CorpusError(
            f"{where}: 'edit_images' has {len(edit_images)} entries but 'edit_types' has {len(edit_types)}",
            "edit_length_mismatch",
        )
    if edit_captions is not None:
        edit_captions = _check_list(row, "edit_captions", where)
        if len(edit_captions) != len(edit_images):
            raise CorpusError(
                f"{where}: 'edit_images' has {len(edit_images)} entries but 'edit_captions' has "
                f"{len(edit_captions)}",
                "edit_length_mismatch",
            )
        edit_captions = [_check_text(t, f"{where}, field 'edit_captions[{j}]'") for j, t in enumerate(edit_captions)]

    cf_captions = [_check_text(t, f"{where}, field 'cf_captions[{k}]'") for k, t in enumerate(cf_captions)]
    edit_types = [_check_text(t, f"{where}, field 'edit_types[{j}]'") for j, t in enumerate(edit_types)]

    if decode:
        image = decode_image(row["image"], f"{where}, field 'image'")
        cf_images = [decode_image(v, f"{where}, field 'cf_images[{k}]'") for k, v in enumerate(cf_images)]
        edit_images = [decode_image(v, f"{where}, field 'edit_images[{j}]'") for j, v in enumerate(edit_images)]
    else:
        image = row["image"]
        if image is None:
            raise CorpusError(f"{where}, field 'image': image is missing (None)", "missing_image")

    out = dict(row)
    out.update(
        image=image,
        caption=caption,
        cf_images=cf_images,
        cf_captions=cf_captions,
        edit_images=edit_images,
        edit_types=edit_types,
    )
    if edit_captions is not None:
        out["edit_captions"] = edit_captions
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


def resolve_image_path(
    path: str | os.PathLike, root: str | os.PathLike, where: str, allow_outside_root: bool = False
) -> str:
    """Return ``path`` (relative paths taken from ``root``) as an absolute path.

    Raises :class:`CorpusError` (reason ``"path_outside_root"``) when the real path, symlinks followed, lies
    outside ``root`` — an annotation file must not make the loader read ``../../etc/passwd`` — unless
    ``allow_outside_root``.
    """
    full = os.path.join(os.fspath(root), os.fspath(path))  # an absolute `path` replaces `root`
    if not allow_outside_root:
        real_root = os.path.realpath(root)
        real = os.path.realpath(full)
        if os.path.commonpath([real_root, real]) != real_root:
            raise CorpusError(
                f"{where}: image path {os.fspath(path)!r} lies outside the annotation folder {real_root!r} "
                "(pass allow_outside_root=True if this is intended)",
                "path_outside_root",
            )
    return os.path.abspath(full)
