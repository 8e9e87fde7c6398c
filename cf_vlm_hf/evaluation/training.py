"""Benchmarks during training: `BenchmarkSuite` scores the model being trained on benchmark tasks.

`CounterfactualTrainer(..., benchmarks=BenchmarkSuite(["sugarcrepe", "winoground"], data_dir="data"))` logs, at
each evaluation, every metric of every task as ``eval_<task>/<metric>`` (``eval`` being the evaluation's metric key
prefix), next to the loss metrics; they can drive ``metric_for_best_model`` (e.g. ``"eval_sugarcrepe/overall"``).
Tasks given with their own paths need no ``data_dir``: ``benchmarks=["sugarcrepe=/data/sugarcrepe"]``.

Each task names its primary metric and its direction (`Task.primary_metric`, `Task.greater_is_better`, as
sentence-transformers' evaluators do); a suite of several tasks also logs ``eval_benchmarks/primary_mean``, the mean of
their primary metrics. `BenchmarkSuite.metric_for_best_model` names the one metric that sums the suite up; the trainer
selects on it when ``load_best_model_at_end`` is set with benchmarks and no ``eval_dataset`` (where the default
``"loss"`` does not exist).

The tasks' data are read once, at the first evaluation, and the images' processed pixels are kept between evaluations
(`PixelCache`, up to ``pixel_cache_bytes``): later evaluations only run the model. The model is scored as it is (eval
mode, no gradients), through the same pair scorers as ``cf-vlm eval``. Every process scores the whole suite (identical numbers on each).
"""

from __future__ import annotations

from .images import DEFAULT_MAX_BYTES, PixelCache
from .runner import as_tasks, evaluate_model, load_tasks

PRIMARY_MEAN = "benchmarks/primary_mean"


class BenchmarkSuite:
    """Benchmark tasks to score a model on, with everything needed to read them.

    Args:
        tasks: names ("winoground,sugarcrepe=/data/sc"), a list of names, or `Task` objects.
        data_dir: the folder holding each task's folder.
        processor: the model's processor (default: the trainer's ``processing_class``).
        batch_size: images/texts or sequences per forward.
        progress: show progress bars.
        missing_images, task_options: as for `evaluate_checkpoints`.
        download, cache_dir, force_download: fetch tasks without a local folder into the benchmark cache
            (`cf_vlm_hf.evaluation.tasks.download`).
        pixel_cache_bytes: size limit of the processed pixels kept between evaluations (0: none kept).
        generative_options: how generative VLMs score pairs (``score``, ``caption_prompt``, ...).

    Example::

        >>> suite = BenchmarkSuite("sugarcrepe,winoground", data_dir="benchmarks-data")
        >>> suite(model, processor)
        {'eval_sugarcrepe/add_att/accuracy': 0.71, ..., 'eval_winoground/group': 0.08}
    """

    def __init__(self, tasks, data_dir: str | None = None, processor=None, batch_size: int | None = None,
                 progress: bool = False, missing_images: str = "error", task_options: dict | None = None,
                 download: bool = False, cache_dir: str | None = None, force_download: bool = False,
                 pixel_cache_bytes: int = DEFAULT_MAX_BYTES, **generative_options):
        self.tasks = as_tasks(tasks, missing_images, task_options, download=download, cache_dir=cache_dir,
                              force_download=force_download)
        self.data_dir, self.processor = data_dir, processor
        self.batch_size, self.progress = batch_size, progress
        self.generative_options = generative_options
        self._data = None
        self._pixels = PixelCache(pixel_cache_bytes) if pixel_cache_bytes > 0 else None

    def __call__(self, model, processor=None, prefix: str = "eval") -> dict[str, float]:
        """``{f"{prefix}_{task}/{metric}": value}`` for every float metric of every task that applies."""
        processor = self.processor or processor
        if processor is None:
            raise ValueError("BenchmarkSuite needs the model's processor: pass processor= or processing_class=")
        if self._data is None:
            self._data = load_tasks(self.tasks, self.data_dir)
        results = evaluate_model(model, processor, self.tasks, data=self._data, batch_size=self.batch_size,
                                 pixel_cache=self._pixels, progress=self.progress, **self.generative_options)
        metrics = {f"{prefix}_{task}/{name}": value for task, result in results.items()
                   for name, value in result.metrics.items() if isinstance(value, float)}
        primaries = [metrics.get(f"{prefix}_{name}") for name in self.primary_metrics.values()]
        if len(primaries) > 1 and None not in primaries:
            metrics[f"{prefix}_{PRIMARY_MEAN}"] = sum(primaries) / len(primaries)
        return metrics

    @property
    def primary_metrics(self) -> dict[str, str]:
        """Task name -> ``"<task>/<primary metric>"`` for the tasks that have one."""
        return {task.name: f"{task.name}/{task.primary_metric}" for task in self.tasks if task.primary_metric}

    @property
    def greater_is_better(self) -> bool:
        """The direction of `metric_for_best_model` (a ValueError when the suite's primary metrics disagree)."""
        directions = {task.greater_is_better for task in self.tasks if task.primary_metric}
        if len(directions) > 1:
            raise ValueError("the benchmark tasks' primary metrics point in different directions: set "
                             "metric_for_best_model and greater_is_better yourself")
        return directions.pop() if directions else True

    @property
    def metric_for_best_model(self) -> str | None:
        """``"eval_<task>/<primary>"`` for one task, ``"eval_benchmarks/primary_mean"`` for several, None for none."""
        names = list(self.primary_metrics.values())
        if not names:
            return None
        return f"eval_{names[0]}" if len(names) == 1 else f"eval_{PRIMARY_MEAN}"


def as_benchmark_suite(benchmarks) -> BenchmarkSuite | None:
    """``benchmarks`` as a `BenchmarkSuite` (a suite passes through; names or tasks make one with no data_dir)."""
    if benchmarks is None or isinstance(benchmarks, BenchmarkSuite):
        return benchmarks
    if callable(benchmarks) and not isinstance(benchmarks, (str, list, tuple)):
        return benchmarks  # any callable (model, processor, prefix) -> metrics
    return BenchmarkSuite(benchmarks)
