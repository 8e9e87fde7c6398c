"""`cf-vlm demo`: base model, then plain fine-tuning vs CF-VLM fine-tuning on the same data, then evaluation.

Stages (each cached where it can be):
1. shapes-world corpora: a pre-training pool of plain pairs, the fine-tuning corpus (anchors with K complete
   counterfactuals and M minimal edits), an in-distribution test split and a held-out-combination split;
2. the base model: MiniLM text tower + ViT pre-trained contrastively on the pool (cached by its settings);
3. two fine-tunes from the base, same anchors, order, steps and seed: ``baseline`` (objective "clip") and
   ``cf-vlm``; plus, unless disabled, a baseline given the CF-VLM arm's wall time;
4. evaluation of every model on both test splits, written to results.json / results.md / results.png.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from transformers import TrainerCallback, VisionTextDualEncoderModel, VisionTextDualEncoderProcessor

from ...config import CounterfactualConfig
from ...data.shapes_world import ShapesWorldSpec, shapes_world_dataset
from ...evaluation import evaluate_counterfactual_split
from ...hub import update_card_results
from ...trainer import CounterfactualTrainer
from .model import VisionTowerSpec, build_dual_encoder, freeze_text_layers, tower_optimizer
from .report import write_report
from .settings import DemoSettings, run_settings

logger = logging.getLogger("cf_vlm_hf.demo")
EVAL_SPLITS = ("test", "heldout")
ALL_EDITS = 7  # every applicable edit type of an evaluation anchor


def cache_root(settings: DemoSettings) -> Path:
    if settings.cache_dir:
        return Path(settings.cache_dir)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cf_vlm_hf"


def build_corpora(settings: DemoSettings, config: CounterfactualConfig, cache: Path) -> dict:
    """The four shapes-world datasets of the demo (cached by `datasets` under ``cache``); the fine-tuning corpus
    holds the config's K (``max_counterfactuals``) and M (``max_edits``) per anchor."""
    cache_dir = str(cache / "datasets")
    plain = ShapesWorldSpec(image_size=settings.image_size, num_counterfactuals=0, num_edits=0)
    fine_tuning = ShapesWorldSpec(image_size=settings.image_size, num_counterfactuals=config.max_counterfactuals,
                                  num_edits=config.max_edits)
    evaluation = ShapesWorldSpec(image_size=settings.image_size, num_counterfactuals=0, num_edits=ALL_EDITS)
    return {
        # A different seed from the fine-tuning corpus: the base never sees its scenes.
        "pretrain": shapes_world_dataset(settings.pretrain_anchors, "train", 1000, plain, cache_dir=cache_dir),
        "train": shapes_world_dataset(settings.train_anchors, "train", 0, fine_tuning, cache_dir=cache_dir),
        **{split: shapes_world_dataset(settings.eval_anchors, split, 0, evaluation, cache_dir=cache_dir)
           for split in EVAL_SPLITS},
    }


class StepClock(TrainerCallback):
    """Seconds from the start of training to the end of each optimizer step."""

    def __init__(self):
        self.start, self.step_ends = None, []

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter() - self.start)


def equal_time_steps(step_ends: list[float], wall: float, target_wall: float, least: int) -> int:
    """Steps of an arm timed by ``step_ends`` (its run took ``wall`` s) that fill ``target_wall`` seconds.

    The rate is the steady one (the first tenth of the steps left out: they include warm-up), and what the steady
    steps do not explain (start-up, the first batches) is counted once: a plain ``target_wall / (wall / steps)``
    undershoots by that fixed cost's share.
    """
    skip = len(step_ends) // 10
    if len(step_ends) - skip < 2:
        return max(least, round(target_wall / (wall / max(1, len(step_ends)))))
    rate = (step_ends[-1] - step_ends[skip]) / (len(step_ends) - 1 - skip)
    overhead = max(0.0, wall - rate * len(step_ends))
    return max(least, round((target_wall - overhead) / rate))


