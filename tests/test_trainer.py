"""CounterfactualTrainer on tiny dual encoders: the objectives train, log, accumulate and save correctly."""

import math

import pytest
import torch
from testing_utils import TINY_MODELS, make_rows, tiny_clip

from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer


def config(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        learning_rate=3e-4,
        max_steps=120,
        logging_steps=30,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    values.update(overrides)
    return CounterfactualConfig(**values)


@pytest.fixture(scope="module")
def corpus():
    # Colour edits only: a 2-layer ViT from scratch at 32 px needs far more than 120 steps to see shape.
    return {"train": make_rows(64, seed=1, num_edits=1), "eval": make_rows(32, seed=2, num_edits=1)}


@pytest.mark.parametrize("family", sorted(TINY_MODELS))
def test_training_lowers_fcd_loss_and_raises_fcd_accuracy(tmp_path, corpus, family):
    model, processor = TINY_MODELS[family](seed=0)
    trainer = CounterfactualTrainer(
        model=model,
        args=config(tmp_path),
        train_dataset=corpus["train"],
        eval_dataset=corpus["eval"],
        processing_class=processor,
    )
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()
    assert after["eval_fcd_loss"] < 0.7 * before["eval_fcd_loss"], (before, after)
    assert after["eval_fcd_accuracy"] > before["eval_fcd_accuracy"], (before, after)
    train_logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(train_logs) == 4
    for log in train_logs:
        assert {"align_loss", "csd_loss", "fcd_loss", "csd_accuracy", "fcd_accuracy"} <= set(log)
        total = log["align_loss"] + log["csd_loss"] + log["fcd_loss"]
        assert log["loss"] == pytest.approx(total, rel=1e-4)


def test_clip_objective_logs_no_counterfactual_terms(tmp_path, corpus):
    model, processor = tiny_clip()
    trainer = CounterfactualTrainer(
        model=model, args=config(tmp_path, objective="clip", max_steps=4, logging_steps=2),
        train_dataset=corpus["train"], processing_class=processor,
    )
    trainer.train()
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(logs) == 2
    for log in logs:
        assert "align_loss" in log and log["loss"] == pytest.approx(log["align_loss"], rel=1e-5)
        assert not {"csd_loss", "fcd_loss", "csd_accuracy", "fcd_accuracy"} & set(log)
    batch = trainer.data_collator(corpus["train"][:8])
    assert batch["pixel_values"].shape[0] == 8, "the baseline must not embed counterfactual images"


def test_negclip_adds_caption_negatives(tmp_path, corpus):
    model, processor = tiny_clip()
    args = config(tmp_path, objective="negclip")
    trainer = CounterfactualTrainer(model=model, args=args, processing_class=processor)
    batch = trainer.data_collator(corpus["train"][:4])
    assert batch["pixel_values"].shape[0] == 4
    assert batch["input_ids"].shape[0] == 4 + 4 * 2 + 4 * 1  # anchors, cf captions, edit captions
    model.eval()
    with torch.no_grad():
        negclip = trainer.compute_loss(model, batch).item()
        plain = CounterfactualTrainer(model=model, args=config(tmp_path, objective="clip"), processing_class=processor)
        clip = plain.compute_loss(model, plain.data_collator(corpus["train"][:4])).item()
    assert negclip > clip


@pytest.mark.parametrize("pairing", ["cross", "symmetric"])
def test_scenario_pairing_reaches_the_loss(tmp_path, corpus, pairing):
    from cf_vlm_hf.losses import cross_scenario_discrimination_loss, symmetric_scenario_discrimination_loss

    model, processor = tiny_clip()
    model.eval()
    args = config(tmp_path, scenario_pairing=pairing, align_weight=0.0, fcd_weight=0.0, csd_weight=1.0)
    trainer = CounterfactualTrainer(model=model, args=args, processing_class=processor)
    batch = trainer.data_collator(corpus["train"][:6])
    with torch.no_grad():
        loss, scores = trainer.compute_loss(model, batch, return_outputs=True)
    assert scores.cf_mask.sum() == 12
    crossed = (scores.anchor_image_cf_text, scores.cf_image_anchor_text, scores.cf_mask, 0.25)
    if pairing == "cross":
        want = cross_scenario_discrimination_loss(scores.anchor, *crossed)
    else:
        want = symmetric_scenario_discrimination_loss(scores.anchor, scores.cf, *crossed)
    assert loss.item() == pytest.approx(want.item(), abs=1e-7)


def aligned_loss_and_embeddings(tmp_path, rows, **overrides):
    """L_align alone on ``rows`` under ``overrides``, and the batch's normalised image and text embeddings."""
    model, processor = tiny_clip()
    model.eval()
    args = config(tmp_path, csd_weight=0.0, fcd_weight=0.0, **overrides)
    trainer = CounterfactualTrainer(model=model, args=args, processing_class=processor)
    batch = trainer.data_collator(rows)
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch).item()
        out = model(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "pixel_values")})
    images = torch.nn.functional.normalize(out.image_embeds, dim=-1)
    texts = torch.nn.functional.normalize(out.text_embeds, dim=-1)
    return model, processor, batch, loss, images, texts


