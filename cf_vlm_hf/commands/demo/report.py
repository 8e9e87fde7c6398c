"""results.json, results.md (comparison tables) and results.png (accuracy per edit type, loss curves)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from ...data.shapes_world.vocabulary import EDIT_TYPES

HEADLINE = (
    ("mean_image_side", "edit acc (image side)"),
    ("mean_text_side", "edit acc (text side)"),
    ("winoground/binding/group", "binding group"),
    ("winoground/relation/group", "relation group"),
    ("recall@1", "recall@1"),
)


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(values: list[float]) -> str:
    """Percent, with ± std over seeds when there are several."""
    mean, std = mean_std([100 * v for v in values])
    return f"{mean:.1f} ± {std:.1f}" if len(values) > 1 else f"{mean:.1f}"


def metric(results: dict, model: str, split: str, name: str) -> list[float]:
    return [run[split][name] for run in results["models"][model] if name in run[split]]


# The equal-step targets on the held-out split: (metric, label, least cf-vlm minus baseline, in points).
TARGETS = (
    ("mean_image_side", "edit acc (image side)", 10.0),
    ("winoground/binding/group", "binding group", 20.0),
    ("recall@1", "recall@1", -2.0),
)


def arm_timing(results: dict, model: str) -> str:
    """The steps, wall and s/step cells of a model's row (the base's: its pre-training, unless cached)."""
    if model == "base":
        pretraining = results.get("pretraining", {})
        if pretraining.get("cached", True):
            return "– | cached | –"
        wall, steps = pretraining["wall_seconds"], pretraining["steps"]
        return f"{steps} | {wall:.0f} s | {wall / steps:.2f}"
    arms = [a for a in results["arms"] if a["name"] == model]
    if not arms:
        return "– | – | –"
    steps = sorted(a["steps"] for a in arms)
    wall = statistics.fmean(a["wall_seconds"] for a in arms)
    per_step = statistics.fmean(a["wall_seconds"] / a["steps"] for a in arms)
    steps_cell = str(steps[0]) if steps[0] == steps[-1] else f"{steps[0]}–{steps[-1]}"
    return f"{steps_cell} | {wall:.0f} s | {per_step:.2f}"


def markdown(results: dict) -> str:
    models = list(results["models"])
    lines = []
    for split, title in (("heldout", "Held-out (colour, shape) combinations"), ("test", "In-distribution test")):
        lines += [f"### {title}", "", "| model | " + " | ".join(h for _, h in HEADLINE) + " | steps | wall | s/step |",
                  "|---" * (len(HEADLINE) + 4) + "|"]
        for model in models:
            cells = [fmt(metric(results, model, split, name)) if metric(results, model, split, name) else "–"
                     for name, _ in HEADLINE]
            lines.append(f"| {model} | " + " | ".join(cells) + f" | {arm_timing(results, model)} |")
        lines.append("")
    lines += ["### Minimal-edit accuracy per edit type, held-out split (image side / text side, %)", "",
              "| model | " + " | ".join(EDIT_TYPES) + " |", "|---" * (len(EDIT_TYPES) + 1) + "|"]
    for model in models:
        cells = []
        for kind in EDIT_TYPES:
            image = metric(results, model, "heldout", f"image_side/{kind}")
            text = metric(results, model, "heldout", f"text_side/{kind}")
            cells.append(f"{fmt(image)} / {fmt(text)}" if image else "–")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += ["", *target_lines(results), "", arm_settings_line(results["settings"]), *timing_lines(results)]
    return "\n".join(lines) + "\n"


def arm_settings_line(settings: dict) -> str:
    """What the CF-VLM arm trained with: counts, loss forms and weights, and what L_align covered."""
    aligned = ["the anchors"]
    if settings.get("align_counterfactuals"):
        aligned.append("the complete counterfactual pairs")
    if settings.get("align_edits"):
        aligned.append("the minimal edits with their own captions")
    return (f"CF-VLM arm: K={settings['max_counterfactuals']}, M={settings['max_edits']}, "
            f"L_csd {settings['scenario_pairing']!r} (weight {settings['csd_weight']:g}), "
            f"L_fcd {settings['fcd_reduction']!r} (weight {settings['fcd_weight']:g}); "
            f"L_align over {' and '.join(aligned)}.")


def target_lines(results: dict) -> list[str]:
    """CF-VLM minus baseline at equal steps on the held-out split, per seed and as mean ± std, against the targets."""
    if "baseline" not in results["models"] or "cf-vlm" not in results["models"]:
        return []
    pairs = list(zip(results["models"]["baseline"], results["models"]["cf-vlm"]))
    lines = ["### CF-VLM minus baseline at equal steps, held-out split (points)", "",
             "| metric | " + " | ".join(f"seed {seed}" for seed in range(len(pairs)))
             + " | mean ± std | target | met |",
             "|---" * (len(pairs) + 4) + "|"]
    for name, label, least in TARGETS:
        deltas = [100 * (cf["heldout"][name] - base["heldout"][name]) for base, cf in pairs]
        mean, std = mean_std(deltas)
        spread = f"{mean:+.1f} ± {std:.1f}" if len(deltas) > 1 else f"{mean:+.1f}"
        lines.append(f"| {label} | " + " | ".join(f"{d:+.1f}" for d in deltas)
                     + f" | {spread} | ≥ {least:+.0f} | {'yes' if mean >= least else 'no'} |")
    return lines


def timing_lines(results: dict) -> list[str]:
    """Items per edit type, seeds, and where the wall time went."""
    first = results["models"]["base"][0]
    lines = [f"Items per edit type ({label}): " + ", ".join(
        f"{kind} {first[split].get(f'count/{kind}', 0)}" for kind in EDIT_TYPES) + "."
        for split, label in (("heldout", "held-out"), ("test", "in-distribution"))]
    seeds = results["settings"]["seeds"]
    lines.append(f"Seeds: {seeds} (mean ± std where > 1).")
    timings = results.get("timings", {})
    if timings:
        evaluation = sum(v for k, v in timings.items() if k.startswith("evaluation/"))
        training = sum(a["wall_seconds"] for a in results["arms"])
        how = "cached" if results["pretraining"].get("cached") else "pre-trained in this run"
        lines.append(f"Wall time: corpora {timings['corpora']:.0f} s, base {timings['base']:.0f} s ({how}), "
                     f"fine-tuning {training:.0f} s, evaluation {evaluation:.0f} s; "
                     f"total {results['total_wall_seconds'] / 60:.1f} min.")
    else:
        lines.append(f"Total wall time {results['total_wall_seconds'] / 60:.1f} min.")
    return lines


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(results["models"])
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(13, 4.5))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        values = [100 * statistics.fmean(metric(results, model, "heldout", f"image_side/{k}") or [0.0])
                  for k in EDIT_TYPES]
        bars.bar([x + i * width for x in range(len(EDIT_TYPES))], values, width, label=model)
    bars.set_xticks([x + width * (len(models) - 1) / 2 for x in range(len(EDIT_TYPES))], EDIT_TYPES)
    bars.axhline(50, color="grey", lw=0.8, ls=":")
    bars.set_ylabel("held-out minimal-edit accuracy, image side (%)")
    bars.set_ylim(0, 100)
    bars.legend(fontsize=8)
    for arm in results["arms"]:
        if arm["seed"] != 0:
            continue
        # Logging-step entries only: the end-of-training summary also carries the metrics of the last few steps.
        history = [log for log in arm["log_history"] if "align_loss" in log and "loss" in log]
        curves.plot([log["step"] for log in history], [log["align_loss"] for log in history],
                    label=f"{arm['name']}: align_loss")
        if history and "fcd_loss" in history[0]:
            curves.plot([log["step"] for log in history], [log["loss"] for log in history], ls="--",
                        label=f"{arm['name']}: total loss")
    curves.set_xlabel("step")
    curves.set_ylabel("training loss")
    curves.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict, out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(markdown(results))
    plot(results, out / "results.png")