def train_arm(model_dir, dataset, out_dir: Path, config: CounterfactualConfig, *, objective: str, steps: int,
              seed: int, batch_size: int, vision_lr: float, text_lr: float, frozen_text_layers: int, model=None,
              processor=None, clock: StepClock | None = None):
    """Fine-tune (or, with ``model`` given, pre-train) one arm; returns (trainer, wall seconds).

    The arm trains with ``config`` (the CF-VLM arm's) given its own output folder, objective, steps, seed, batch
    size and vision learning rate. ``clock``, if given, is added to the trainer's callbacks (it times each step).
    """
    if model is None:
        model = VisionTextDualEncoderModel.from_pretrained(model_dir)
        processor = VisionTextDualEncoderProcessor.from_pretrained(model_dir)
    freeze_text_layers(model, frozen_text_layers)
    args = dataclasses.replace(
        config,
        output_dir=str(out_dir),
        objective=objective,
        per_device_train_batch_size=batch_size,
        max_steps=steps,
        learning_rate=vision_lr,
        warmup_steps=max(1, steps // 10),
        logging_steps=max(1, steps // 15),
        seed=seed,
        data_seed=seed,
    )
    optimizer = tower_optimizer(model, text_lr, vision_lr, args.weight_decay)
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=dataset, processing_class=processor,
                                    optimizers=(optimizer, None), callbacks=None if clock is None else [clock],
                                    corpus_name="shapes-world (generated by cf-vlm demo)")
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    trainer.save_model(str(out_dir))
    return trainer, wall


def base_model(settings: DemoSettings, config: CounterfactualConfig, corpora: dict, cache: Path) -> tuple[Path, dict]:
    """Folder of the pre-trained base (built once per setting), and its pre-training record."""
    # The pool's fingerprint covers the generator's source: a changed generator never reuses a stale base.
    key = settings.key("image_size", "pretrain_anchors", "pretrain_steps", "pretrain_batch_size",
                       "pretrain_vision_lr", "pretrain_frozen_text_layers", extra=corpora["pretrain"]._fingerprint)
    folder = cache / f"base-{key}"
    record_path = folder / "pretraining.json"
    if record_path.exists():
        logger.warning("reusing the cached base model %s", folder)
        return folder, {**json.loads(record_path.read_text()), "cached": True}
    logger.warning("pre-training the base model (cached afterwards in %s)", folder)
    model, processor = build_dual_encoder(VisionTowerSpec(image_size=settings.image_size), seed=0)
    trainer, wall = train_arm(None, corpora["pretrain"], folder, config, objective="clip",
                              steps=settings.pretrain_steps, seed=0, batch_size=settings.pretrain_batch_size,
                              vision_lr=settings.pretrain_vision_lr, text_lr=5e-5,
                              frozen_text_layers=settings.pretrain_frozen_text_layers, model=model, processor=processor)
    record = {"wall_seconds": wall, "steps": settings.pretrain_steps, "log_history": trainer.state.log_history}
    record_path.write_text(json.dumps(record))
    return folder, {**record, "cached": False}


def evaluate_model(folder: Path, corpora: dict, splits=EVAL_SPLITS) -> dict:
    """Scores of the checkpoint in ``folder`` on each of ``splits`` (see `evaluate_counterfactual_split`)."""
    model = VisionTextDualEncoderModel.from_pretrained(folder)
    processor = VisionTextDualEncoderProcessor.from_pretrained(folder)
    return {split: evaluate_counterfactual_split(model, processor, corpora[split], description=f"{folder.name}/{split}")
            for split in splits}


CARD_METRICS = ("mean_image_side", "mean_text_side", "winoground/binding/group", "winoground/relation/group",
                "recall@1")


def card_results(folder: Path, scores: dict) -> None:
    """Put the headline scores of each split into the model card of the checkpoint in ``folder``."""
    if not (folder / "README.md").is_file():
        return
    for split, results in scores.items():
        headline = {name: results[name] for name in CARD_METRICS if name in results}
        update_card_results(folder, headline, dataset_name=f"shapes-world {split}")


def evaluate_base(base_dir: Path, corpora: dict, settings: DemoSettings) -> dict:
    """The base model's scores, cached next to it (they depend only on the base and the test splits)."""
    fingerprints = "/".join(corpora[split]._fingerprint for split in EVAL_SPLITS)
    path = base_dir / f"evaluation-{settings.key('image_size', 'eval_anchors', extra=fingerprints)}.json"
    if path.exists():
        return json.loads(path.read_text())
    scores = evaluate_model(base_dir, corpora)
    path.write_text(json.dumps(scores))
    return scores


def run_demo(settings: DemoSettings, config: CounterfactualConfig) -> dict:
    """Run every stage; returns the results dict also written to ``config.output_dir/results.json``.

    ``config`` is the CF-VLM arm's; the baselines train with it under ``objective="clip"``. ``results["timings"]``
    holds the wall seconds of each stage (corpora, base, per-model evaluation, and per arm in
    ``results["arms"]``), so a first run and a later, cached run can both be read off one report.
    """
    started = time.perf_counter()
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = cache_root(settings)
    timings = {}
    with _timed(timings, "corpora"):
        corpora = build_corpora(settings, config, cache)
    with _timed(timings, "base"):
        base_dir, pretraining = base_model(settings, config, corpora, cache)
        shutil.copytree(base_dir, out / "base", dirs_exist_ok=True)

    results = {"settings": run_settings(settings, config), "pretraining": pretraining, "models": {}, "arms": [],
               "timings": timings}
    with _timed(timings, "evaluation/base"):
        results["models"]["base"] = [evaluate_base(base_dir, corpora, settings)]
    card_results(out / "base", results["models"]["base"][0])
    arm_settings = dict(batch_size=config.per_device_train_batch_size, vision_lr=config.learning_rate,
                        text_lr=settings.text_lr, frozen_text_layers=settings.frozen_text_layers)

    def fine_tune(name, folder, objective, steps, seed, clock=None):
        trainer, wall = train_arm(base_dir, corpora["train"], folder, config, objective=objective, steps=steps,
                                  seed=seed, clock=clock, **arm_settings)
        results["arms"].append({"name": name, "seed": seed, "steps": steps, "wall_seconds": wall,
                                "log_history": trainer.state.log_history})
        with _timed(timings, f"evaluation/{folder.name}"):
            results["models"].setdefault(name, []).append(evaluate_model(folder, corpora))
        card_results(folder, results["models"][name][-1])
        return wall

    for seed in range(settings.seeds):
        suffix = "" if seed == 0 else f"-seed{seed}"
        clock = StepClock()
        baseline_wall = fine_tune("baseline", out / f"baseline{suffix}", "clip", config.max_steps, seed, clock)
        cf_wall = fine_tune("cf-vlm", out / f"cf-vlm{suffix}", config.objective, config.max_steps, seed)
        if settings.equal_time_baseline:
            steps = equal_time_steps(clock.step_ends, baseline_wall, cf_wall, least=config.max_steps)
            fine_tune("baseline (equal wall time)", out / f"baseline-equal-time{suffix}", "clip", steps, seed)
    results["total_wall_seconds"] = time.perf_counter() - started
    write_report(results, out)
    return results


@contextmanager
def _timed(timings: dict, name: str):
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start