@pytest.mark.parametrize("masked", [False, True])
def test_align_counterfactuals_adds_the_counterfactual_pairs_to_the_alignment_loss(tmp_path, corpus, masked):
    from cf_vlm_hf.losses import alignment_loss

    rows = corpus["train"][:4]
    model, processor, batch, loss, images, texts = aligned_loss_and_embeddings(
        tmp_path, rows, align_counterfactuals=True, mask_duplicate_captions=masked
    )
    # reference: the anchors, then each row's counterfactual pairs in row order, as plain (image, caption) pairs
    image_rows, text_rows, captions = list(range(4)), list(range(4)), [row["caption"] for row in rows]
    for b, row in enumerate(rows):
        for k, cf_caption in enumerate(row["cf_captions"]):
            image_rows.append(int(batch["cf_image_index"][b, k]))
            text_rows.append(int(batch["cf_text_index"][b, k]))
            captions.append(cf_caption)
    assert len(image_rows) == 4 + 4 * 2
    groups = None
    if masked:
        ids = {c: i for i, c in enumerate(dict.fromkeys(captions))}
        groups = torch.tensor([ids[c] for c in captions])
    want = alignment_loss(images[image_rows], texts[text_rows], model.logit_scale.exp(), caption_groups=groups)
    assert loss == pytest.approx(want.item(), abs=1e-6)
    anchors_only = alignment_loss(images[:4], texts[:4], model.logit_scale.exp())
    assert abs(loss - anchors_only.item()) > 1e-3


def test_align_edits_adds_each_edit_with_its_own_caption(tmp_path, corpus):
    from cf_vlm_hf.losses import alignment_loss

    rows = corpus["train"][:4]
    model, processor, batch, loss, images, texts = aligned_loss_and_embeddings(
        tmp_path, rows, align_counterfactuals=True, align_edits=True
    )
    image_rows = list(range(4)) + batch["cf_image_index"][batch["cf_mask"]].tolist()
    text_rows = list(range(4)) + batch["cf_text_index"][batch["cf_mask"]].tolist()
    edit_texts = batch["edit_text_index"][batch["edit_mask"]].tolist()
    assert len(edit_texts) == 4 and len(set(edit_texts) | set(text_rows)) == 16, "every text is its own pair"
    decoded = [processor.tokenizer.decode(batch["input_ids"][t], skip_special_tokens=True) for t in edit_texts]
    assert decoded == [row["edit_captions"][0] for row in rows]
    image_rows += batch["edit_image_index"][batch["edit_mask"]].tolist()
    text_rows += edit_texts
    want = alignment_loss(images[image_rows], texts[text_rows], model.logit_scale.exp())
    assert loss == pytest.approx(want.item(), abs=1e-6)


def test_align_edits_needs_edit_captions(tmp_path, corpus):
    model, processor = tiny_clip()
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, align_edits=True), processing_class=processor)
    rows = [dict(row) for row in corpus["train"][:3]]
    rows[1].pop("edit_captions")
    with pytest.raises(ValueError, match=r"row row-1 has minimal edits but no 'edit_captions'"):
        trainer.data_collator(rows)


def test_align_counterfactuals_is_ignored_by_the_baseline(tmp_path, corpus):
    model, processor = tiny_clip()
    model.eval()
    rows = corpus["train"][:4]
    losses = []
    for align_counterfactuals in (False, True):
        args = config(tmp_path, objective="clip", align_counterfactuals=align_counterfactuals)
        trainer = CounterfactualTrainer(model=model, args=args, processing_class=processor)
        with torch.no_grad():
            losses.append(trainer.compute_loss(model, trainer.data_collator(rows)).item())
    assert losses[0] == losses[1]


