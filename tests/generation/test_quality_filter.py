"""The quality filter: S(G, own caption) vs S(G, anchor caption) through the project's scorers, checked against a
plain forward of each model family."""

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data
from testing_utils import tiny_clip, tiny_llava

from cf_vlm_hf.generation.images import ImageTextFilter


@pytest.fixture(scope="module")
def images():
    return [Image.fromarray(data.chelsea()).resize((48, 32)), Image.fromarray(data.astronaut()).resize((32, 32))]


CAPTIONS = ["a red circle", "two blue squares"]
ANCHORS = ["a green triangle", "a large red square"]


def test_dual_encoder_scores_are_the_cosines_of_a_plain_forward(images, one_thread):
    model, processor = tiny_clip(seed=0)
    quality = ImageTextFilter(model, processor)
    scores = quality.scores(images, CAPTIONS)
    inputs = processor(text=CAPTIONS, images=images, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**inputs)
    expected = (F.normalize(out.image_embeds, dim=-1) * F.normalize(out.text_embeds, dim=-1)).sum(-1)
    assert torch.allclose(scores, expected, atol=1e-5)


@pytest.mark.parametrize("margin", [0.0, 0.05])
def test_verdicts_keep_an_image_when_its_own_caption_wins_by_the_margin(images, margin, one_thread):
    model, processor = tiny_clip(seed=0)
    quality = ImageTextFilter(model, processor, margin=margin)
    verdicts = quality(images, CAPTIONS, ANCHORS)
    own, anchor = quality.scores(images, CAPTIONS), quality.scores(images, ANCHORS)
    assert [v.keep for v in verdicts] == [bool(o > a + margin) for o, a in zip(own, anchor)]
    assert [v.own_score for v in verdicts] == pytest.approx(own.tolist())
    assert [v.anchor_score for v in verdicts] == pytest.approx(anchor.tolist())
    assert quality([], [], []) == []


def test_generative_scores_are_mean_caption_log_probabilities(images, one_thread):
    model, processor = tiny_llava(seed=0)
    quality = ImageTextFilter(model, processor)
    scores = quality.scores(images, CAPTIONS)
    # A plain forward over the same sequences: the mean log-probability of each caption's tokens.
    batch = quality.collator([{"image": im, "caption": c, "cf_images": [], "cf_captions": [], "edit_images": [],
                               "edit_types": []} for im, c in zip(images, CAPTIONS)])
    chunk = batch["chunks"][0]
    labels = chunk.pop("labels")
    with torch.no_grad():
        logits = model(**chunk).logits
    logps = logits[:, :-1].log_softmax(-1)
    targets = labels[:, 1:]
    mask = targets != -100
    token = logps.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    expected = (token * mask).sum(1) / mask.sum(1)
    assert torch.allclose(scores, expected, atol=1e-4)
    assert (scores < 0).all()


def test_filter_loads_a_saved_checkpoint(tmp_path, images, one_thread):
    model, processor = tiny_clip(seed=0)
    model.save_pretrained(tmp_path / "clip")
    processor.save_pretrained(tmp_path / "clip")
    loaded = ImageTextFilter.from_pretrained(str(tmp_path / "clip"), device="cpu", margin=0.1)
    assert loaded.margin == 0.1 and loaded.name == str(tmp_path / "clip")
    assert torch.allclose(loaded.scores(images, CAPTIONS), ImageTextFilter(model, processor).scores(images, CAPTIONS),
                          atol=1e-5)
