"""One corpus row: decoding its images and checking its fields.

A row follows the corpus schema of DESIGN.md::

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


class CorpusError(ValueError):
    """A corpus row that cannot be used; the message names the row and the field."""


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
                raise CorpusError(f"{where}: image dict has neither 'bytes' nor 'path'")
        elif isinstance(value, (bytes, bytearray)):
            image = Image.open(io.BytesIO(value))
        elif isinstance(value, (str, os.PathLike)):
            image = _open_path(value, where)
        elif isinstance(value, np.ndarray):
            image = Image.fromarray(value)
        elif value is None:
            raise CorpusError(f"{where}: image is missing (None)")
        else:
            raise CorpusError(f"{where}: cannot read an image from a {type(value).__name__}")
        image.load()
    except CorpusError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise CorpusError(f"{where}: image cannot be decoded ({err})") from err
    return image if image.mode == "RGB" else image.convert("RGB")


def _open_path(path: str | os.PathLike, where: str) -> Image.Image:
    if not os.path.exists(path):
        raise CorpusError(f"{where}: image file not found: {os.fspath(path)!r}")
    return Image.open(path)


def _check_text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise CorpusError(f"{where}: expected a string, got {type(value).__name__}")
    if not value.strip():
        raise CorpusError(f"{where}: caption is empty")
    return value


def _check_list(row: Mapping[str, Any], field: str, where: str) -> list:
    value = row.get(field)
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CorpusError(f"{where}: field '{field}' must be a list, got {type(value).__name__}")
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
        raise CorpusError(f"{where}: missing column(s) {missing}")

    caption = _check_text(row["caption"], f"{where}, field 'caption'")
    cf_images = _check_list(row, "cf_images", where)
    cf_captions = _check_list(row, "cf_captions", where)
    edit_images = _check_list(row, "edit_images", where)
    edit_types = _check_list(row, "edit_types", where)
    edit_captions = row.get("edit_captions")

    if len(cf_images) != len(cf_captions):
        raise CorpusError(
            f"{where}: 'cf_images' has {len(cf_images)} entries but 'cf_captions' has {len(cf_captions)}"
        )
    if len(edit_images) != len(edit_types):
        raise CorpusError(
            f"{where}: 'edit_images' has {len(edit_images)} entries but 'edit_types' has {len(edit_types)}"
        )
    if edit_captions is not None:
        edit_captions = _check_list(row, "edit_captions", where)
        if len(edit_captions) != len(edit_images):
            raise CorpusError(
                f"{where}: 'edit_images' has {len(edit_images)} entries but 'edit_captions' has "
                f"{len(edit_captions)}"
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
            raise CorpusError(f"{where}, field 'image': image is missing (None)")

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

