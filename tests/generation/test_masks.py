"""Masks: a mask column's values, CLIPSeg and Grounding DINO masks (against their models' own outputs), loading."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data
from testing_utils.segmentation import tiny_clipseg, tiny_grounding_dino

from cf_vlm_hf.data import CorpusError
from cf_vlm_hf.generation.images import BoxMasks, ClipSegMasks, load_segmenter, mask_from_value
from cf_vlm_hf.generation.images.masks import dilate, is_empty


@pytest.fixture(scope="module")
def photo():
    return Image.fromarray(data.coffee()).resize((96, 64))


def test_mask_values_of_every_kind_become_binary_masks_of_the_anchor_size(tmp_path):
    array = np.zeros((20, 30), dtype=np.uint8)
    array[5:10, 10:20] = 200
    image = Image.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path = tmp_path / "mask.png"
    image.save(path)
    for value in (image, {"bytes": buffer.getvalue(), "path": None}, {"bytes": None, "path": str(path)},
                  buffer.getvalue(), str(path), array, array > 0):
        mask = mask_from_value(value, (30, 20), "row 3")
        assert mask.mode == "L" and mask.size == (30, 20)
        assert set(np.unique(np.asarray(mask))) == {0, 255}
        assert np.array_equal(np.asarray(mask) > 0, array > 0)
    bigger = mask_from_value(image, (60, 40), "row 3")  # another size: nearest-neighbour resize
    assert np.array_equal(np.asarray(bigger)[::2, ::2] > 0, array > 0)


def test_bad_mask_values_name_the_row(tmp_path):
    with pytest.raises(CorpusError, match="row 7, mask: mask file not found"):
        mask_from_value(str(tmp_path / "missing.png"), (4, 4), "row 7, mask")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(CorpusError, match="row 7, mask: mask cannot be decoded"):
        mask_from_value(str(tmp_path / "bad.png"), (4, 4), "row 7, mask")
    with pytest.raises(CorpusError, match="cannot read a mask from a int"):
        mask_from_value(3, (4, 4), "row 7, mask")


def test_dilation_grows_the_mask_by_its_pixels():
    mask = Image.new("L", (21, 21), 0)
    mask.putpixel((10, 10), 255)
    grown = np.asarray(dilate(mask, 3)) > 0
    assert grown.sum() == 7 * 7 and grown[7:14, 7:14].all()
    assert is_empty(Image.new("L", (3, 3), 0)) and is_empty(None) and not is_empty(mask)


def test_clipseg_masks_threshold_the_models_probabilities(photo, one_thread):
    model, processor = tiny_clipseg()
    masks = ClipSegMasks(model, processor, threshold=0.5)
    phrases = ["the cup", "the table"]
    out = masks([photo, photo], phrases)
    inputs = processor(text=phrases, images=[photo, photo], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits  # (2, 64, 64): the processor's input size
    reference = F.interpolate(logits[:, None], size=(64, 96), mode="bilinear", align_corners=False)[:, 0].sigmoid()
    for mask, probabilities in zip(out, reference):
        assert mask.size == photo.size
        assert np.array_equal(np.asarray(mask) > 0, probabilities.numpy() > 0.5)
    assert masks([], []) == []


def test_grounding_dino_masks_fill_the_boxes_it_finds(tmp_path, photo, one_thread):
    model, processor = tiny_grounding_dino(tmp_path / "bert")
    masks = BoxMasks(model, processor, threshold=0.0, text_threshold=0.0)  # random weights: keep every box
    (mask,) = masks([photo], ["a red cube"])
    inputs = processor(images=photo, text="a red cube.", return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs)
    boxes = processor.post_process_grounded_object_detection(outputs, inputs["input_ids"], threshold=0.0,
                                                            text_threshold=0.0, target_sizes=[(64, 96)])[0]["boxes"]
    expected = np.zeros((64, 96), dtype=bool)
    for x0, y0, x1, y1 in boxes.round().int().tolist():
        expected[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
    assert len(boxes) > 0 and mask.size == photo.size
    assert np.array_equal(np.asarray(mask) > 0, expected)


def test_load_segmenter_picks_the_class_from_the_checkpoint(tmp_path, one_thread):
    model, processor = tiny_clipseg()
    model.save_pretrained(tmp_path / "clipseg")
    processor.save_pretrained(tmp_path / "clipseg")
    loaded = load_segmenter(str(tmp_path / "clipseg"), device="cpu", threshold=0.25)
    assert isinstance(loaded, ClipSegMasks) and loaded.threshold == 0.25 and not loaded.model.training
    dino, dino_processor = tiny_grounding_dino(tmp_path / "bert")
    dino.save_pretrained(tmp_path / "dino")
    dino_processor.save_pretrained(tmp_path / "dino")
    assert isinstance(load_segmenter(str(tmp_path / "dino"), device="cpu"), BoxMasks)
    from testing_utils import tiny_clip

    clip, clip_processor = tiny_clip()
    clip.save_pretrained(tmp_path / "clip")
    with pytest.raises(ValueError, match="is a 'clip'; text-prompted masks need a CLIPSeg"):
        load_segmenter(str(tmp_path / "clip"), device="cpu")
    with pytest.raises(FileNotFoundError, match="mask model"):
        load_segmenter(str(tmp_path / "nowhere"), device="cpu")
