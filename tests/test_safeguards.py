"""What CounterfactualTrainer refuses, and what a NaN does: every refusal names what to do instead."""

import math
import os

import pytest
import torch
from testing_utils import make_rows, tiny_clip

from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer
from cf_vlm_hf.models.dual_encoder import DualEncoderScorer
from cf_vlm_hf.safeguards import NonFiniteLossError


def config(tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, learning_rate=1e-3, max_steps=2,
                  logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, seed=0)
    values.update(overrides)
    return CounterfactualConfig(**values)


def plain_rows(n=8):
    return [{"image": row["image"], "caption": row["caption"]} for row in make_rows(n)]


def test_a_custom_collator_without_counterfactual_fields_is_refused_naming_the_right_one(tmp_path):
    model, processor = tiny_clip()

    def collate(rows):  # a plain CLIP collate function, as in a Trainer script
        return dict(processor(text=[r["caption"] for r in rows], images=[r["image"] for r in rows],
                              return_tensors="pt", padding=True), return_loss=True)

    trainer = CounterfactualTrainer(model=model, args=config(tmp_path), train_dataset=make_rows(8),
                                    data_collator=collate, processing_class=processor)
    with pytest.raises(ValueError, match=r"data_collator=function lack \['cf_mask', 'edit_mask'\].*"
                                         r"CounterfactualCollator"):
        trainer.train()


def test_a_corpus_without_counterfactuals_is_refused_under_cf_vlm(tmp_path):
    model, processor = tiny_clip()
    with pytest.raises(ValueError, match=r"training corpus \(8 rows\) has none.*objective='clip'"):
        CounterfactualTrainer(model=model, args=config(tmp_path), train_dataset=plain_rows(),
                              processing_class=processor)
    CounterfactualTrainer(model=model, args=config(tmp_path, objective="clip"), train_dataset=plain_rows(),
                          processing_class=processor)  # plain fine-tuning on purpose is fine
    from datasets import Dataset, Image

    arrow = Dataset.from_list(plain_rows()).cast_column("image", Image())
    with pytest.raises(ValueError, match="has none"):
        CounterfactualTrainer(model=model, args=config(tmp_path), train_dataset=arrow, processing_class=processor)
    with pytest.warns(UserWarning, match="no edits: L_fcd stays 0"):
        CounterfactualTrainer(model=model, args=config(tmp_path), train_dataset=make_rows(4, num_edits=0),
                              processing_class=processor)


def test_an_empty_corpus_says_where_its_rows_went(tmp_path):
    model, processor = tiny_clip()
    with pytest.raises(ValueError, match="has no rows.*on_error='skip'.*rejected_path"):
        CounterfactualTrainer(model=model, args=config(tmp_path), train_dataset=[], processing_class=processor)


def test_a_bare_tokenizer_or_image_processor_is_refused(tmp_path):
    model, processor = tiny_clip()
    for part, kind in ((processor.tokenizer, "tokenizer"), (processor.image_processor, "image processor")):
        with pytest.raises(ValueError, match=f"processing_class is a {kind} .*AutoProcessor.from_pretrained"):
            CounterfactualTrainer(model=model, args=config(tmp_path), train_dataset=make_rows(4), processing_class=part)


def test_nothing_to_train_and_non_finite_parameters_are_refused(tmp_path):
    model, processor = tiny_clip()
    for param in model.parameters():
        param.requires_grad_(False)
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path), train_dataset=make_rows(4),
                                    processing_class=processor)
    with pytest.raises(ValueError, match="nothing to train: every parameter of CLIPModel is frozen"):
        trainer.train()
    model, processor = tiny_clip()
    with torch.no_grad():
        model.text_projection.weight[0, 0] = math.nan
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path), train_dataset=make_rows(4),
                                    processing_class=processor)
    with pytest.raises(ValueError, match="not finite before training: text_projection.weight"):
        trainer.train()


@pytest.mark.parametrize("temperature, message", [(1e-9, "logit scale of 1e"), (math.inf, "positive and finite"),
                                                  (math.nan, "positive and finite")])
def test_absurd_temperatures_are_refused(tmp_path, temperature, message):
    with pytest.raises(ValueError, match=message):
        config(tmp_path, temperature=temperature)


def test_zero_batch_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="per_device_train_batch_size must be >= 1, got 0"):
        config(tmp_path, per_device_train_batch_size=0)


class PoisonedScorer(DualEncoderScorer):
    """NaN scores for any batch that holds the row with id ``poison``."""

    def __init__(self, poison):
        super().__init__()
        self.poison = poison

    def score(self, model, batch):
        scores = super().score(model, batch)
        if any(f"(id {self.poison!r})" in label for label in batch["row_ids"]):
            scores.anchor = scores.anchor * math.nan
        return scores


