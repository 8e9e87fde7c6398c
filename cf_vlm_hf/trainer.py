"""`CounterfactualTrainer`: a `transformers.Trainer` whose loss is the CF-VLM objective.

Drop-in: swap ``Trainer`` for ``CounterfactualTrainer`` and ``TrainingArguments`` for ``CounterfactualConfig``;
the collator is built from ``processing_class`` when none is given. Each step logs the loss components
(``align_loss``, ``csd_loss``, ``fcd_loss``) and the two discrimination accuracies; evaluation logs the same with
the ``eval_`` prefix. What it refuses, and why, is `cf_vlm_hf.safeguards`; how checkpoints stay resumable,
`cf_vlm_hf.checkpoints`.
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from typing import Any

import torch
from transformers import Trainer

from . import checkpoints, safeguards
from .config import CounterfactualConfig
from .data import IndexedRows
from .evaluation.training import as_benchmark_suite
from .models import build_collator, build_scorer
from .models.loading import wrap_with_peft
from .objective import METRICS, Objective
from .parallel.distributed import uses_deepspeed
from .parallel.zero import check_zero3_gathers_weights, promote_scalar_parameters, restore_scalar_shapes
from .trainer_data import EpochToRows, rows_for_training

logger = logging.getLogger(__name__)

# Counted, not averaged: summed over processes since the start of training and logged as totals.
COUNTERS = ("truncated_captions", "skipped_steps")


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
            ``(model, processor, prefix) -> metrics``. With benchmarks no ``eval_dataset`` is needed; with
            ``load_best_model_at_end`` and no ``metric_for_best_model`` of the user's, their primary metric selects the
            best checkpoint (`BenchmarkSuite.metric_for_best_model`).
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
        corpus_name: str | None = None,
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
        if args.push_to_hub:  # before Trainer creates the repo (and before any training time is spent)
            from .hub import check_hub_access

            check_hub_access(args.hub_token, then=f"train without push_to_hub and push the saved folder later with "
                             f"`cf-vlm push {args.output_dir} --repo-id {args.hub_model_id or 'NAME'}`")
        if peft_config is not None:
            model = wrap_with_peft(model, peft_config, args)
        self._custom_collator = data_collator is not None
        if data_collator is None:
            if processing_class is None:
                raise ValueError("pass `processing_class` (the model's processor) or a `data_collator`")
            safeguards.check_processing_class(processing_class)
            data_collator = build_collator(processing_class, model, args, objective.plan)
        if args.on_nonfinite == "skip" and uses_deepspeed(args):
            raise ValueError("on_nonfinite='skip' is not supported under DeepSpeed (its optimizer owns the gradients); "
                             "use on_nonfinite='raise'")
        for name, dataset in (("training corpus", train_dataset), ("evaluation corpus", eval_dataset)):
            if not isinstance(dataset, dict):
                safeguards.check_corpus(dataset, objective.weights, args.objective, name)
        if model is not None and uses_deepspeed(args):
            promote_scalar_parameters(model)  # DeepSpeed cannot shard 0-dim parameters (CLIP's logit_scale)
        self.benchmarks = as_benchmark_suite(benchmarks)
        best = getattr(self.benchmarks, "metric_for_best_model", None)
        if best and eval_dataset is None and args.load_best_model_at_end and args.metric_for_best_model == "loss":
            # TrainingArguments defaults to the eval loss, which benchmarks alone do not give: select on their primary
            args.metric_for_best_model, args.greater_is_better = best, self.benchmarks.greater_is_better
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
        self.corpus_name = corpus_name  # the training corpus's id or path, for the model card
        self.latest_eval_metrics: dict[str, float] = {}
        self.scorer = scorer if scorer is not None else build_scorer(self.model, args, objective.plan)
        self._metric_sums = {mode: defaultdict(float) for mode in ("train", "eval")}
        self._metric_counts = {mode: defaultdict(int) for mode in ("train", "eval")}
        self._counters = defaultdict(float)
        self._batch_checked = False
        self._skip_step = False
        self._steps_in_window = self._skipped_in_window = 0
        self._last_rows: list[str] = []
        self._epochs = EpochToRows()
        self.add_callback(self._epochs)

    def compute_loss(self, model, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch=None):
        """Weighted sum of L_align, L_csd and L_fcd on one batch (`cf_vlm_hf.objective`)."""
        if not self._batch_checked:
            safeguards.check_batch(inputs, self.data_collator)
            self._batch_checked = True
        self._last_rows = inputs.get("row_ids") or []
        truncated = inputs.get("truncated_captions")
        if truncated is not None and model.training:
            self._counters["truncated_captions"] += float(truncated)
        scores = self.scorer.score(model, inputs)
        out = self.objective(scores, self.scorer)
        mode = "train" if model.training else "eval"
        if model.training and not torch.isfinite(out.loss.detach()):
            if self.args.on_nonfinite == "raise":
                raise safeguards.NonFiniteLossError(
                    safeguards.nonfinite_message(self.state.global_step + 1, out.terms, self._last_rows)
                )
            # Skip: a NaN value (Trainer's logging_nan_inf_filter keeps it out of the logged loss) whose gradient
            # is an exact zero for every trainable parameter, so every rank still runs the same backward.
            self._skip_step = True
            zero = sum((p.sum() * 0.0 for p in model.parameters() if p.requires_grad), out.loss.new_zeros(()))
            out.loss = zero + out.loss.detach()
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

    def train(self, resume_from_checkpoint=None, trial=None, ignore_keys_for_eval=None, **kwargs):
        """Trainer's ``train``, resuming only from complete checkpoints (``True`` / ``"last"``: the newest one) and
        refusing a fresh run over another run's checkpoints (unless ``overwrite_output_dir``)."""
        resume = checkpoints.resolve_resume(resume_from_checkpoint, self.args.output_dir)
        if resume is None and self.args.should_save:
            checkpoints.check_fresh_output_dir(self.args.output_dir, self.args.overwrite_output_dir)
        safeguards.check_trainable(self.model)
        return super().train(resume_from_checkpoint=resume, trial=trial, ignore_keys_for_eval=ignore_keys_for_eval,
                             **kwargs)

    def get_train_dataloader(self):
        """Trainer's dataloader over rows that carry their dataset index and the epoch (`cf_vlm_hf.trainer_data`)."""
        original = self.train_dataset
        self.train_dataset = rows_for_training(original)
        self._epochs.rows = self.train_dataset if isinstance(self.train_dataset, IndexedRows) else None
        try:
            return super().get_train_dataloader()
        finally:
            self.train_dataset = original

    def get_eval_dataloader(self, eval_dataset=None):
        """Trainer's dataloader over rows that carry their dataset index (errors name the dataset row)."""
        if isinstance(eval_dataset, str):
            eval_dataset = self.eval_dataset[eval_dataset]
        return super().get_eval_dataloader(rows_for_training(eval_dataset if eval_dataset is not None
                                                             else self.eval_dataset))

    def _get_grad_norm(self, model, grad_norm=None):
        """Trainer's gradient norm; a non-finite one (or a skipped loss) stops or skips the optimizer step."""
        grad_norm = super()._get_grad_norm(model, grad_norm=grad_norm)
        value = float(grad_norm) if grad_norm is not None else 0.0
        flag = torch.tensor([float(self._skip_step or not math.isfinite(value))], device=self.accelerator.device)
        if self.accelerator.reduce(flag, reduction="sum").item() > 0:  # every rank skips together
            if self.args.on_nonfinite == "raise":
                raise safeguards.NonFiniteLossError(safeguards.nonfinite_message(
                    self.state.global_step + 1, {}, self._last_rows, what=f"gradient norm ({value:g})"))
            for param in model.parameters():
                param.grad = None  # torch optimizers skip parameters without a gradient
            self._counters["skipped_steps"] += 1.0 / self.accelerator.num_processes
            self._skipped_in_window += 1
            self._skip_step = False
        self._steps_in_window += 1
        return grad_norm

    def _save_checkpoint(self, model, trial):
        """Trainer's checkpoint, then its completion marker, written last (`cf_vlm_hf.checkpoints`)."""
        super()._save_checkpoint(model, trial)
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
            checkpoints.mark_complete(folder, self.state.global_step)
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Trainer's evaluation of the eval dataset(s), then the ``benchmarks`` (logged as ``eval_<task>/<metric>``);
        the metrics are kept for the model card (`latest_eval_metrics`)."""
        nested = getattr(self, "_evaluating", False)  # Trainer calls evaluate() again per dataset of a dict
        self._evaluating = True
        try:
            has_data = eval_dataset is not None or self.eval_dataset is not None
            metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix) if has_data else {}
        finally:
            self._evaluating = nested
        if nested:
            return metrics
        if self.benchmarks is not None:
            scores = self.benchmarks(self.model, self.processing_class, prefix=metric_key_prefix)
            self.log(dict(scores))
            metrics.update(scores)
            if not has_data:  # Trainer.evaluate did not run: the callbacks still hear of it (and reset should_evaluate)
                self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        self.latest_eval_metrics = dict(metrics)  # for the model card
        return metrics

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Trainer's save (parameters promoted for DeepSpeed back at shape () on disk), then the model card."""
        super()._save(output_dir, state_dict=restore_scalar_shapes(state_dict, self.model))
        self.write_model_card(output_dir or self.args.output_dir)

    def write_model_card(self, folder: str, model_name: str | None = None, dataset_name: str | None = None,
                         tags: list[str] | None = None, license: str | None = None) -> str | None:
        """Write the CF-VLM model card to ``folder``/README.md (main process only); return its path.

        A card that cannot be rendered (e.g. a broken custom template) is a warning, never a lost checkpoint.
        """
        if not self.is_world_process_zero():
            return None
        from .hub import card_info_from_trainer, model_card

        try:
            info = card_info_from_trainer(self, model_name, dataset_name, tags, license)
            repo_id = self.hub_model_id or self.args.hub_model_id
            card = model_card(info, self.args.model_card_template, repo_id=repo_id)
        except Exception as err:  # noqa: BLE001 -- the checkpoint itself is already saved
            logger.warning("could not write the model card to %s: %s", folder, err)
            return None
        path = os.path.join(folder, "README.md")
        card.save(path)
        return path

    def create_model_card(self, model_name: str | None = None, license: str | None = None, tags=None,
                          dataset_name: str | None = None, **kwargs) -> None:
        """The CF-VLM card in ``output_dir`` (what `push_to_hub` uploads), instead of Trainer's generic card."""
        self.write_model_card(self.args.output_dir, model_name=model_name, dataset_name=dataset_name,
                              tags=[tags] if isinstance(tags, str) else tags, license=license)

    def push_to_hub(self, commit_message: str | None = "End of training", blocking: bool = True, **kwargs):
        """Trainer's ``push_to_hub``; a failed push says where the complete local copy is and how to push it later."""
        from huggingface_hub.utils import httpx as hub_httpx

        from .hub import HubUnavailableError

        try:
            return super().push_to_hub(commit_message=commit_message, blocking=blocking, **kwargs)
        except (OSError, hub_httpx.HTTPError) as err:
            repo = self.hub_model_id or self.args.hub_model_id or "NAME"
            raise HubUnavailableError(
                f"the push to the Hub failed ({type(err).__name__}: {str(err).splitlines()[0][:160]}); the model is "
                f"saved, complete, in {self.args.output_dir}: push it later with `cf-vlm push {self.args.output_dir} "
                f"--repo-id {repo}`"
            ) from err

    def _record(self, mode: str, name: str, total: float, count: int) -> None:
        self._metric_sums[mode][name] += total
        self._metric_counts[mode][name] += count

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the buffered CF-VLM metrics (averaged since the last log, over all processes) to ``logs``."""
        mode = "eval" if any(key.startswith("eval_") for key in logs) else "train"
        sums, counts = self._metric_sums[mode], self._metric_counts[mode]
        # Every rank reduces the same fixed list of metrics, so the collective never mismatches.
        local = [[sums[name], counts[name]] for name in METRICS] + [[self._counters[name], 1.0] for name in COUNTERS]
        local = torch.tensor(local, dtype=torch.float32)
        reduced = self.accelerator.reduce(local.to(self.accelerator.device), reduction="sum").cpu().tolist()
        prefix = "eval_" if mode == "eval" else ""
        for name, (total, count) in zip(METRICS, reduced):
            if count > 0:
                logs[prefix + name] = total / count
        if mode == "train":
            for name, (total, _) in zip(COUNTERS, reduced[len(METRICS):]):
                if total > 0:
                    logs[name] = round(total)
            if "loss" in logs and self._steps_in_window and self._skipped_in_window == self._steps_in_window:
                logs["loss"] = math.nan  # every step since the last log was skipped: no loss to show (never 0.0)
            if "loss" in logs:
                self._steps_in_window = self._skipped_in_window = 0
        sums.clear()
        counts.clear()
        super().log(logs, start_time)
