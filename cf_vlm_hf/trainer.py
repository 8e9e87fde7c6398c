"""`CounterfactualTrainer`: a `transformers.Trainer` whose loss is the CF-VLM objective.

Drop-in: swap ``Trainer`` for ``CounterfactualTrainer`` and ``TrainingArguments`` for ``CounterfactualConfig``;
the collator is built from ``processing_class`` when none is given. Each step logs the loss components
(``align_loss``, ``csd_loss``, ``fcd_loss``) and the two discrimination accuracies; evaluation logs the same with
the ``eval_`` prefix.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import torch
from transformers import Trainer

from .collator import CounterfactualCollator
from .config import CounterfactualConfig
from .distributed import global_mean_weight, uses_deepspeed
from .losses import (
    causal_discrimination_loss,
    cross_scenario_discrimination_loss,
    scenario_discrimination_loss,
)
from .scoring import CounterfactualScores, build_scorer, core_model
from .zero import check_zero3_gathers_weights, promote_scalar_parameters, restore_scalar_shapes

# Logged metrics: losses are averaged over steps, accuracies over items (anchor-counterfactual pairs, anchors).
METRICS = ("align_loss", "csd_loss", "fcd_loss", "csd_accuracy", "fcd_accuracy")


def discrimination_accuracies(scores: CounterfactualScores) -> dict[str, tuple[float, int]]:
    """(number correct, number of items) per accuracy, from detached scores.

    csd: each valid (anchor, k) with S(I,T) > S(I'_k,T'_k); fcd: each anchor with edits whose S(I,T) beats every
    S(E_j,T).
    """
    out = {}
    anchor = scores.anchor.detach()
    if scores.cf is not None:
        wins = (anchor.unsqueeze(1) > scores.cf.detach()) & scores.cf_mask
        out["csd_accuracy"] = (wins.sum().item(), int(scores.cf_mask.sum().item()))
    if scores.edit is not None:
        has_edit = scores.edit_mask.any(dim=1)
        hardest = scores.edit.detach().masked_fill(~scores.edit_mask, float("-inf")).max(dim=1).values
        out["fcd_accuracy"] = (((anchor > hardest) & has_edit).sum().item(), int(has_edit.sum().item()))
    return out


class CounterfactualTrainer(Trainer):
    """Trainer for CF-VLM fine-tuning.

    Args:
        model: a dual encoder (CLIPModel, SiglipModel, VisionTextDualEncoderModel, or any model whose forward
            returns ``image_embeds`` and ``text_embeds``).
        args: a `CounterfactualConfig`.
        scorer: optional; defaults to the scorer `build_scorer` picks for the model.
        Every other argument is `transformers.Trainer`'s.
    """

    # The loss is a per-batch mean of our own making: Trainer must divide it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model=None,
        args: CounterfactualConfig | None = None,
        data_collator=None,
        train_dataset=None,
        eval_dataset=None,
        processing_class=None,
        scorer=None,
        **kwargs,
    ):
        if args is None:
            args = CounterfactualConfig(output_dir="cf-vlm-output")
        if not isinstance(args, CounterfactualConfig):
            raise TypeError(
                f"args must be a CounterfactualConfig (got {type(args).__name__}); it carries the loss weights, margins "
                "and objective"
            )
        if data_collator is None:
            if processing_class is None:
                raise ValueError("pass `processing_class` (the model's processor) or a `data_collator`")
            data_collator = default_collator(processing_class, args, model)
        if model is not None and uses_deepspeed(args):
            promote_scalar_parameters(model)  # DeepSpeed cannot shard 0-dim parameters (CLIP's logit_scale)
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            **kwargs,
        )
        self.model_accepts_loss_kwargs = False
        if self.is_deepspeed_enabled:
            source = args.deepspeed if isinstance(args.deepspeed, str) else None
            check_zero3_gathers_weights(self.accelerator, source or os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE"))
        self.scorer = scorer if scorer is not None else build_scorer(self.model, args)
        self._metric_sums = {mode: defaultdict(float) for mode in ("train", "eval")}
        self._metric_counts = {mode: defaultdict(int) for mode in ("train", "eval")}

    def compute_loss(self, model, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch=None):
        """Weighted sum of L_align, L_csd and L_fcd on one batch (each term as in `cf_vlm_hf.losses`)."""
        args: CounterfactualConfig = self.args
        weights = args.loss_weights
        scores = self.scorer.score(model, inputs)
        terms = {"align": self.scorer.alignment_loss(scores)}
        if weights["csd"] > 0 and scores.cf is not None:
            if args.scenario_pairing == "cross":
                terms["csd"] = cross_scenario_discrimination_loss(
                    scores.anchor, scores.anchor_image_cf_text, scores.cf_image_anchor_text, scores.cf_mask,
                    args.csd_margin,
                )
            else:
                terms["csd"] = scenario_discrimination_loss(scores.anchor, scores.cf, scores.cf_mask, args.csd_margin)
        if weights["fcd"] > 0 and scores.edit is not None:
            terms["fcd"] = causal_discrimination_loss(scores.anchor, scores.edit, scores.edit_mask, args.fcd_margin)
        # The margin terms average over the anchors that have counterfactuals / edits; re-weight each rank's mean
        # so that DDP's average over ranks is the mean over all such anchors of the global batch.
        # Every rank takes part in the count's all-reduce whenever the config uses the term (a rank whose batch
        # lacks counterfactuals counts 0), so the collectives always match; such a batch contributes an exact
        # zero that still carries a graph, and is logged as one.
        for name, mask in (("csd", scores.cf_mask), ("fcd", scores.edit_mask)):
            if weights[name] > 0:
                valid = 0 if mask is None else int(mask.any(dim=1).sum().item())
                factor = global_mean_weight(valid, scores.anchor.device)
                terms[name] = terms[name] * factor if name in terms else scores.anchor.sum() * 0.0
        loss = sum(weights[name] * value for name, value in terms.items())

        mode = "train" if model.training else "eval"
        for name, value in terms.items():
            self._record(mode, f"{name}_loss", value.item(), 1)
        for name, (correct, count) in discrimination_accuracies(scores).items():
            self._record(mode, name, correct, count)
        return (loss, scores) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Evaluation computes the same loss (and records the same metrics) without gradients."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Trainer's save, with parameters promoted for DeepSpeed back at their original shape () on disk."""
        super()._save(output_dir, state_dict=restore_scalar_shapes(state_dict, self.model))

    def _record(self, mode: str, name: str, total: float, count: int) -> None:
        self._metric_sums[mode][name] += total
        self._metric_counts[mode][name] += count

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the buffered CF-VLM metrics (averaged since the last log, over all processes) to ``logs``."""
        mode = "eval" if any(key.startswith("eval_") for key in logs) else "train"
        sums, counts = self._metric_sums[mode], self._metric_counts[mode]
        # Every rank reduces the same fixed list of metrics, so the collective never mismatches.
        local = torch.tensor([[sums[name], counts[name]] for name in METRICS], dtype=torch.float32)
        reduced = self.accelerator.reduce(local.to(self.accelerator.device), reduction="sum").cpu()
        prefix = "eval_" if mode == "eval" else ""
        for name, (total, count) in zip(METRICS, reduced.tolist()):
            if count > 0:
                logs[prefix + name] = total / count
        sums.clear()
        counts.clear()
        super().log(logs, start_time)


def default_collator(processing_class, args: CounterfactualConfig, model=None) -> CounterfactualCollator:
    """The collator a config implies: only the pieces its objective uses go through the model."""
    model_type = getattr(getattr(core_model(model), "config", None), "model_type", "") if model is not None else ""
    # SigLIP was pre-trained on captions padded to the maximum length; its text tower expects that padding.
    padding = "max_length" if model_type.startswith("siglip") else True
    return CounterfactualCollator(
        processing_class,
        max_counterfactuals=args.max_counterfactuals if args.needs_counterfactuals else 0,
        max_edits=args.max_edits if (args.needs_edits or args.objective == "negclip") else 0,
        counterfactual_images=args.objective == "cf-vlm",
        edit_images=args.needs_edits,
        edit_captions=args.objective == "negclip",
        padding=padding,
        seed=args.seed,
    )