def test_a_nan_batch_raises_naming_the_step_and_its_rows(tmp_path):
    model, processor = tiny_clip()
    rows = make_rows(8)
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, max_steps=1, per_device_train_batch_size=8),
                                    train_dataset=rows, processing_class=processor, scorer=PoisonedScorer("row-5"))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at global step 1 \(align_loss=.*, csd_loss=nan, "
                                                 r"fcd_loss=nan\) on the batch of rows \[.*5 \(id 'row-5'\)"):
        trainer.train()
    assert all(torch.equal(before[name], p) for name, p in model.named_parameters())


def test_a_skipped_nan_step_leaves_the_weights_unchanged_and_is_counted(tmp_path):
    model, processor = tiny_clip()
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, max_steps=1, on_nonfinite="skip",
                                                             per_device_train_batch_size=8),
                                    train_dataset=make_rows(8), processing_class=processor,
                                    scorer=PoisonedScorer("row-5"))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer.train()
    assert all(torch.equal(before[name], p) for name, p in model.named_parameters())
    logged = [log for log in trainer.state.log_history if "skipped_steps" in log]
    assert logged and logged[0]["skipped_steps"] == 1
    assert math.isnan(logged[0]["loss"])  # a skipped step's loss is never shown as 0.0


def test_a_nan_gradient_raises(tmp_path):
    model, processor = tiny_clip()
    model.visual_projection.weight.register_hook(lambda grad: grad * math.nan)
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, max_steps=1), train_dataset=make_rows(8),
                                    processing_class=processor)
    with pytest.raises(NonFiniteLossError, match=r"non-finite gradient norm \(nan\) at global step 1"):
        trainer.train()


def test_collator_errors_name_the_dataset_row(tmp_path):
    model, processor = tiny_clip()
    rows = make_rows(8)
    rows[6]["cf_captions"] = ["   ", rows[6]["cf_captions"][1]]
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, max_steps=2, per_device_train_batch_size=8),
                                    train_dataset=rows, processing_class=processor)
    with pytest.raises(ValueError, match=r"row 6 \(id 'row-6'\), field 'cf_captions\[0\]': text is empty"):
        trainer.train()


def test_truncation_is_counted_and_a_truncated_duplicate_is_named(tmp_path):
    model, processor = tiny_clip()  # its tokenizer keeps 16 tokens
    rows = make_rows(4)
    long = " ".join(["a red circle to the left of"] * 3)
    rows[1]["caption"] = long + " a blue square"
    rows[1]["cf_captions"] = [long + " a green square", rows[1]["cf_captions"][1]]
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, max_steps=1), train_dataset=rows,
                                    processing_class=processor)
    with pytest.raises(ValueError, match=r"row 1 \(id 'row-1'\), field 'cf_captions\[0\]': .* is token-identical to "
                                         r"the anchor caption .* after the tokenizer's truncation to 16 tokens"):
        trainer.train()
    rows[1]["cf_captions"][0] = "a green square"
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, max_steps=1), train_dataset=rows,
                                    processing_class=processor)
    trainer.train()
    steps = [log for log in trainer.state.log_history if "loss" in log]
    assert [log.get("truncated_captions") for log in steps] == [1]  # the long anchor caption, cut once


def test_a_fresh_run_over_another_runs_checkpoints_is_refused(tmp_path):
    model, processor = tiny_clip()
    args = config(tmp_path, save_strategy="steps", save_steps=1, max_steps=1)
    CounterfactualTrainer(model=model, args=args, train_dataset=make_rows(4), processing_class=processor).train()
    assert os.path.isdir(tmp_path / "out" / "checkpoint-1")
    again = CounterfactualTrainer(model=model, args=args, train_dataset=make_rows(4), processing_class=processor)
    with pytest.raises(ValueError, match=r"holds checkpoints of another run \(checkpoint-1\): pass "
                                         r"resume_from_checkpoint='last'"):
        again.train()
    again.args.overwrite_output_dir = True
    again.train()
    with pytest.raises(ValueError, match="holds no complete checkpoint"):
        CounterfactualTrainer(model=model, args=config(tmp_path / "empty"), train_dataset=make_rows(4),
                              processing_class=processor).train(resume_from_checkpoint="last")


def test_a_caption_the_tokenizer_cannot_tell_from_its_anchor_is_named(tmp_path):
    model, processor = tiny_clip()  # a word-level vocabulary: "crimson" and "scarlet" are both [UNK]
    rows = make_rows(4)
    rows[2]["caption"] = "a crimson circle"
    rows[2]["cf_captions"] = ["a scarlet circle", rows[2]["cf_captions"][1]]
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, max_steps=1), train_dataset=rows,
                                    processing_class=processor)
    with pytest.raises(ValueError, match=r"row 2 \(id 'row-2'\), field 'cf_captions\[0\]': .* as the tokenizer "
                                         r"encodes them \(words it does not know become the same unknown token\)"):
        trainer.train()
