"""The collator's batch reproduces the rows, anchor by anchor, and bad rows raise errors that name them."""

import io

import numpy as np
import pytest
import torch
from testing_utils import make_rows, tiny_clip

from cf_vlm_hf import CounterfactualCollator


@pytest.fixture(scope="module")
def processor():
    return tiny_clip()[1]


def pixels(processor, image):
    return processor.image_processor(images=image, return_tensors="pt")["pixel_values"][0]


def ids(processor, text):
    return processor.tokenizer(text)["input_ids"]


def unpadded(batch, t):
    return batch["input_ids"][t][batch["attention_mask"][t].bool()].tolist()


def test_batch_reproduces_rows_anchor_by_anchor(processor):
    rows = make_rows(3, num_cf=2, num_edits=2)
    rows[1]["cf_images"], rows[1]["cf_captions"] = rows[1]["cf_images"][:1], rows[1]["cf_captions"][:1]
    rows[2]["edit_images"], rows[2]["edit_types"], rows[2]["edit_captions"] = [], [], []
    batch = CounterfactualCollator(processor)(rows)

    assert batch["pixel_values"].shape[0] == 3 + (2 + 1 + 2) + (2 + 2 + 0)
    assert batch["input_ids"].shape[0] == 3 + 5
    assert batch["cf_mask"].tolist() == [[True, True], [True, False], [True, True]]
    assert batch["edit_mask"].tolist() == [[True, True], [True, True], [False, False]]
    for b, row in enumerate(rows):
        assert torch.equal(batch["pixel_values"][b], pixels(processor, row["image"]))
        assert unpadded(batch, b) == ids(processor, row["caption"])
        for k in range(len(row["cf_images"])):
            image_pos, text_pos = batch["cf_image_index"][b, k], batch["cf_text_index"][b, k]
            assert torch.equal(batch["pixel_values"][image_pos], pixels(processor, row["cf_images"][k]))
            assert unpadded(batch, text_pos) == ids(processor, row["cf_captions"][k])
        for j in range(len(row["edit_images"])):
            image_pos = batch["edit_image_index"][b, j]
            assert torch.equal(batch["pixel_values"][image_pos], pixels(processor, row["edit_images"][j]))
    assert len(set(batch["cf_image_index"][batch["cf_mask"]].tolist())) == 5, "every cf image has its own slot"


def test_rows_with_no_counterfactuals_or_edits(processor):
    rows = make_rows(2, num_cf=0, num_edits=0)
    batch = CounterfactualCollator(processor)(rows)
    assert batch["pixel_values"].shape[0] == 2
    assert batch["cf_mask"].shape == (2, 0) and batch["edit_mask"].shape == (2, 0)


def test_caps_keep_a_seeded_subset(processor):
    rows = make_rows(4, num_cf=2, num_edits=2)
    a = CounterfactualCollator(processor, max_counterfactuals=1, max_edits=1, seed=3)(rows)
    b = CounterfactualCollator(processor, max_counterfactuals=1, max_edits=1, seed=3)(rows)
    assert a["cf_mask"].shape == (4, 1) and a["edit_mask"].shape == (4, 1)
    assert torch.equal(a["pixel_values"], b["pixel_values"])
    assert a["pixel_values"].shape[0] == 4 + 4 + 4
    none = CounterfactualCollator(processor, max_counterfactuals=0, max_edits=0)(rows)
    assert none["pixel_values"].shape[0] == 4 and none["input_ids"].shape[0] == 4


def test_text_only_negatives_for_negclip(processor):
    rows = make_rows(2, num_cf=2, num_edits=2)
    batch = CounterfactualCollator(processor, counterfactual_images=False, edit_images=False, edit_captions=True)(rows)
    assert batch["pixel_values"].shape[0] == 2
    assert batch["input_ids"].shape[0] == 2 + 4 + 4
    assert "cf_image_index" not in batch and "edit_image_index" not in batch
    assert unpadded(batch, 4) == ids(processor, rows[0]["edit_captions"][0])


