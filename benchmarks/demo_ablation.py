"""Ablation of the demo's CF-VLM settings, from the demo's cached base, at equal steps.

Prints one row per variant: held-out minimal-edit accuracy (image side), binding / relation group scores,
recall@1, and seconds per step. Usage:

    python benchmarks/demo_ablation.py [--steps 200] [--eval-anchors 1000] [--seeds 1] [--variants "NAME;NAME"]
        [--set FIELD=VALUE]

With ``--seeds N`` every variant is trained with seeds 0..N-1 (the demo's arms use the same seeds); each row is
the mean ± std over seeds, and a second table gives each variant minus the first variant, per seed.
"""

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

from cf_vlm_hf.commands.demo.pipeline import base_model, build_corpora, cache_root, evaluate_model, train_arm
from cf_vlm_hf.commands.demo.report import fmt
from cf_vlm_hf.commands.demo.settings import ALIASES, DemoSettings, parse_demo_args

VARIANTS = {
    "baseline (clip)": dict(objective="clip"),
    "negclip": dict(objective="negclip"),
    "cf-vlm, cross, w=1 (demo default)": dict(),
    "cf-vlm, paper, w=1": dict(scenario_pairing="paper", align_counterfactuals=False),
    "cf-vlm, symmetric, w=1": dict(scenario_pairing="symmetric"),
    "cf-vlm, symmetric, w=3": dict(scenario_pairing="symmetric", csd_weight=3.0, fcd_weight=3.0),
    "cf-vlm, counterfactuals aligned": dict(align_counterfactuals=True),
    "cf-vlm, symmetric, counterfactuals aligned": dict(scenario_pairing="symmetric", align_counterfactuals=True),
    "cf-vlm, counterfactuals aligned, no csd/fcd": dict(align_counterfactuals=True, csd_weight=0.0, fcd_weight=0.0),
    # Plain fine-tuning on the same pairs as "counterfactuals aligned" (each anchor and its K counterfactual pairs
    # as separate rows, shuffled, 96 per step): more data without the counterfactual structure within a batch.
    "baseline (clip), counterfactual pairs as extra rows, batch 96": dict(objective="clip", flatten=True,
                                                                          per_device_train_batch_size=96),
    "cf-vlm, counterfactuals and edits aligned": dict(align_counterfactuals=True, align_edits=True),
    "cf-vlm, counterfactuals and edits aligned, no csd/fcd": dict(align_counterfactuals=True, align_edits=True,
                                                                  csd_weight=0.0, fcd_weight=0.0),
    "cf-vlm without L_csd": dict(csd_weight=0.0),
    "cf-vlm without L_fcd": dict(fcd_weight=0.0),
    "cf-vlm, cross, w=3": dict(csd_weight=3.0, fcd_weight=3.0),
    "cf-vlm, cross, w=3, fcd mean": dict(csd_weight=3.0, fcd_weight=3.0, fcd_reduction="mean"),
    "cf-vlm, cross, w=1, K=1 M=2": dict(max_counterfactuals=1, max_edits=2),
    "baseline (clip), text lr 2e-4": dict(objective="clip", text_lr=2e-4),
    "cf-vlm, text lr 2e-4": dict(text_lr=2e-4),
    "cf-vlm, fcd mean": dict(fcd_reduction="mean"),
    "cf-vlm, csd w=3": dict(csd_weight=3.0),
    # The text tower frozen below its top two layers (the previous demo default): binding barely moves.
    "baseline (clip), 4 text layers frozen, lr 5e-4/5e-5": dict(objective="clip", learning_rate=5e-4,
                                                                          frozen_text_layers=4),
    "cf-vlm, cross, w=3, 4 text layers frozen, lr 5e-4/5e-5": dict(csd_weight=3.0, fcd_weight=3.0,
                                                                   learning_rate=5e-4, frozen_text_layers=4),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--eval-anchors", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=1, help="train every variant with seeds 0..N-1")
    parser.add_argument("--variants", default=";".join(VARIANTS), help="names of VARIANTS, separated by ';'")
    parser.add_argument("--output", default="ablation")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a `cf-vlm demo` flag for every variant (and the base), e.g. pretrain_steps=300")
    args = parser.parse_args()
    demo_flags = ["--eval_anchors", str(args.eval_anchors), "--output_dir", args.output]
    demo_flags += ["--quick"] if args.quick else []
    demo_flags += ["--max_steps", str(args.steps)] if args.steps else []
    for item in args.set:
        name, value = item.split("=", 1)
        demo_flags += [f"--{name}", value]
    base_settings, base_config = parse_demo_args(demo_flags)
    cache = cache_root(base_settings)
    corpora = build_corpora(base_settings, base_config, cache)
    base_dir, _ = base_model(base_settings, base_config, corpora, cache)
    out = Path(args.output)
    rows = []
    base = evaluate_model(base_dir, corpora, splits=("heldout",))["heldout"]
    rows.append(("base", [base], [0.0]))
    demo_fields = {f.name for f in dataclasses.fields(DemoSettings)}
    for name in args.variants.split(";"):
        overrides = {ALIASES.get(key, key): value for key, value in VARIANTS[name].items()}
        objective = overrides.pop("objective", "cf-vlm")
        dataset = corpora["train"]
        if overrides.pop("flatten", False):
            dataset = counterfactuals_as_rows(dataset)
        settings = dataclasses.replace(base_settings, **{k: v for k, v in overrides.items() if k in demo_fields})
        config = dataclasses.replace(base_config, **{k: v for k, v in overrides.items() if k not in demo_fields})
        if config.max_counterfactuals > base_config.max_counterfactuals or config.max_edits > base_config.max_edits:
            raise SystemExit(f"{name}: K and M can only be lowered from the corpus's "
                             f"(K={base_config.max_counterfactuals}, M={base_config.max_edits})")
        results, per_step = [], []
        for seed in range(args.seeds):
            folder = out / name.replace(" ", "_").replace(",", "").replace("=", "") / f"seed-{seed}"
            _, wall = train_arm(base_dir, dataset, folder, config, objective=objective,
                                steps=config.max_steps, seed=seed, batch_size=config.per_device_train_batch_size,
                                vision_lr=config.learning_rate, text_lr=settings.text_lr,
                                frozen_text_layers=settings.frozen_text_layers)
            results.append(evaluate_model(folder, corpora, splits=("heldout",))["heldout"])
            per_step.append(wall / config.max_steps)
        rows.append((name, results, per_step))
        print_table(rows, base_config.max_steps)
    (out / "ablation.json").write_text(json.dumps(
        [{"variant": n, "heldout": r, "s_per_step": s} for n, r, s in rows], indent=1))


def counterfactuals_as_rows(dataset):
    """Each row -> its anchor pair and each complete counterfactual pair, as plain rows of their own."""
    def expand(batch):
        out = {name: [] for name in batch}
        for i, row_id in enumerate(batch["id"]):
            pairs = [(batch["image"][i], batch["caption"][i]), *zip(batch["cf_images"][i], batch["cf_captions"][i])]
            for k, (image, caption) in enumerate(pairs):
                for name in batch:
                    out[name].append([])
                out["id"][-1], out["image"][-1], out["caption"][-1] = f"{row_id}-{k}", image, caption
        return out

    return dataset.map(expand, batched=True, batch_size=100)


METRICS = (("edit acc (image)", "mean_image_side"), ("edit acc (text)", "mean_text_side"),
           ("binding group", "winoground/binding/group"), ("relation group", "winoground/relation/group"),
           ("recall@1", "recall@1"))


def print_table(rows, steps):
    """One row per variant (mean ± std over seeds), then each variant minus the first trained one, per seed."""
    header = " | ".join(label for label, _ in METRICS)
    print(f"\n| variant ({steps} steps) | {header} | s/step |\n|---|---|---|---|---|---|---|")
    for name, results, per_step in rows:
        cells = " | ".join(fmt([r.get(key, 0.0) for r in results]) for _, key in METRICS)
        print(f"| {name} | {cells} | {statistics.mean(per_step):.2f} |", flush=True)
    if len(rows) < 3:
        return
    print(f"\n| minus {rows[1][0]}, per seed | {header} |\n|---|---|---|---|---|---|")
    reference = rows[1][1]
    for name, results, _ in rows[2:]:
        cells = []
        for _, key in METRICS:
            diffs = [100 * (r.get(key, 0.0) - ref.get(key, 0.0)) for r, ref in zip(results, reference)]
            cells.append(" / ".join(f"{d:+.1f}" for d in diffs))
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
