"""Loading a counterfactual corpus from wherever it lives, as a validated `datasets` corpus.

Sources (:func:`load_counterfactual_dataset` tells them apart by what is on disk):

- a Hub dataset id, or a local folder of parquet shards (what :func:`save_counterfactual_dataset` writes,
  what ``push_to_hub`` uploads) — both through ``datasets.load_dataset``, so local tests cover the Hub path;
- a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``;
- a parquet file;
- a JSONL (or JSON list) file in our schema whose image fields are paths relative to the file;
- the CF-VLM authors' JSON/JSONL (see :mod:`cf_vlm_hf.data.authors_format`).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from datasets import (
    Dataset,
    DatasetDict,
    IterableDataset,
    IterableDatasetDict,
    load_dataset,
    load_from_disk,
)
from datasets.exceptions import DatasetGenerationError

from .authors_format import iter_annotation_rows
from .rows import CorpusError
from .schema import counterfactual_features
from .validation import validate_counterfactual_dataset

ANNOTATION_SUFFIXES = (".json", ".jsonl")


def load_counterfactual_dataset(
    source: str | os.PathLike,
    split: str | None = None,
    streaming: bool = False,
    on_error: str = "raise",
    allow_outside_root: bool = False,
    rejected_path: str | os.PathLike | None = None,
    decode_images: bool = True,
    **kwargs: Any,
) -> Dataset | DatasetDict | IterableDataset | IterableDatasetDict:
    """Load a counterfactual corpus and validate it.

    Returns a ``Dataset`` with the :func:`counterfactual_features` schema (Image columns), or an
    ``IterableDataset`` when ``streaming`` (rows checked lazily as they stream). When ``split`` is None and the
    source has a single split, that split is returned; several splits give a ``DatasetDict`` (or
    ``IterableDatasetDict``), one validated corpus per split.

    ``on_error``, ``rejected_path`` and ``decode_images`` are those of :func:`validate_counterfactual_dataset`:
    ``"raise"`` stops at the first bad row with a :class:`CorpusError` naming it, ``"skip"`` drops bad rows
    and lists them in ``rejected_path``. An annotation file's image paths must stay inside its folder
    (symlinks followed); a path that escapes raises :class:`CorpusError` naming the row, in either mode,
    unless ``allow_outside_root``. Extra ``kwargs`` go to ``datasets.load_dataset`` (``revision``,
    ``token``, ``cache_dir``, ...).
    """
    raw = _load_raw(os.fspath(source), split, streaming, allow_outside_root, kwargs)
    if isinstance(raw, (DatasetDict, IterableDatasetDict)) and split is None and len(raw) == 1:
        raw = next(iter(raw.values()))
    clean, _ = validate_counterfactual_dataset(raw, on_error, rejected_path, decode_images)
    return clean


def _load_raw(source: str, split: str | None, streaming: bool, allow_outside_root: bool, kwargs: dict):
    if os.path.isfile(source):
        if source.endswith(ANNOTATION_SUFFIXES):
            if split not in (None, "train"):
                raise ValueError(f"an annotation file holds one split ('train'); got split={split!r}")
            return _load_annotation_file(source, streaming, allow_outside_root)
        if source.endswith(".parquet"):
            return load_dataset("parquet", data_files=source, split=split, streaming=streaming, **kwargs)
        raise ValueError(f"cannot load a corpus from {source!r}: expected .parquet, .json or .jsonl")
    if os.path.isdir(source) and _is_saved_to_disk(source):
        loaded = load_from_disk(source)
        if split is not None:
            loaded = loaded[split] if isinstance(loaded, DatasetDict) else _only_split(loaded, split, source)
        if streaming:
            if isinstance(loaded, DatasetDict):
                return IterableDatasetDict({name: part.to_iterable_dataset() for name, part in loaded.items()})
            return loaded.to_iterable_dataset()
        return loaded
    # A Hub id, or a local folder of parquet shards: the same datasets code path.
    if os.path.isdir(source) and not streaming:
        kwargs = dict(kwargs, cache_dir=_local_folder_cache(source, kwargs.get("cache_dir")))
    return load_dataset(source, split=split, streaming=streaming, **kwargs)


def _local_folder_cache(folder: str, cache_dir: str | None) -> str:
    """A `datasets` cache directory of its own for a local folder, keyed by its absolute path and its files.

    ``datasets`` keys the cache of a local folder by its name and data files, not by where it is: two folders
    with the same name (``a/corpus`` and ``b/corpus``) would share one cached copy, and the second would load the
    first's rows. Keying by path, size and modification time of every file gives each folder (and each rewrite
    of it) its own cache.
    """
    import datasets

    parts = [os.path.abspath(folder)]
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            stat = os.stat(os.path.join(root, name))
            parts.append(f"{os.path.relpath(os.path.join(root, name), folder)}|{stat.st_size}|{stat.st_mtime_ns}")
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return os.path.join(cache_dir or datasets.config.HF_DATASETS_CACHE, "cf_vlm_hf_local", key)


def _is_saved_to_disk(folder: str) -> bool:
    return any(os.path.isfile(os.path.join(folder, name)) for name in ("dataset_dict.json", "state.json"))


def _only_split(dataset: Dataset, split: str, source: str) -> Dataset:
    if str(dataset.split or "train") != split:
        raise ValueError(f"{source!r} holds a single split {str(dataset.split)!r}, not {split!r}")
    return dataset


def _load_annotation_file(path: str, streaming: bool, allow_outside_root: bool):
    """Return the annotation file's rows as a Dataset (or IterableDataset) of the corpus schema, unvalidated."""
    features = counterfactual_features()
    gen_kwargs = {"path": os.path.abspath(path), "allow_outside_root": allow_outside_root}
    if streaming:
        return IterableDataset.from_generator(iter_annotation_rows, features=features, gen_kwargs=gen_kwargs)
    stat = os.stat(path)
    # The cache key must change when the file does; datasets cannot hash the file's contents by itself.
    key = f"{gen_kwargs['path']}|{stat.st_mtime_ns}|{stat.st_size}|{allow_outside_root}|{sorted(features)}"
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:32]
    try:
        return Dataset.from_generator(
            iter_annotation_rows, features=features, gen_kwargs=gen_kwargs, fingerprint=fingerprint
        )
    except DatasetGenerationError as err:
        # datasets wraps errors raised inside the generator; surface ours (bad path, bad JSON line) as is.
        cause = err.__cause__ or err.__context__
        while cause is not None and not isinstance(cause, CorpusError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise
