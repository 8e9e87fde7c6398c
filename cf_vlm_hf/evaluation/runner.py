"""The Python API of ``cf-vlm eval``: several checkpoints on several tasks, side by side, with provenance.

    >>> from cf_vlm_hf.evaluation import evaluate_checkpoints
    >>> report = evaluate_checkpoints(["openai/clip-vit-base-patch32", "out/cf-vlm"], ["sugarcrepe", "winoground"],
    ...                               data_dir="benchmarks-data", output_dir="eval-out")
    >>> report.results["sugarcrepe"]["cf-vlm"]["overall/micro"]
    0.842

Every task's data is read (and checked) once, before any model loads; then each model loads in turn (a LoRA adapter
folder with its base model, merged), scores every task through its family's pair scorer, and is freed. Processed
pixels are shared between models of the same image processor (`cf_vlm_hf.evaluation.images.PixelCache`).
`evaluate_model` does the same for a model already in memory (what training-time evaluation uses).
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections.abc import Sequence
from typing import Any

import torch

from ..models import core_model, model_family
from .images import DEFAULT_MAX_BYTES, PixelCache
from .report import write_report
from .results import EvaluationReport
from .scoring import NotApplicable, build_pair_scorer
from .tasks import Task, TaskData, TaskResult, parse_tasks

WEIGHT_FILES = (".safetensors", ".json", ".bin", ".model", ".txt", ".jinja")
FULL_HASH_LIMIT = 2 * 1024**3


def as_tasks(tasks, missing_images: str = "error", task_options: dict | None = None, **fetching) -> list[Task]:
    """Task objects from names ("a,b=PATH"), a list of names, or Task objects.

    ``fetching`` (``download``, ``cache_dir``, ``force_download``) goes to the tasks made from names.
    """
    if isinstance(tasks, Task):
        return [tasks]
    if isinstance(tasks, str):
        return parse_tasks(tasks, task_options, missing_images=missing_images, **fetching)
    out = []
    for task in tasks:
        out += [task] if isinstance(task, Task) else parse_tasks(task, task_options, missing_images=missing_images,
                                                                 **fetching)
    return out


def load_tasks(tasks: Sequence[Task], data_dir: str | None) -> dict[str, TaskData]:
    """Every task's data, read once (a malformed file fails here, before any model loads)."""
    names = [task.name for task in tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"task(s) {duplicates} given twice")
    return {task.name: task.load(data_dir) for task in tasks}


def run_tasks(scorer, tasks: Sequence[Task], data: dict[str, TaskData]):
    """(task, result, seconds) for each task; a task that does not apply to the model is skipped with its reason."""
    for task in tasks:
        start = time.perf_counter()
        try:
            result = task.evaluate(scorer, data[task.name])
        except NotApplicable as reason:
            result = TaskResult(skipped=str(reason))
        yield task, result, time.perf_counter() - start


def evaluate_model(model, processor, tasks, data_dir: str | None = None, *, data: dict[str, TaskData] | None = None,
                   batch_size: int | None = None, pixel_cache: PixelCache | None = None, progress: bool = True,
                   **generative_options) -> dict[str, TaskResult]:
    """Scores of one in-memory model on ``tasks`` (names or Task objects): task name -> `TaskResult`.

    ``data`` (task name -> `TaskData`) reuses data already read. The model is put in eval mode for the duration.
    """
    tasks = as_tasks(tasks)
    data = data if data is not None else load_tasks(tasks, data_dir)
    was_training = model.training
    model.eval()
    try:
        scorer = build_pair_scorer(model, processor, batch_size, pixel_cache, progress, **generative_options)
        return {task.name: result for task, result, _ in run_tasks(scorer, tasks, data)}
    finally:
        model.train(was_training)


def evaluate_checkpoints(
    models: Sequence[str] | str,
    tasks,
    data_dir: str | None = None,
    output_dir: str | None = None,
    *,
    labels: Sequence[str] | None = None,
    base_model: str | None = None,
    revision: str | None = None,
    dtype: str = "auto",
    trust_remote_code: bool = False,
    device: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    missing_images: str = "error",
    task_options: dict[str, dict] | None = None,
    pixel_cache_bytes: int = DEFAULT_MAX_BYTES,
    download: bool = False,
    cache_dir: str | None = None,
    force_download: bool = False,
    **generative_options,
) -> EvaluationReport:
    """Evaluate checkpoints (Hub ids or folders, LoRA adapter folders included) on tasks, side by side.

    Args:
        models: one or more checkpoints; the first is the reference the tables compare the others with.
        tasks: "winoground,sugarcrepe=/data/sc", a list of names, or `Task` objects.
        data_dir: the folder holding each task's folder (``<data_dir>/<task>``).
        output_dir: where results.json, results.md and results.png go (None: nothing written).
        labels: column names (default: the checkpoints' folder names / Hub ids).
        base_model: the base of LoRA adapter folders that record none (or to override it).
        revision, dtype, trust_remote_code: how checkpoints load (`cf_vlm_hf.models.loading`).
        device: default "cuda" when available, else "cpu".
        batch_size: images/texts (dual encoders) or sequences (generative VLMs) per forward.
        missing_images: "error" or "skip" (left out and counted in the results).
        task_options: task name -> its options (e.g. ``{"pope": {"answer_mode": "generate"}}``).
        pixel_cache_bytes: size limit of the processed-pixel cache shared across models (0: no cache).
        download: fetch each task that has no local folder into ``cache_dir`` (`cf_vlm_hf.evaluation.tasks.download`).
        cache_dir: where downloaded benchmarks go (default ``$HF_HOME/cf_vlm_hf/benchmarks``).
        force_download: fetch the tasks' files anew even when the cache has them.
        generative_options: how generative VLMs score pairs (``score``, ``caption_prompt``, ``yes_question``,
            ``yes_answer``, ``max_matrix_pairs``).
    """
    from ..models.loading import load_model_and_processor

    models = [models] if isinstance(models, str) else list(models)
    if not models:
        raise ValueError("no model given")
    labels = list(labels) if labels else unique_labels(models)
    if len(labels) != len(models):
        raise ValueError(f"{len(labels)} labels for {len(models)} models")
    tasks = as_tasks(tasks, missing_images, task_options, download=download, cache_dir=cache_dir,
                     force_download=force_download)
    data = load_tasks(tasks, data_dir)
    report = EvaluationReport()
    for task in tasks:
        report.tasks[task.name] = task.provenance(data[task.name])
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cache = PixelCache(pixel_cache_bytes) if pixel_cache_bytes > 0 else None
    for name, label in zip(models, labels):
        model, processor = load_model_and_processor(name, revision=revision, dtype=dtype, base_model=base_model,
                                                    trust_remote_code=trust_remote_code, adapter="merged")
        model = model.to(device).eval()
        report.models.append(model_record(name, label, model, revision, base_model))
        scorer = build_pair_scorer(model, processor, batch_size, cache, progress, **generative_options)
        report.models[-1]["scorer"] = scorer.describe()
        hits, misses = (cache.hits, cache.misses) if cache is not None else (0, 0)
        for task, result, seconds in run_tasks(scorer, tasks, data):
            report.add(label, task, result, seconds)
        if cache is not None:  # image-processor passes this model reused from earlier models / ran itself
            report.models[-1]["pixel_cache"] = {"images_reused": cache.hits - hits,
                                                "images_processed": cache.misses - misses}
        del model, scorer
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if output_dir:
        write_report(report, output_dir)
    return report


def unique_labels(models: Sequence[str]) -> list[str]:
    """Column names: each checkpoint's last path component (or Hub id), made unique with #2, #3, ..."""
    labels = []
    for name in models:
        base = os.path.basename(os.path.normpath(name)) if os.path.exists(name) else name
        label, n = base, 2
        while label in labels:
            label, n = f"{base}#{n}", n + 1
        labels.append(label)
    return labels


def model_record(name: str, label: str, model, revision: str | None, base_model: str | None) -> dict[str, Any]:
    """What identifies the evaluated weights: class, family, Hub commit or a hash of the local files."""
    from ..models.loading import adapter_base_model, is_adapter_folder

    config = getattr(core_model(model), "config", None)
    record: dict[str, Any] = {"label": label, "name": name, "class": type(core_model(model)).__name__,
                              "family": model_family(model), "requested_revision": revision,
                              "commit": getattr(config, "_commit_hash", None)}
    if os.path.isdir(name):
        record["local_files"] = folder_fingerprint(name)
        if is_adapter_folder(name):
            base = base_model or adapter_base_model(name)
            record["adapter"] = {"base_model": base, "merged": True,
                                 "base_files": folder_fingerprint(base) if base and os.path.isdir(base) else None}
    return record


def folder_fingerprint(folder: str) -> dict[str, Any]:
    """sha256 over a checkpoint folder's weight and config files (sizes and the first/last 16 MiB of each beyond
    2 GiB in total, said in ``method``)."""
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                   if f.endswith(WEIGHT_FILES) and os.path.isfile(os.path.join(folder, f)))
    total = sum(os.path.getsize(p) for p in paths)
    full = total <= FULL_HASH_LIMIT
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.path.basename(path).encode() + b"\0" + str(os.path.getsize(path)).encode() + b"\0")
        with open(path, "rb") as f:
            if full:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            else:
                digest.update(f.read(16 << 20))
                f.seek(max(0, os.path.getsize(path) - (16 << 20)))
                digest.update(f.read())
    return {"sha256": digest.hexdigest(), "files": [os.path.basename(p) for p in paths], "bytes": total,
            "method": "full contents" if full else "sizes + first and last 16 MiB of each file"}
