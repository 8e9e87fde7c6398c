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
from .generative_collator import GenerativeCollator
from .losses import (
    causal_discrimination_loss,
    cross_scenario_discrimination_loss,
    scenario_discrimination_loss,
    symmetric_scenario_discrimination_loss,
)
from .scoring import CounterfactualScores, build_scorer, core_model, is_dual_encoder
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
            returns ``image_embeds`` and ``text_embeds``) or a generative VLM (``AutoModelForImageTextToText``:
            LLaVA, Qwen2-VL, Qwen2.5-VL, PaliGemma, Idefics3, ...).
        args: a `CounterfactualConfig`.
        scorer: optional; defaults to the scorer `build_scorer` picks for the model.
        peft_config: optional `peft.PeftConfig` (e.g. ``LoraConfig``): the model is wrapped with
            ``peft.get_peft_model`` (after enabling gradient checkpointing and input gradients when
            ``args.gradient_checkpointing``), so only the adapter trains and checkpoints hold the adapter.
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
        peft_config=None,
        **kwargs,
    ):
        if args is None:
            args = CounterfactualConfig(output_dir="cf-vlm-output")
        if not isinstance(args, CounterfactualConfig):
            raise TypeError(
                f"args must be a CounterfactualConfig (got {type(args).__name__}); it carries the loss weights, margins "
                "and objective"
            )
        if peft_config is not None:
            model = wrap_with_peft(model, peft_config, args)
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
            elif args.scenario_pairing == "symmetric":
                terms["csd"] = symmetric_scenario_discrimination_loss(
                    scores.anchor, scores.cf, scores.anchor_image_cf_text, scores.cf_image_anchor_text, scores.cf_mask,
                    args.csd_margin,
                )
            else:
                terms["csd"] = scenario_discrimination_loss(scores.anchor, scores.cf, scores.cf_mask, args.csd_margin)
        if weights["fcd"] > 0 and scores.edit is not None:
            terms["fcd"] = causal_discrimination_loss(
                scores.anchor, scores.edit, scores.edit_mask, args.fcd_margin, reduction=args.fcd_reduction
            )
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


def wrap_with_peft(model, peft_config, args: CounterfactualConfig):
    """``peft.get_peft_model(model, peft_config)``, prepared for gradient checkpointing as TRL prepares it."""
    try:
        from peft import PeftConfig, PeftModel, get_peft_model
    except ImportError as err:
        raise ImportError("peft_config needs the `peft` package: pip install 'cf-vlm-hf[peft]'") from err
    if not isinstance(peft_config, PeftConfig):
        raise TypeError(
            f"peft_config must be a peft.PeftConfig (e.g. peft.LoraConfig), got {type(peft_config).__name__}"
        )
    if isinstance(model, PeftModel):
        raise ValueError(
            "the model is already a PeftModel and a peft_config was passed too: pass the PeftModel without "
            "peft_config, or merge it first (model.merge_and_unload()) to train a new adapter"
        )
    if args.gradient_checkpointing:  # mirrors args.activation_checkpointing (transformers >= 5.2x)
        kwargs = getattr(args, "activation_checkpointing_kwargs", None) or args.gradient_checkpointing_kwargs
        kwargs = dict(kwargs or {})
        if hasattr(model, "activation_checkpointing_enable"):
            every_n_layers, offload = kwargs.pop("every_n_layers", 1), kwargs.pop("offload", False)
            model.activation_checkpointing_enable(
                activation_checkpointing_kwargs=kwargs or None, every_n_layers=every_n_layers, offload=offload
            )
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs or None)
        # With frozen embeddings, reentrant checkpointed blocks would see inputs without grad and drop the adapter's
        # gradient: make the input embeddings require grad, as TRL does.
        model.enable_input_require_grads()
    return get_peft_model(model, peft_config)


def default_collator(processing_class, args: CounterfactualConfig, model=None):
    """The collator a config implies: only the pieces its objective uses go through the model."""
    from .generative import is_generative_vlm

    if model is not None and not is_dual_encoder(model) and is_generative_vlm(model):
        return generative_collator(processing_class, args, model)
    model_type = getattr(getattr(core_model(model), "config", None), "model_type", "") if model is not None else ""
    # SigLIP was pre-trained on captions padded to the maximum length; its text tower expects that padding.
    padding = "max_length" if model_type.startswith("siglip") else True
    return CounterfactualCollator(
        processing_class,
        max_counterfactuals=args.max_counterfactuals if args.needs_counterfactuals else 0,
        max_edits=args.max_edits if (args.needs_edits or args.objective == "negclip") else 0,
        counterfactual_images=args.objective == "cf-vlm",
        edit_images=args.needs_edits,
        edit_captions="required" if args.objective == "cf-vlm" and args.align_edits else args.objective == "negclip",
        padding=padding,
        seed=args.seed,
    )


def generative_collator(processor, args: CounterfactualConfig, model) -> GenerativeCollator:
    """`GenerativeCollator` for ``model``: the sequences the config's objective scores, within its length limit."""
    max_length = args.generative_max_length
    if max_length is None:
        config = core_model(model).config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        positions = getattr(text_config, "max_position_embeddings", None)
        limit = getattr(getattr(processor, "tokenizer", processor), "model_max_length", None)
        candidates = [v for v in (positions, limit) if v is not None and v < 1e9]
        max_length = int(min(candidates)) if candidates else None
    return GenerativeCollator(
        processor,
        score=args.generative_score,
        caption_prompt=args.caption_prompt,
        yes_question=args.yes_question,
        yes_answer=args.yes_answer,
        max_counterfactuals=args.max_counterfactuals,
        max_edits=args.max_edits,
        counterfactual_pairs=args.objective == "cf-vlm" and args.csd_weight > 0,
        cross_pairs=args.objective == "cf-vlm" and args.csd_weight > 0 and args.scenario_pairing != "paper",
        edits=args.needs_edits,
        alignment=args.loss_weights["align"] > 0,
        max_sequences_per_forward=args.max_sequences_per_forward,
        max_length=max_length,
        seed=args.seed,
    )
