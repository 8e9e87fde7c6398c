"""Images decode to what a viewer shows (16-bit, float, alpha, palette, CMYK, EXIF) or are refused by name."""

import io
import json
import struct
import zlib

import datasets
import numpy as np
import pytest
from PIL import Image

from cf_vlm_hf.data import CorpusError, check_row, decode_image, load_counterfactual_dataset

WHERE = "row 7 (id 'q'), field 'image'"


def rgb(value):
    image = decode_image(value, WHERE)
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def saved(image, fmt="PNG", **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return {"bytes": buffer.getvalue(), "path": None}


def ramp16():
    return (np.arange(24, dtype=np.uint32).reshape(4, 6) * 2849).astype(np.uint16)  # 0 .. 65527


def png_rgb16(values):
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one)."""
    height, width, _ = values.shape
    raw = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_16bit_greyscale_is_rescaled_not_clipped():
    values = ramp16()
    expected = np.rint(values.astype(float) * 255 / 65535).astype(int)
    encoded = saved(Image.fromarray(values))
    assert Image.open(io.BytesIO(encoded["bytes"])).mode == "I;16"
    for source in (encoded, values, Image.fromarray(values.astype(np.int32))):  # PNG, uint16 array, mode "I"
        out = rgb(source)
        np.testing.assert_array_equal(out, np.repeat(expected[..., None], 3, axis=2))
    assert np.asarray(Image.fromarray(values).convert("RGB")).max() == 255  # Pillow alone: clipped to white
    assert (np.asarray(Image.fromarray(values).convert("RGB")) == 255).mean() > 0.9


def test_16bit_rgb_png_keeps_its_most_significant_byte():
    values = np.stack([ramp16(), ramp16()[::-1], np.full((4, 6), 40000, np.uint16)], axis=2)
    out = rgb(png_rgb16(values))
    np.testing.assert_array_equal(out, values.astype(int) >> 8)


def test_wider_integer_arrays_with_8bit_values_stay_8bit():
    values = np.arange(48).reshape(4, 4, 3) * 5
    np.testing.assert_array_equal(rgb(values.astype(np.int64)), values)


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (0.0, 255.0), (-2.0, 3.0)], ids=["unit", "byte", "other"])
def test_float_images_by_range(low, high):
    values = np.linspace(low, high, 20, dtype=np.float32).reshape(4, 5)
    if high == 1.0:
        expected = np.rint(values.astype(np.float64) * 255)
    elif high == 255.0:
        expected = np.rint(values.astype(np.float64))
    else:
        expected = np.rint((values.astype(np.float64) - low) * 255 / (high - low))
    for source in (saved(Image.fromarray(values, "F"), "TIFF"), values):
        np.testing.assert_array_equal(rgb(source)[..., 0], expected)
    colour = np.stack([values] * 3, axis=2)
    np.testing.assert_array_equal(rgb(colour)[..., 2], expected)


def test_non_finite_and_empty_images_are_refused_by_name():
    values = np.ones((3, 3), np.float32)
    values[1, 1] = np.nan
    with pytest.raises(CorpusError, match=rf"^{WHERE}: image has NaN or infinite pixel values$".replace("(", r"\(")
                       .replace(")", r"\)")):
        decode_image(values, WHERE)
    for empty in (Image.new("RGB", (0, 0)), Image.new("L", (5, 0)), np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(CorpusError) as info:
            decode_image(empty, WHERE)
        assert info.value.reason == "empty_image" and str(info.value).startswith(f"{WHERE}: image is empty (")
    with pytest.raises(CorpusError, match=r"an image array must be HxW, HxWx1, HxWx3 or HxWx4, got shape \(2, 2, 2\)"):
        decode_image(np.zeros((2, 2, 2), np.uint8), WHERE)


def composite_over_white(rgba):
    rgba = rgba.astype(np.float64)
    alpha = rgba[..., 3:] / 255
    return rgba[..., :3] * alpha + 255 * (1 - alpha)


def test_alpha_is_composited_over_white():
    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 128], [0, 0, 0, 0], [10, 200, 30, 64]]], np.uint8)
    for source in (saved(Image.fromarray(rgba, "RGBA")), rgba, Image.fromarray(rgba, "RGBA").convert("RGBa")):
        np.testing.assert_allclose(rgb(source), composite_over_white(rgba), atol=1)
    la = np.array([[[0, 255], [0, 0], [100, 128]]], np.uint8)
    expected = composite_over_white(np.concatenate([np.repeat(la[..., :1], 3, axis=2), la[..., 1:]], axis=2))
    np.testing.assert_allclose(rgb(saved(Image.fromarray(la, "LA"))), expected, atol=1)
    assert rgb(saved(Image.fromarray(rgba, "RGBA")))[0, 2].tolist() == [255, 255, 255]  # not black


def test_palette_with_a_transparent_colour_cmyk_and_bilevel():
    palette = Image.new("P", (3, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255, 0, 0, 0] + [0] * (256 * 3 - 9))
    palette.putdata([0, 1, 2])
    assert rgb(saved(palette)).tolist() == [[[255, 0, 0], [0, 0, 255], [0, 0, 0]]]
    palette.info["transparency"] = 2
    assert rgb(saved(palette, transparency=2)).tolist() == [[[255, 0, 0], [0, 0, 255], [255, 255, 255]]]
    cmyk = Image.new("CMYK", (2, 1), (0, 255, 255, 0))
    assert rgb(saved(cmyk, "JPEG", quality=100))[0, 0].tolist() == pytest.approx([255, 0, 0], abs=3)
    assert rgb(cmyk).tolist() == [[[255, 0, 0], [255, 0, 0]]]
    bilevel = Image.fromarray(np.array([[True, False]]))
    assert rgb(saved(bilevel)).tolist() == [[[255, 255, 255], [0, 0, 0]]]


@pytest.mark.parametrize("orientation, turn", [(3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1)),
                                               (8, lambda a: np.rot90(a, 1)), (2, lambda a: a[:, ::-1])])
def test_exif_orientation_is_applied(orientation, turn):
    values = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = rgb(saved(Image.fromarray(values), exif=exif.tobytes()))
    np.testing.assert_array_equal(out, turn(values))
    np.testing.assert_array_equal(rgb(decode_image(saved(Image.fromarray(values), exif=exif.tobytes()), WHERE)),
                                  turn(values))  # applying it twice changes nothing


def test_undecodable_and_oversized_images_are_refused(monkeypatch):
    with pytest.raises(CorpusError, match=rf"^{WHERE.replace('(', '[(]').replace(')', '[)]')}: image cannot be "
                                          "decoded \\(cannot identify image file"):
        decode_image({"bytes": b"GIF89a garbage", "path": None}, WHERE)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(CorpusError, match=r"image is too large to decode safely"):
        decode_image(saved(Image.new("RGB", (10, 10))), WHERE)


def test_the_policy_holds_through_the_loader(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    Image.fromarray(ramp16()).save(tmp_path / "deep.png")
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :3, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cut.png")
    record = {"image": "deep.png", "caption": "deep", "edit_images": ["cut.png"], "edit_types": ["existence"]}
    (tmp_path / "a.jsonl").write_text(json.dumps(record) + "\n")
    row = check_row(load_counterfactual_dataset(tmp_path / "a.jsonl")[0], 0)  # what every collator receives
    np.testing.assert_array_equal(np.asarray(row["image"])[..., 1], np.rint(ramp16().astype(float) * 255 / 65535))
    edit = np.asarray(row["edit_images"][0])
    assert edit[0, 0].tolist() == [200, 0, 0] and edit[0, 5].tolist() == [255, 255, 255]
