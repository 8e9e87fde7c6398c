"""Generative VLMs: scores equal a forward per (image, caption); batching, chunking and length errors."""

import pytest
import torch
from testing_utils import GENERATIVE_MODELS, make_rows

from cf_vlm_hf.models import is_generative_vlm
from cf_vlm_hf.models.generative import (
    DEFAULT_CAPTION_PROMPT,
    DEFAULT_YES_QUESTION,
    GenerativeCollator,
    GenerativeScorer,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def rows():
    return make_rows(3, seed=3, num_cf=2, num_edits=2)


def naive_score(model, processor, image, caption, kind):
    """One forward for one (image, caption), computed from scratch: log-softmax over the full vocabulary."""
    if kind == "caption-likelihood":
        user, target = DEFAULT_CAPTION_PROMPT, caption
    else:
        user, target = DEFAULT_YES_QUESTION.replace("{caption}", caption), "Yes"
    if processor.chat_template is None:  # PaliGemma: prefix + suffix; the suffix ends with EOS
        inputs = processor(text=[user], suffix=[target], images=[image], return_tensors="pt")
        inputs.pop("labels")
        ids = inputs["input_ids"][0]
        start = int(inputs["token_type_ids"][0].nonzero()[0])
        end = ids.shape[0] - 1  # drop the EOS
    else:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user}]}]
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prompt_only = processor(text=[prompt], images=[image], return_tensors="pt")
        inputs = processor(text=[prompt + " " + target], images=[image], return_tensors="pt")
        ids = inputs["input_ids"][0]
        start, end = prompt_only["input_ids"].shape[1], ids.shape[0]
    with torch.no_grad():
        logits = model(**inputs).logits[0]
    logps = torch.log_softmax(logits.double(), dim=-1)
    token_logps = torch.stack([logps[t - 1, ids[t]] for t in range(start, end)])
    return token_logps.mean().item() if kind == "caption-likelihood" else token_logps[0].item()


