"""Writing an evaluation report: ``results.json``, a markdown table (one column per model) and a bar chart.

* ``results.json``: every metric of every model on every task, the models' identities (class, family, Hub
  commit or a hash of the local files) and each task's provenance (protocol, item counts against the official
  ones, the sha256 of each annotation file read). Accuracies are fractions in [0, 1]; NaN is written as null.
* ``results.md``: the headline metrics, in percent, one column per model; every model after the first shows its
  difference to the first in points. A task whose item count differs from the official one says so in its row;
  a task that does not apply to a model shows "n/a" with the reason below the table, followed by each task's
  protocol.
* ``results.png``: a grouped bar chart of the headline metrics (matplotlib).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from .results import EvaluationReport


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def report_dict(report: EvaluationReport) -> dict[str, Any]:
    """The JSON-ready content of ``results.json``."""
    from .. import __version__

    return _clean({
        "cf_vlm_hf_version": __version__,
        "models": report.models,
        "tasks": {name: {"provenance": prov, "results": report.results.get(name, {}),
                         "skipped": report.skipped.get(name, {}), "headline": report.headline.get(name, [])}
                  for name, prov in report.tasks.items()},
        "timings_seconds": report.timings,
        "items_per_second": report.items_per_second(),
    })


def format_value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or isinstance(value, int):
        return str(int(value))
    return f"{100 * value:.1f}"


def _items_cell(provenance: dict, metric: str) -> str:
    """The item count behind a metric: its subset's when the metric names one, else the task's."""
    counts, official = provenance.get("subset_counts") or {}, provenance.get("official_subset_counts") or {}
    subset = next((s for s in sorted(counts, key=len, reverse=True) if metric.startswith(s + "/")), None)
    ours = counts[subset] if subset else provenance.get("item_count")
    theirs = official.get(subset) if subset else provenance.get("official_item_count")
    if isinstance(theirs, dict):  # retrieval: images and captions
        theirs = theirs.get("captions")
    cell = f"{ours:,}" if isinstance(ours, int) else ""
    if theirs is not None and ours != theirs:
        cell += f" (official {theirs:,})"
    return cell


def markdown_table(report: EvaluationReport) -> str:
    """The headline metrics, one column per model, differences to the first model in points."""
    labels = report.labels
    header = ["task", "metric", "items", *[labels[0]], *[f"{label} (Δ)" for label in labels[1:]]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    reasons: list[str] = []
    for task, provenance in report.tasks.items():
        results, skipped = report.results.get(task, {}), report.skipped.get(task, {})
        for label, reason in skipped.items():
            reasons.append(f"- {task}, {label}: not applicable — {reason}")
        metrics = report.headline.get(task) or []
        if not metrics:
            cells = [f"n/a [{len(reasons)}]" if label in skipped else "–" for label in labels]
            lines.append("| " + " | ".join([task, "", _items_cell(provenance, ""), *cells]) + " |")
            continue
        for metric in metrics:
            reference = results.get(labels[0], {}).get(metric)
            cells = []
            for i, label in enumerate(labels):
                if label in skipped:
                    cells.append("n/a")
                    continue
                value = results.get(label, {}).get(metric)
                text = format_value(value)
                if i and isinstance(value, float) and isinstance(reference, float) and not (
                        math.isnan(value) or math.isnan(reference)):
                    text += f" ({100 * (value - reference):+.1f})"
                cells.append(text)
            lines.append("| " + " | ".join([task, metric, _items_cell(provenance, metric), *cells]) + " |")
    out = ["Accuracies and recalls in percent; (Δ) = difference to the first model in points.", "", *lines]
    if reasons:
        out += ["", "Not applicable:", *reasons]
    out += ["", "Protocols:"]
    for task, provenance in report.tasks.items():
        protocol = provenance.get("protocol", {})
        parts = [f"{k}: {v}" for k, v in protocol.items()]
        count = f"{provenance.get('item_count'):,} items"
        if provenance.get("official_item_count") is not None:
            count += f" (official {provenance['official_item_count']:,})"
        extra = []
        if provenance.get("differs_from_official"):
            extra.append("item count differs from the official one: " + ", ".join(
                f"{name} {v['ours']} vs {v['official']}" for name, v in provenance["differs_from_official"].items()))
        if provenance.get("exclusions"):
            extra.append("excluded: " + ", ".join(f"{k} ({v})" for k, v in provenance["exclusions"].items()))
        extra += provenance.get("notes") or []
        out.append(f"- **{task}** ({count}; source {provenance.get('source')}): " + "; ".join(parts + extra))
    return "\n".join(out) + "\n"


def bar_chart(report: EvaluationReport, path: str) -> str | None:
    """Grouped horizontal bars of the headline metrics, one panel per task, one bar per model (None when
    matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels = report.labels
    panels = []
    for task in report.tasks:
        metrics = [m for m in report.headline.get(task, []) if any(
            isinstance(report.results[task].get(label, {}).get(m), float) for label in labels)]
        if metrics:
            panels.append((task, metrics))
    if not panels:
        return None
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    tallest = max(len(metrics) for _, metrics in panels)
    height = 0.8 + tallest * (0.18 * len(labels) + 0.12)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, height * rows), squeeze=False)
    bar = 0.8 / len(labels)
    for axis, (task, metrics) in zip(axes.flat, panels):
        for i, label in enumerate(labels):
            values = [report.results[task].get(label, {}).get(m) for m in metrics]
            values = [100 * v if isinstance(v, float) and not math.isnan(v) else 0.0 for v in values]
            positions = [y - 0.4 + (i + 0.5) * bar for y in range(len(metrics))]
            axis.barh(positions, values, bar, label=label, color=f"C{i}")
        axis.set_yticks(range(len(metrics)), metrics, fontsize=7)
        axis.invert_yaxis()
        axis.set_xlim(0, 100)
        axis.set_title(task, fontsize=9)
        axis.tick_params(axis="x", labelsize=7)
        axis.grid(axis="x", alpha=0.3)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="upper center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (height * rows)))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_report(report: EvaluationReport, output_dir: str) -> dict[str, str]:
    """Write results.json, results.md and results.png into ``output_dir``; returns what was written."""
    os.makedirs(output_dir, exist_ok=True)
    written = {"json": os.path.join(output_dir, "results.json"), "markdown": os.path.join(output_dir, "results.md")}
    with open(written["json"], "w", encoding="utf-8") as f:
        json.dump(report_dict(report), f, indent=2, allow_nan=False)
    with open(written["markdown"], "w", encoding="utf-8") as f:
        f.write(markdown_table(report))
    chart = bar_chart(report, os.path.join(output_dir, "results.png"))
    if chart:
        written["chart"] = chart
    return written