def corrupt(rows, index, **changes):
    rows[index].update(changes)
    return rows


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(caption="   "), r"row 1 of the batch \(id 'row-1'\), field 'caption': text is empty"),
        (dict(cf_captions=["a red circle"]), r"row 1 of the batch \(id 'row-1'\): 'cf_images' has 2 entries but 'cf_captions' has 1"),
        (dict(edit_types=["color"]), r"row 1 of the batch \(id 'row-1'\): 'edit_images' has 2 entries but 'edit_types' has 1"),
        (dict(image={"bytes": b"not a png", "path": None}), r"row 1 of the batch \(id 'row-1'\), field 'image': image cannot be decoded"),
        (dict(image="/nonexistent/x.png"), r"row 1 of the batch \(id 'row-1'\), field 'image': image file not found"),
        (dict(cf_images=[None, None]), r"row 1 of the batch \(id 'row-1'\), field 'cf_images\[0\]': image is missing"),
        (dict(cf_captions=["a red circle", ""]), r"field 'cf_captions\[1\]': text is empty"),
    ],
    ids=["empty caption", "cf length", "edit length", "corrupt image", "missing file", "missing cf image", "empty cf caption"],
)
def test_bad_rows_raise_naming_the_row(processor, changes, message):
    rows = corrupt(make_rows(3), 1, **changes)
    with pytest.raises(ValueError, match=message):
        CounterfactualCollator(processor)(rows)


def test_accepts_encoded_images(processor):
    rows = make_rows(2)
    buffer = io.BytesIO()
    rows[0]["image"].save(buffer, format="PNG")
    decoded = CounterfactualCollator(processor)(make_rows(2))
    encoded = CounterfactualCollator(processor)(corrupt(rows, 0, image={"bytes": buffer.getvalue(), "path": None}))
    assert torch.equal(decoded["pixel_values"], encoded["pixel_values"])
    rows[1]["image"] = np.asarray(rows[1]["image"])
    assert torch.equal(CounterfactualCollator(processor)(rows)["pixel_values"], decoded["pixel_values"])


def test_negative_cap_is_an_error(processor):
    with pytest.raises(ValueError, match="max_edits must be >= 0 or None, got -1"):
        CounterfactualCollator(processor, max_edits=-1)


def test_caption_groups_mark_identical_captions(processor):
    rows = make_rows(4, num_cf=1, num_edits=1)
    for row, text in zip(rows, ["a red circle", "a blue square", "a red circle", "two red circles"]):
        row["caption"] = text
    groups = CounterfactualCollator(processor)(rows)["caption_groups"]
    assert groups.dtype == torch.long and groups.shape == (4,)
    assert groups[0] == groups[2] and len(set(groups.tolist())) == 3
    # The ids do not depend on the process (a stable hash, not Python's salted hash()).
    again = CounterfactualCollator(processor)(list(reversed(rows)))["caption_groups"]
    assert again.tolist() == list(reversed(groups.tolist()))


def test_counterfactual_caption_groups_share_ids_with_anchor_captions(processor):
    rows = make_rows(3, num_cf=2, num_edits=0)
    rows[0]["cf_captions"] = ["a blue square", "two red circles"]
    rows[1]["caption"] = "a blue square"
    rows[2]["cf_captions"] = rows[2]["cf_captions"][:1]
    rows[2]["cf_images"] = rows[2]["cf_images"][:1]
    batch = CounterfactualCollator(processor)(rows)
    groups, cf_groups = batch["caption_groups"], batch["cf_caption_groups"]
    assert cf_groups.dtype == torch.long and cf_groups.shape == (3, 2)
    assert cf_groups[0, 0] == groups[1], "a counterfactual caption equal to another anchor's caption shares its id"
    assert cf_groups[0, 1] != groups[1] and cf_groups[2, 1] == 0 and not batch["cf_mask"][2, 1]


def test_negative_captions_are_texts_scored_against_their_anchor_image(processor):
    rows = make_rows(3, num_cf=1, num_edits=1)
    rows[0]["negative_captions"] = ["a blue circle", "two red squares"]
    rows[2]["negative_captions"] = ["a green square"]
    batch = CounterfactualCollator(processor, negative_captions=True)(rows)
    assert batch["negative_mask"].tolist() == [[True, True], [False, False], [True, False]]
    assert batch["input_ids"].shape[0] == 3 + 3 + 3  # anchors, counterfactual captions, negatives
    index = batch["negative_text_index"]
    assert unpadded(batch, int(index[0, 1])) == ids(processor, "two red squares")
    assert unpadded(batch, int(index[2, 0])) == ids(processor, "a green square")
    assert "negative_mask" not in CounterfactualCollator(processor)(rows)  # off by default
