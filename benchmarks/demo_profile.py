"""Where a `cf-vlm demo` second goes: one CF-VLM training step and the evaluation stage, stage by stage, on CPU.

    python benchmarks/demo_profile.py [--batch-size 32] [--steps 5] [--eval-anchors 200] [--quick] [--json F]

The demo's own model (the real MiniLM text tower + a 64 px ViT from a config) and corpus (shapes world, K=2, M=4):

* training step: collation (image processing, tokenization, index tensors), the vision tower's and the text tower's
  forward (timed by forward hooks), the scores and the objective, backward, the optimizer step;
* data pipeline: samples/s of loading + collation from a saved corpus with 0, 1 and 2 dataloader workers, against
  the training step's samples/s (the loader must keep up with at least 2x headroom);
* evaluation (`evaluate_counterfactual_split`, what the demo runs per model and split): image processing, vision
  and text forwards, the rest.

Medians over ``--steps``; prints tables and one JSON line. Run with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
import torch  # noqa: E402


class Clock:
    """Accumulated wall seconds per named stage; ``hook(module, name)`` times a module's forwards."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._starts: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def hook(self, module: torch.nn.Module, name: str):
        def before(*_):
            self._starts[name] = time.perf_counter()

        def after(*_):
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - self._starts.pop(name)

        module.register_forward_pre_hook(before)
        module.register_forward_hook(after)


def build(batch_size: int, anchors: int):
    from cf_vlm_hf import CounterfactualConfig
    from cf_vlm_hf.commands.demo.model import VisionTowerSpec, build_dual_encoder
    from cf_vlm_hf.data.shapes_world import ShapesWorldSpec, shapes_world_dataset
    from cf_vlm_hf.models import build_collator, build_scorer
    from cf_vlm_hf.objective import Objective

    model, processor = build_dual_encoder(VisionTowerSpec(), seed=0)
    config = CounterfactualConfig(output_dir=tempfile.mkdtemp(), preset="recommended", max_counterfactuals=2,
                                  max_edits=4, use_cpu=True, report_to="none")
    objective = Objective(config)
    corpus = shapes_world_dataset(anchors, "train", 0, ShapesWorldSpec(num_counterfactuals=2, num_edits=4),
                                  cache_dir=tempfile.mkdtemp())
    collator = build_collator(processor, model, config, objective.plan)
    scorer = build_scorer(model, config, objective.plan)
    return model, processor, corpus, collator, scorer, objective


def profile_step(model, corpus, collator, scorer, objective, batch_size: int, steps: int, fused: bool = True) -> dict:
    clock = Clock()
    clock.hook(model.vision_model, "vision tower (forward)")
    clock.hook(model.text_model, "text tower (forward)")
    from cf_vlm_hf.commands.demo.model import tower_optimizer

    optimizer = tower_optimizer(model, 5e-5, 1e-3, 0.01, fused=fused)
    rows = [corpus[i] for i in range(batch_size)]
    per_step = []
    for step in range(steps + 1):
        clock.seconds.clear()
        start = time.perf_counter()
        with clock.stage("collation (image processing, tokenization)"):
            batch = collator(rows)
        with clock.stage("forward + scores + objective"):
            scores = scorer.score(model, batch)
            loss = objective(scores, scorer).loss
        with clock.stage("backward"):
            loss.backward()
        with clock.stage("optimizer step"):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        total = time.perf_counter() - start
        if step:  # the first step warms up
            per_step.append({**clock.seconds, "total": total})
    stages = {name: statistics.median(s[name] for s in per_step) for name in per_step[0]}
    towers = stages["vision tower (forward)"] + stages["text tower (forward)"]
    stages["scores + objective + other forward"] = stages.pop("forward + scores + objective") - towers
    stages["total"] = stages.pop("total")
    return {"images": int(batch["pixel_values"].shape[0]), "texts": int(batch["input_ids"].shape[0]),
            "seconds": stages}


