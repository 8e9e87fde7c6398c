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

from .config import CounterfactualConfig
from .evaluation.training import as_benchmark_suite
from .models import build_collator, build_scorer
from .objective import METRICS, Objective
from .parallel.distributed import uses_deepspeed
from .parallel.zero import check_zero3_gathers_weights, promote_scalar_parameters, restore_scalar_shapes


class CounterfactualTrainer(Trainer):
    """Trainer for CF-VLM fine-tuning.

    Args:
        model: a dual encoder (CLIPModel, SiglipModel, VisionTextDualEncoderModel, or any model whose forward
            returns ``image_embeds`` and ``text_embeds``) or a generative VLM (``AutoModelForImageTextToText``:
            LLaVA, Qwen2-VL, Qwen2.5-VL, PaliGemma, Idefics3, ...).
        args: a `CounterfactualConfig`.
        scorer: optional; defaults to the scorer of the model's family (`cf_vlm_hf.models.build_scorer`).
        benchmarks: optional benchmark tasks scored at each evaluation and logged as ``eval_<task>/<metric>``: a
            `cf_vlm_hf.evaluation.BenchmarkSuite`, task names ("sugarcrepe=/data/sugarcrepe"), or any callable
            ``(model, processor, prefix) -> metrics``. With benchmarks no ``eval_dataset`` is needed.
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
        benchmarks=None,
        **kwargs,
    ):
        if args is None:
            args = CounterfactualConfig(output_dir="cf-vlm-output")
        if not isinstance(args, CounterfactualConfig):
            raise TypeError(
                f"args must be a CounterfactualConfig (got {type(args).__name__}); it carries the loss weights, margins "
                "and objective"
            )
        objective = Objective(args)
        if peft_config is not None:
            model = wrap_with_peft(model, peft_config, args)
        if data_collator is None:
            if processing_class is None:
                raise ValueError("pass `processing_class` (the model's processor) or a `data_collator`")
            data_collator = build_collator(processing_class, model, args, objective.plan)
        if model is not None and uses_deepspeed(args):
            promote_scalar_parameters(model)  # DeepSpeed cannot shard 0-dim parameters (CLIP's logit_scale)
        self.benchmarks = as_benchmark_suite(benchmarks)
        strategy = args.eval_strategy
        if self.benchmarks is not None and eval_dataset is None:
            args.eval_strategy = "no"  # Trainer refuses an eval_strategy without eval_dataset: benchmarks suffice
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            **kwargs,
        )
        args.eval_strategy = strategy
        self.model_accepts_loss_kwargs = False
        if self.is_deepspeed_enabled:
            source = args.deepspeed if isinstance(args.deepspeed, str) else None
            check_zero3_gathers_weights(self.accelerator, source or os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE"))
        self.objective = objective
        self.scorer = scorer if scorer is not None else build_scorer(self.model, args, objective.plan)
        self._metric_sums = {mode: defaultdict(float) for mode in ("train", "eval")}
        self._metric_counts = {mode: defaultdict(int) for mode in ("train", "eval")}

    def compute_loss(self, model, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch=None):
        """Weighted sum of L_align, L_csd and L_fcd on one batch (`cf_vlm_hf.objective`)."""
        scores = self.scorer.score(model, inputs)
        out = self.objective(scores, self.scorer)
        mode = "train" if model.training else "eval"
        for name, value in out.terms.items():
            self._record(mode, f"{name}_loss", value.item(), 1)
        for name, (correct, count) in out.accuracies.items():
            self._record(mode, name, correct, count)
        return (out.loss, scores) if return_outputs else out.loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Evaluation computes the same loss (and records the same metrics) without gradients."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Trainer's evaluation of the eval dataset(s), then the ``benchmarks`` (logged as ``eval_<task>/<metric>``)."""
        nested = getattr(self, "_evaluating", False)  # Trainer calls evaluate() again per dataset of a dict
        self._evaluating = True
        try:
            has_data = eval_dataset is not None or self.eval_dataset is not None
            metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix) if has_data else {}
        finally:
            self._evaluating = nested
        if nested or self.benchmarks is None:
            return metrics
        scores = self.benchmarks(self.model, self.processing_class, prefix=metric_key_prefix)
        self.log(dict(scores))
        metrics.update(scores)
        if not has_data:  # Trainer.evaluate did not run: the callbacks still hear of it (and reset should_evaluate)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

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