@pytest.mark.parametrize("masked", [False, True])
def test_mask_duplicate_captions_reaches_the_alignment_loss(tmp_path, corpus, masked):
    from cf_vlm_hf.losses import alignment_loss

    model, processor = tiny_clip()
    model.eval()
    args = config(tmp_path, objective="clip", mask_duplicate_captions=masked)
    trainer = CounterfactualTrainer(model=model, args=args, processing_class=processor)
    rows = corpus["train"][:8]
    batch = trainer.data_collator(rows)
    groups = batch["caption_groups"]
    assert len(set(groups.tolist())) < 8, "the test corpus repeats captions"
    with torch.no_grad():
        loss, scores = trainer.compute_loss(model, batch, return_outputs=True)
        inputs = scores.alignment_inputs
        plain = alignment_loss(inputs["image_embeds"], inputs["text_embeds"], model.logit_scale.exp())
        deduped = alignment_loss(
            inputs["image_embeds"], inputs["text_embeds"], model.logit_scale.exp(), caption_groups=groups
        )
    assert loss.item() == pytest.approx((deduped if masked else plain).item(), abs=1e-6)
    assert abs(deduped.item() - plain.item()) > 1e-3


def test_fcd_reduction_reaches_the_loss(tmp_path, corpus):
    from cf_vlm_hf.losses import causal_discrimination_loss

    model, processor = tiny_clip()
    model.eval()
    args = config(tmp_path, fcd_reduction="mean", align_weight=0.0, csd_weight=0.0, fcd_weight=1.0, fcd_margin=2.0)
    trainer = CounterfactualTrainer(model=model, args=args, processing_class=processor)
    batch = trainer.data_collator(make_rows(6, seed=3, num_edits=2))
    with torch.no_grad():
        loss, scores = trainer.compute_loss(model, batch, return_outputs=True)
    want = causal_discrimination_loss(scores.anchor, scores.edit, scores.edit_mask, 2.0, reduction="mean")
    hardest = causal_discrimination_loss(scores.anchor, scores.edit, scores.edit_mask, 2.0)
    assert loss.item() == pytest.approx(want.item(), abs=1e-7)
    assert hardest.item() > want.item() + 1e-4


def test_scores_equal_a_forward_per_pair(corpus):
    from cf_vlm_hf.models.dual_encoder import CounterfactualCollator, DualEncoderScorer

    model, processor = tiny_clip()
    model.eval()
    rows = corpus["train"][:3]
    with torch.no_grad():
        scores = DualEncoderScorer().score(model, CounterfactualCollator(processor)(rows))

        def cosine(image, text):
            inputs = processor(text=[text], images=[image], return_tensors="pt", padding=True)
            out = model(**inputs)
            return torch.nn.functional.cosine_similarity(out.image_embeds, out.text_embeds).item()

        for b, row in enumerate(rows):
            assert scores.anchor[b].item() == pytest.approx(cosine(row["image"], row["caption"]), abs=1e-5)
            for k, (image, text) in enumerate(zip(row["cf_images"], row["cf_captions"])):
                assert scores.cf[b, k].item() == pytest.approx(cosine(image, text), abs=1e-5)
                assert scores.anchor_image_cf_text[b, k].item() == pytest.approx(cosine(row["image"], text), abs=1e-5)
            for j, image in enumerate(row["edit_images"]):
                assert scores.edit[b, j].item() == pytest.approx(cosine(image, row["caption"]), abs=1e-5)


def gradients_after_one_step(tmp_path, corpus, **overrides):
    model, processor = tiny_clip(seed=0)
    args = config(tmp_path, max_steps=1, learning_rate=0.0, max_grad_norm=1e9, **overrides)
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=corpus["train"][:8], processing_class=processor)
    grads = {}
    trainer.add_callback(GradientGrabber(model, grads))
    trainer.train()
    return grads


class GradientGrabber:
    """Copies the accumulated gradients just before the optimizer step."""

    def __init__(self, model, store):
        self.model, self.store = model, store

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        for name, param in self.model.named_parameters():
            if param.grad is not None:
                self.store[name] = param.grad.detach().clone()


def test_gradient_accumulation_matches_one_big_batch(tmp_path, corpus):
    # Only the margin losses are per-anchor means, so two half batches accumulate to the full-batch gradient.
    common = dict(align_weight=0.0, dataloader_drop_last=True)
    full = gradients_after_one_step(tmp_path, corpus, per_device_train_batch_size=8, **common)
    accumulated = gradients_after_one_step(
        tmp_path, corpus, per_device_train_batch_size=4, gradient_accumulation_steps=2, **common
    )
    assert full.keys() == accumulated.keys() and len(full) > 10
    for name in full:
        assert torch.allclose(full[name], accumulated[name], atol=1e-6, rtol=1e-4), name


