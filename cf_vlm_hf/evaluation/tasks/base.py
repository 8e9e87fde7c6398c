"""What a benchmark task is: a loader of its official files, a metric over scores, and its protocol.

A :class:`Task` reads its benchmark's own layout from a local folder (``load``) into a :class:`TaskData` holding
items of ONE type per subset (`cf_vlm_hf.evaluation.items`), then scores them with any
`cf_vlm_hf.evaluation.scoring.PairScorer` (``evaluate``) into a :class:`TaskResult`. Its class attributes state
the protocol (averaging, tie rule, exclusions) and the official item counts, so every number in a report can be
traced to how it was computed and what it was computed on (``provenance``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .download import Sources, default_cache_dir, fetch_task


@dataclass
class TaskData:
    """What a loader read.

    Attributes:
        task: the task's name.
        subsets: subset name -> items (one item type for the whole task).
        source: the folder or Hub id read.
        files: annotation file -> sha256 of its bytes.
        exclusions: why items were left out -> how many (e.g. images missing on disk, with ``missing_images="skip"``).
        notes: anything else a reader of the results must know.
    """

    task: str
    subsets: dict[str, list]
    source: str
    files: dict[str, str] = field(default_factory=dict)
    exclusions: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def item_count(self) -> int:
        return sum(len(items) for items in self.subsets.values())


@dataclass
class TaskResult:
    """A model's scores on a task.

    Attributes:
        metrics: flat ``name -> value`` (accuracies are fractions in [0, 1]; counts are ints).
        headline: the metrics a summary table shows, in order.
        skipped: why the task did not run for this model (then ``metrics`` is empty), or None.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    headline: list[str] = field(default_factory=list)
    skipped: str | None = None


class Task:
    """A benchmark: subclasses set the class attributes and implement ``load`` and ``evaluate``.

    Class attributes:
        name: the task's name on the command line.
        folder: its folder under ``--data-dir`` (default: ``name``).
        summary: one line for listings.
        official_counts: subset -> the official item count (empty when the benchmark has none).
        protocol: how the metrics are computed: at least "metric", "averaging" and "ties".
        hub_id: a Hub repository the data is read from when no local folder exists (None: local only).
        sources: where ``download=True`` fetches the benchmark from (`cf_vlm_hf.evaluation.tasks.download`).
        primary_metric: the one metric that sums the task up (what ``metric_for_best_model`` selects on, logged as
            ``eval_<task>/<primary_metric>``), None when the task has no single one.
        greater_is_better: the primary metric's direction.
    """

    name: ClassVar[str] = ""
    folder: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    official_counts: ClassVar[dict[str, int]] = {}
    protocol: ClassVar[dict[str, Any]] = {}
    hub_id: ClassVar[str | None] = None
    primary_metric: ClassVar[str | None] = None
    greater_is_better: ClassVar[bool] = True
    sources: ClassVar[Sources | None] = None

    def __init__(self, path: str | None = None, missing_images: str = "error", download: bool = False,
                 cache_dir: str | None = None, force_download: bool = False, **options):
        if missing_images not in ("error", "skip"):
            raise ValueError(f"missing_images must be 'error' or 'skip', got {missing_images!r}")
        self.path = path
        self.missing_images = missing_images
        self.download, self.cache_dir, self.force_download = download or force_download, cache_dir, force_download
        self.options = options
        unknown = sorted(set(options) - set(self.option_names()))
        if unknown:
            raise ValueError(f"task {self.name!r} has no option(s) {unknown}; it takes {sorted(self.option_names())}")

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The task-specific options its constructor takes."""
        return ()

    @classmethod
    def has_layout(cls, folder: str) -> bool:
        """Whether ``folder`` itself holds this task's files (so ``--data-dir`` may name the task's folder)."""
        return False

    def root(self, data_dir: str | None) -> str | None:
        """The local folder to read: the task's own ``path``; else ``data_dir/<folder>``; else ``data_dir`` itself when
        it holds the task's layout (``--data-dir bench/sugarcrepe --task sugarcrepe``); with ``download=True``, the
        cache folder (``<cache_dir>/<folder>``, fetched or checked); None when there is none (the loader then tries
        ``hub_id``, or explains the expected layout)."""
        if self.path:
            path = os.path.abspath(os.path.expanduser(self.path))
            if not os.path.exists(path):
                raise FileNotFoundError(f"{self.name}: {self.path} does not exist")
            return path
        if data_dir:
            data_dir = os.path.abspath(os.path.expanduser(data_dir))
            folder = os.path.join(data_dir, self.folder or self.name)
            if os.path.exists(folder):
                return folder
            if os.path.isdir(data_dir) and self.has_layout(data_dir):
                return data_dir
        if self.download and self.sources is not None and self.sources.files:
            return fetch_task(self.name, self.sources, self.folder or self.name, self.cache_dir, self.force_download)
        return None

    def cache_folder(self) -> str:
        """Where ``download=True`` puts the task's files."""
        return os.path.join(os.path.abspath(os.path.expanduser(self.cache_dir or default_cache_dir())),
                            self.folder or self.name)

    def missing_folder(self, data_dir: str | None, layout: str) -> FileNotFoundError:
        """The error for a task without data: where it looked and what it expects there."""
        if self.path:
            where = self.path
        else:
            where = os.path.join(data_dir, self.folder or self.name) if data_dir else f"--data-dir DIR/{self.folder}"
        fetch = "; or pass --download (download=True) to fetch it" if self.sources and self.sources.files else ""
        return FileNotFoundError(
            f"{self.name}: no data folder at {where}. Expected: {layout} (docs/evaluation.md, '{self.name}'){fetch}"
        )

    def nothing_left(self, root: str, skipped: int, roots: str) -> FileNotFoundError:
        """The error for a folder whose annotation files were read but whose every entry was left out as missing its
        image (``missing_images="skip"``): where the images were looked for."""
        return FileNotFoundError(
            f"{self.name}: all {skipped} entries of the annotation files in {root} were left out: none of their images "
            f"is on disk (looked in {roots}; docs/evaluation.md, '{self.name}', gives the image layout)"
        )

    def load(self, data_dir: str | None = None) -> TaskData:
        raise NotImplementedError

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        raise NotImplementedError

    def subset_counts(self, data: TaskData) -> dict[str, int]:
        """Items per subset (tasks whose items are whole sets count their images)."""
        return {name: len(items) for name, items in data.subsets.items()}

    def provenance(self, data: TaskData) -> dict[str, Any]:
        """Protocol, counts (ours and the official ones, and whether they differ), sources and file hashes."""
        counts = self.subset_counts(data)
        official = dict(self.official_counts)
        differs = {name: {"ours": counts.get(name, 0), "official": n} for name, n in official.items()
                   if counts.get(name, 0) != n}
        return {
            "protocol": dict(self.protocol),
            "options": {k: v for k, v in self.options.items() if v is not None},
            "item_count": sum(counts.values()),
            "subset_counts": counts,
            "official_item_count": sum(official.values()) if official else None,
            "official_subset_counts": official or None,
            "differs_from_official": differs or None,
            "source": data.source,
            "annotation_files": dict(data.files),
            "exclusions": dict(data.exclusions),
            "notes": list(data.notes),
        }
