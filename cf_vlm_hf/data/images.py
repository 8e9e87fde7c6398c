"""Decoding corpus images into 8-bit RGB faithfully, or refusing them by name.

What a model sees is what a viewer shows (docs/corpus.md, "Image decoding"):

- EXIF orientation is applied, so a photo is upright (as ``datasets.Image`` does; applying it twice is a no-op);
- 16-bit images (modes ``I;16*``, and ``I``, read as 16-bit data) are rescaled ``v * 255 / 65535``, not clipped to
  white; 16-bit RGB PNGs are reduced to 8 bits by Pillow itself (most significant byte);
- float images (mode ``F``, float arrays): values in [0, 1] are scaled by 255, values in [0, 255] are kept, any
  other range is rescaled linearly from its minimum to its maximum; NaN or infinite pixels are refused;
- transparency (``RGBA``, ``LA``, ``PA``, a palette with a transparent colour, premultiplied ``RGBa``/``La``) is
  composited over white: a transparent pixel is white, a half-transparent one is half-way to white;
- palette, CMYK, YCbCr, 1-bit and greyscale images go through Pillow's conversion to RGB;
- an image with no pixels (0 x N) is refused, and so is one Pillow flags as a decompression bomb.

Every refusal is a :class:`~cf_vlm_hf.data.rows.CorpusError` whose message starts with ``where`` (the row and the
field).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CorpusError

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_WHITE = (255, 255, 255)


def open_image(value: Any, where: str) -> Image.Image:
    """Return ``value`` as a PIL image (not yet converted), or raise :class:`CorpusError` naming ``where``.

    Accepts a PIL image, a ``{"bytes": ..., "path": ...}`` dict (``datasets``' encoded Image), raw bytes, a file
    path or a numpy array (HxW, HxWx1, HxWx3 or HxWx4 of any integer, bool or float dtype).
    """
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, Mapping):
        if value.get("bytes") is not None:
            return Image.open(io.BytesIO(value["bytes"]))
        if value.get("path"):
            return _open_path(value["path"], where)
        raise CorpusError(f"{where}: image dict has neither 'bytes' nor 'path'", "missing_image")
    if isinstance(value, (bytes, bytearray)):
        return Image.open(io.BytesIO(value))
    if isinstance(value, (str, os.PathLike)):
        return _open_path(value, where)
    if isinstance(value, np.ndarray):
        return array_to_image(value, where)
    if value is None:
        raise CorpusError(f"{where}: image is missing (None)", "missing_image")
    raise CorpusError(f"{where}: cannot read an image from a {type(value).__name__}", "not_an_image")


def _open_path(path: str | os.PathLike, where: str) -> Image.Image:
    if not os.path.exists(path):
        raise CorpusError(f"{where}: image file not found: {os.fspath(path)!r}", "missing_image")
    return Image.open(path)


def decode_image(value: Any, where: str) -> Image.Image:
    """Return ``value`` (see :func:`open_image`) as a loaded, upright, 8-bit RGB PIL image (module docstring policy).

    Raises :class:`CorpusError` naming ``where`` for a missing, undecodable, empty or non-finite image.
    """
    try:
        image = open_image(value, where)
        image.load()
        if image.width == 0 or image.height == 0:
            raise CorpusError(f"{where}: image is empty ({image.width}x{image.height} pixels)", "empty_image")
        if image.getexif().get(Image.ExifTags.Base.Orientation, 1) != 1:
            image = ImageOps.exif_transpose(image)
        return to_rgb(image, where)
    except CorpusError:
        raise
    except Image.DecompressionBombError as err:
        raise CorpusError(f"{where}: image is too large to decode safely ({err})", "undecodable_image") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError) as err:
        raise CorpusError(f"{where}: image cannot be decoded ({err})", "undecodable_image") from err


def to_rgb(image: Image.Image, where: str) -> Image.Image:
    """Convert a loaded PIL image of any mode to 8-bit RGB by the module's policy."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode == "I":
        return _array_to_rgb(_rescale_16bit(np.asarray(image)), where)
    if mode == "F":
        return _array_to_rgb(_rescale_float(np.asarray(image), where), where)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode in ("RGBa", "La"):
        image = image.convert(mode.upper())  # un-premultiply first
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _rescale_16bit(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    if values.size and (values.min() < 0 or values.max() > 65535):  # 32-bit integer data: its own range
        return _min_max(values)
    return np.rint(values * (255.0 / 65535.0)).astype(np.uint8)


def _rescale_float(values: np.ndarray, where: str) -> np.ndarray:
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise CorpusError(f"{where}: image has NaN or infinite pixel values", "undecodable_image")
    if values.size == 0:
        return values.astype(np.uint8)
    low, high = values.min(), values.max()
    if low >= 0.0 and high <= 1.0:
        return np.rint(values * 255.0).astype(np.uint8)
    if low >= 0.0 and high <= 255.0:
        return np.rint(values).astype(np.uint8)
    return _min_max(values)


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = values.min(), values.max()
    if high == low:
        return np.zeros(values.shape, np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _array_to_rgb(values: np.ndarray, where: str) -> Image.Image:
    """An 8-bit HxW, HxWx3 or HxWx4 array as RGB (alpha composited over white)."""
    if values.ndim == 2:
        return Image.fromarray(values, "L").convert("RGB")
    if values.shape[2] == 4:
        return to_rgb(Image.fromarray(values, "RGBA"), where)
    return Image.fromarray(values, "RGB")


def array_to_image(array: np.ndarray, where: str) -> Image.Image:
    """Return an HxW, HxWx1, HxWx3 or HxWx4 array as a PIL image (RGB, or RGBA for 4 channels).

    uint8 and bool arrays are taken as they are; uint16 arrays as 16-bit data; other integer arrays as 8-bit data
    when their values lie in 0..255, else as 16-bit data; float arrays by the float policy of the module docstring.
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise CorpusError(
            f"{where}: an image array must be HxW, HxWx1, HxWx3 or HxWx4, got shape {tuple(array.shape)}",
            "not_an_image",
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise CorpusError(f"{where}: image is empty ({array.shape[1]}x{array.shape[0]} pixels)", "empty_image")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        array = _rescale_float(array, where)
    elif np.issubdtype(array.dtype, np.integer) and array.dtype != np.uint8:
        if array.dtype != np.uint16 and array.size and array.min() >= 0 and array.max() <= 255:
            array = array.astype(np.uint8)  # 8-bit values in a wider integer type (np.asarray(img, dtype=int))
        else:
            array = _rescale_16bit(array)
    elif array.dtype != np.uint8:
        raise CorpusError(f"{where}: cannot read an image from an array of dtype {array.dtype}", "not_an_image")
    if array.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(array), "L")
    return Image.fromarray(np.ascontiguousarray(array), "RGBA" if array.shape[2] == 4 else "RGB")