@pytest.mark.parametrize("kind", ["caption-likelihood", "yes-probability"])
@pytest.mark.parametrize("family", sorted(GENERATIVE_MODELS))
def test_scores_equal_a_forward_per_pair(family, kind, rows):
    model, processor = GENERATIVE_MODELS[family]()
    assert is_generative_vlm(model)
    rows[1]["negative_captions"] = ["two blue circles"]
    collator = GenerativeCollator(processor, score=kind, cross_pairs=True, negative_captions=True,
                                  max_sequences_per_forward=7)
    batch = collator(rows)
    num_sequences = sum(chunk["input_ids"].shape[0] for chunk in batch["chunks"])
    # anchors, cf pairs, edits, (I, T'_k), (I'_k, T), negatives, and for yes-probability the anchors' captions
    assert num_sequences == 3 + 6 + 6 + 12 + 1 + (3 if kind == "yes-probability" else 0)
    assert len(batch["chunks"]) == -(-num_sequences // 7)
    with torch.no_grad():
        scores = GenerativeScorer(kind).score(model, batch)
    assert scores.anchor.shape == (3,) and scores.cf.shape == (3, 2) and scores.edit.shape == (3, 2)

    def check(got, image, caption):
        assert got.item() == pytest.approx(naive_score(model, processor, image, caption, kind), abs=1e-5)

    for b, row in enumerate(rows):
        check(scores.anchor[b], row["image"], row["caption"])
        for k, (image, caption) in enumerate(zip(row["cf_images"], row["cf_captions"])):
            check(scores.cf[b, k], image, caption)
            check(scores.anchor_image_cf_text[b, k], row["image"], caption)
            check(scores.cf_image_anchor_text[b, k], image, row["caption"])
        for j, image in enumerate(row["edit_images"]):
            check(scores.edit[b, j], image, row["caption"])
    assert scores.negative_mask.tolist() == [[False], [True], [False]]
    check(scores.negative[1, 0], rows[1]["image"], "two blue circles")


def test_the_naive_check_can_fail(rows):
    # A different prompt gives different scores: the comparison above is not vacuous.
    model, processor = GENERATIVE_MODELS["llava"]()
    batch = GenerativeCollator(processor, caption_prompt="Describe this image.")(rows[:1])
    with torch.no_grad():
        got = GenerativeScorer().score(model, batch).anchor[0].item()
    want = naive_score(model, processor, rows[0]["image"], rows[0]["caption"], "caption-likelihood")
    assert abs(got - want) > 1e-4


@pytest.mark.parametrize("family", ["llava", "qwen2_vl", "idefics3"])
def test_each_distinct_image_is_processed_once(family, rows):
    _, processor = GENERATIVE_MODELS[family]()
    collator = GenerativeCollator(processor, cross_pairs=True)
    batch = collator(rows)
    # 3 anchors + 6 counterfactual images + 6 edits are distinct; the cross pairs reuse them.
    assert collator.processed_images == 15
    assert batch["chunks"][0]["input_ids"].shape[0] == 27
    labels = batch["chunks"][0]["labels"]
    ids = batch["chunks"][0]["input_ids"]
    assert (labels[labels != -100] == ids[labels != -100]).all()
    caption_tokens = (labels != -100).sum(1)
    assert caption_tokens.tolist() == [3] * 27  # "a <colour> <shape>": three words, nothing else
    image_token = processor.image_token_id if hasattr(processor, "image_token_id") else None
    assert image_token is not None and not (labels == image_token).any()


def test_labels_cover_only_the_caption_and_padding_is_masked():
    _, processor = GENERATIVE_MODELS["llava"]()
    rows = make_rows(2, num_cf=0, num_edits=0)
    rows[1]["caption"] = "a small red circle to the left of a large blue square"
    chunk = GenerativeCollator(processor)(rows)["chunks"][0]
    tokens = processor.tokenizer
    first = tokens.convert_ids_to_tokens(chunk["labels"][0][chunk["labels"][0] != -100])
    second = tokens.convert_ids_to_tokens(chunk["labels"][1][chunk["labels"][1] != -100])
    assert first == rows[0]["caption"].split() and second == rows[1]["caption"].split()
    padded = chunk["attention_mask"] == 0
    assert padded[0].sum() == 9 and (chunk["labels"][padded] == -100).all()


def test_over_long_caption_is_a_clear_error():
    _, processor = GENERATIVE_MODELS["qwen2_vl"]()
    rows = make_rows(2, num_cf=1, num_edits=1)
    rows[1]["caption"] = " ".join(["a red circle and"] * 70)
    with pytest.raises(ValueError, match=r"row 'row-1': the sequence for caption 'a red circle and .* has 29\d tokens "
                                         r".*more than max_length=256\. Sequences are never truncated"):
        GenerativeCollator(processor)(rows)
    with pytest.raises(ValueError, match=r"row 'row-1'.*more than max_length=40"):
        GenerativeCollator(processor, max_length=40)(make_rows(2, num_cf=0, num_edits=0)[:1] + rows[1:])


def test_image_outputs_are_repeated_per_sequence_or_everything_is_processed():
    from cf_vlm_hf.models.generative.images import OnceEachImage

    calls = []

    def image_processor(images, extra=None):
        calls.append(len(images))
        out = {"pixel_values": torch.arange(len(images)).float().unsqueeze(1), "sizes": list(range(len(images)))}
        if extra:
            out["meta"] = "one value for the whole call"  # no per-image layout
        return out

    a, b = object(), object()
    known = OnceEachImage(image_processor)([a, b, a, a])
    assert calls == [2] and known["pixel_values"].flatten().tolist() == [0, 1, 0, 0] and known["sizes"] == [0, 1, 0, 0]
    calls.clear()
    unknown = OnceEachImage(image_processor)([a, b, a], extra=True)
    assert calls == [2, 3] and unknown["pixel_values"].flatten().tolist() == [0, 1, 2]