def loader_throughput(corpus, collator, batch_size: int, workers: int, batches: int) -> float:
    from cf_vlm_hf import load_counterfactual_dataset
    from cf_vlm_hf.data import save_counterfactual_dataset, with_row_index

    folder = tempfile.mkdtemp()
    save_counterfactual_dataset(corpus, folder)
    rows = with_row_index(load_counterfactual_dataset(folder, decode_images=False))
    loader = torch.utils.data.DataLoader(rows, batch_size=batch_size, shuffle=True, collate_fn=collator,
                                         num_workers=workers, drop_last=True)
    iterator = iter(loader)
    next(iterator)  # workers start, first batch
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def profile_evaluation(model, processor, anchors: int) -> dict:
    from cf_vlm_hf.data.shapes_world import ShapesWorldSpec, shapes_world_dataset
    from cf_vlm_hf.evaluation import evaluate_counterfactual_split

    split = shapes_world_dataset(anchors, "heldout", 0, ShapesWorldSpec(num_counterfactuals=0, num_edits=7),
                                 cache_dir=tempfile.mkdtemp())
    clock = Clock()
    clock.hook(model.vision_model, "vision tower (forward)")
    clock.hook(model.text_model, "text tower (forward)")
    original = processor.image_processor.__class__.__call__

    def timed_call(self, *args, **kwargs):
        with clock.stage("image processing"):
            return original(self, *args, **kwargs)

    processor.image_processor.__class__.__call__ = timed_call
    try:
        start = time.perf_counter()
        with torch.no_grad():
            evaluate_counterfactual_split(model, processor, split, progress=False)
        total = time.perf_counter() - start
    finally:
        processor.image_processor.__class__.__call__ = original
    images = anchors + sum(len(t) for t in split["edit_types"])
    accounted = sum(clock.seconds.values())
    return {"anchors": anchors, "images": images, "seconds": {**clock.seconds, "other (decoding, scoring, Python)":
                                                              total - accounted, "total": total}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--eval-anchors", type=int, default=200)
    parser.add_argument("--loader-batches", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="CI's short mode")
    parser.add_argument("--unfused-optimizer", action="store_true", help="the demo's optimizer before (per tensor)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.batch_size, args.steps, args.eval_anchors, args.loader_batches = 4, 1, 8, 1
    torch.manual_seed(0)
    machine = f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    rows = (args.loader_batches + 2) * args.batch_size  # the loader reads one epoch
    model, processor, corpus, collator, scorer, objective = build(args.batch_size, rows)
    step = profile_step(model, corpus, collator, scorer, objective, args.batch_size, args.steps,
                        fused=not args.unfused_optimizer)
    step_total = step["seconds"]["total"]
    loaders = {w: loader_throughput(corpus, collator, args.batch_size, w, args.loader_batches) for w in (0, 1, 2)}
    model.eval()
    evaluation = profile_evaluation(model, processor, args.eval_anchors)

    print(f"machine: {machine}")
    print(f"\nCF-VLM training step, {args.batch_size} anchors ({step['images']} images, {step['texts']} texts):")
    print("| stage | seconds | share |\n|---|---:|---:|")
    for name, value in step["seconds"].items():
        print(f"| {name} | {value:.3f} | {100 * value / step_total:.0f} % |")
    step_rate = args.batch_size / step_total
    print(f"\nData pipeline (load + collate from a saved corpus), samples/s; the step takes {step_rate:.1f} samples/s:")
    print("| workers | samples/s | headroom over the step |\n|---|---:|---:|")
    for workers, rate in loaders.items():
        print(f"| {workers} | {rate:.1f} | {rate / step_rate:.1f}x |")
    eval_total = evaluation["seconds"]["total"]
    print(f"\nEvaluation of {evaluation['anchors']} anchors ({evaluation['images']} images):")
    print("| stage | seconds | share |\n|---|---:|---:|")
    for name, value in evaluation["seconds"].items():
        print(f"| {name} | {value:.3f} | {100 * value / eval_total:.0f} % |")
    line = json.dumps({"benchmark": "demo_profile", "machine": machine, "batch_size": args.batch_size, "step": step,
                       "step_samples_per_s": step_rate, "loader_samples_per_s": loaders, "evaluation": evaluation})
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")


if __name__ == "__main__":
    main()
