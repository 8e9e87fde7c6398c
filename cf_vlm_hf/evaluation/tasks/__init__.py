"""The benchmark tasks, one module each, and their registry (``cf-vlm eval --task NAME[,NAME...]``).

Each task reads its benchmark's official layout from a local folder (docs/evaluation.md gives every layout and
protocol) into items of one type, and scores them with any pair scorer.
"""

from __future__ import annotations

from .aro import ARO
from .base import Task, TaskData, TaskResult
from .conme import ConMe
from .corpus import Corpus, ShapesWorld, counterfactual_suite
from .pairwise import Pairwise
from .pope import POPE
from .retrieval import Retrieval
from .sugarcrepe import SugarCrepe
from .vl_checklist import VLCheckList
from .winoground import Winoground
from .zero_shot import ZeroShot

TASKS: dict[str, type[Task]] = {
    task.name: task
    for task in (Winoground, SugarCrepe, ARO, VLCheckList, ConMe, POPE, ZeroShot, Retrieval, ShapesWorld, Pairwise,
                 Corpus)
}

__all__ = ["TASKS", "Task", "TaskData", "TaskResult", "counterfactual_suite", "get_task", "parse_tasks"]


def get_task(name: str, path: str | None = None, **options) -> Task:
    """The task called ``name`` (a ValueError listing the known names otherwise), reading ``path`` if given."""
    key = name.strip().lower().replace("_", "-")
    aliases = {"vlchecklist": "vl-checklist", "zeroshot": "zero-shot", "shapes": "shapes-world", "sugar-crepe":
               "sugarcrepe"}
    key = aliases.get(key, key)
    if key not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[key](path=path, **options)


def parse_tasks(spec: str | list[str], options: dict[str, dict] | None = None, **common) -> list[Task]:
    """Tasks from ``"winoground,sugarcrepe=/data/sc"`` (or a list of such strings): NAME or NAME=PATH each.

    ``options`` maps a task name to its options; ``common`` (e.g. ``missing_images``) goes to every task.
    """
    parts = [p for chunk in ([spec] if isinstance(spec, str) else spec) for p in chunk.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"no task given; known tasks: {', '.join(TASKS)}")
    tasks = []
    for part in parts:
        name, _, path = part.partition("=")
        probe = get_task(name)  # validates the name before options are applied
        tasks.append(get_task(name, path.strip() or None, **(options or {}).get(probe.name, {}), **common))
    return tasks
