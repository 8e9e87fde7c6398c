"""`EvaluationReport`: what an evaluation of models on tasks produced, before it is written anywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .tasks import Task, TaskResult


@dataclass
class EvaluationReport:
    """Results of models (columns, first = reference) on tasks.

    Attributes:
        models: one dict per model: label, name, family, class, revision, ...
        tasks: task name -> provenance (protocol, counts, official counts, annotation file hashes, ...).
        results: task name -> model label -> metrics (empty when skipped).
        headline: task name -> the metrics a summary table shows.
        skipped: task name -> model label -> why it did not run.
        timings: model label -> task name -> seconds.
    """

    models: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    headline: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [m["label"] for m in self.models]

    def items_per_second(self) -> dict[str, dict[str, float]]:
        """model label -> task -> items scored per second (the task's item count over its seconds; images and texts
        shared with earlier tasks were embedded there, so later tasks of a run are faster), and ``"all"`` over the
        tasks that ran."""
        out = {}
        for label, per_task in self.timings.items():
            rates, items, seconds = {}, 0, 0.0
            for task, spent in per_task.items():
                count = (self.tasks.get(task) or {}).get("item_count")
                if count and spent > 0 and not (self.skipped.get(task) or {}).get(label):
                    rates[task] = round(count / spent, 2)
                    items, seconds = items + count, seconds + spent
            if seconds > 0:
                rates["all"] = round(items / seconds, 2)
            out[label] = rates
        return out

    def add(self, label: str, task: Task, result: TaskResult, seconds: float) -> None:
        self.results.setdefault(task.name, {})[label] = dict(result.metrics)
        headline = self.headline.setdefault(task.name, [])
        headline += [name for name in result.headline if name not in headline]
        if result.skipped:
            self.skipped.setdefault(task.name, {})[label] = result.skipped
        self.timings.setdefault(label, {})[task.name] = round(seconds, 3)