def test_config_validation(tmp_path):
    with pytest.raises(ValueError, match="objective must be one of"):
        config(tmp_path, objective="simclr")
    with pytest.raises(ValueError, match="csd_margin must be a non-negative number, got -0.1"):
        config(tmp_path, csd_margin=-0.1)
    with pytest.raises(ValueError, match="fcd_weight must be a non-negative number, got nan"):
        config(tmp_path, fcd_weight=math.nan)
    with pytest.raises(ValueError, match="every loss weight at zero"):
        config(tmp_path, align_weight=0.0, csd_weight=0.0, fcd_weight=0.0)
    with pytest.raises(ValueError, match="every loss weight at zero"):
        config(tmp_path, objective="clip", align_weight=0.0)
    with pytest.raises(ValueError, match="scenario_pairing must be one of"):
        config(tmp_path, scenario_pairing="diagonal")
    with pytest.raises(ValueError, match="fcd_reduction must be one of"):
        config(tmp_path, fcd_reduction="sum")
    with pytest.raises(ValueError, match="temperature must be positive"):
        config(tmp_path, temperature=0.0)
    assert config(tmp_path).remove_unused_columns is False


def test_every_config_field_has_help():
    from dataclasses import fields

    from transformers import TrainingArguments

    ours = {f.name for f in fields(CounterfactualConfig)} - {f.name for f in fields(TrainingArguments)}
    assert {"objective", "csd_margin", "fcd_margin", "scenario_pairing", "gather_across_devices"} <= ours
    for f in fields(CounterfactualConfig):
        if f.name in ours or f.name == "remove_unused_columns":
            assert f.metadata.get("help"), f.name


def test_trainer_requires_counterfactual_config(tmp_path):
    from transformers import TrainingArguments

    model, processor = tiny_clip()
    with pytest.raises(TypeError, match="args must be a CounterfactualConfig"):
        CounterfactualTrainer(model=model, args=TrainingArguments(str(tmp_path)), processing_class=processor)
    with pytest.raises(ValueError, match="pass `processing_class`"):
        CounterfactualTrainer(model=model, args=config(tmp_path))


def test_non_dual_encoder_is_refused(tmp_path):
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64))
    _, processor = tiny_clip()
    with pytest.raises(ValueError, match="BertModel is not a dual encoder .* nor an image-text-to-text"):
        CounterfactualTrainer(model=model, args=config(tmp_path), processing_class=processor)


def test_batch_without_counterfactuals_gives_exact_zero_terms(tmp_path):
    model, processor = tiny_clip()
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path), processing_class=processor)
    batch = trainer.data_collator(make_rows(4, num_cf=0, num_edits=0))
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    trainer.log({"loss": loss.item()})
    logged = trainer.state.log_history[-1]
    assert logged["csd_loss"] == 0.0 and logged["fcd_loss"] == 0.0
    assert logged["loss"] == pytest.approx(logged["align_loss"], rel=1e-6)
    assert "csd_accuracy" not in logged and "fcd_accuracy" not in logged


def test_negative_captions_train_l_csd_and_are_negclips_hard_negatives(tmp_path):
    rows = make_rows(16, seed=1, num_cf=0, num_edits=1)
    for row in rows:  # a caption with no image of its own: the other shape
        colour, shape = row["caption"].split()[1:]
        row["negative_captions"] = [f"a {colour} {'circle' if shape == 'square' else 'square'}"]
    model, processor = tiny_clip(seed=0)
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, max_steps=2, logging_steps=1),
                                    train_dataset=rows, processing_class=processor)
    trainer.train()
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert all(log["csd_loss"] > 0 and 0 <= log["csd_accuracy"] <= 1 for log in logs)
    model, processor = tiny_clip(seed=0)
    negclip = CounterfactualTrainer(model=model, args=config(tmp_path, objective="negclip"), train_dataset=rows,
                                    processing_class=processor)
    batch = negclip.data_collator(rows[:4])
    with torch.no_grad():
        extra = negclip.scorer.score(model, batch).alignment_inputs["extra_text_embeds"]
    assert extra.shape[0] == 4 + 4  # each row's edit caption and negative caption
