"""The build's files, each written atomically: parquet shards in the corpus schema and small JSON records.

A file is written under a hidden temporary name in its own folder, flushed to disk (``fsync``) and renamed over
its final name (``os.replace``, atomic on POSIX), then the folder itself is synced: a reader, or a build restarted
after a kill, sees either the whole file or none. A shard counts as done exactly when its parquet file exists,
so no separate progress record can disagree with the shards. Temporary files a kill left behind start with ``.``
and match no shard pattern; `remove_temporaries` clears them.

Layout of an output folder::

    data/SPLIT-00000.parquet ...      the corpus (what datasets.load_dataset and load_counterfactual_dataset read)
    generation/build.json             the settings the build runs with (a restart must match them)
    generation/shards/SPLIT-00000.json the report of each shard (rows left uneditable, images dropped, ...)
    generation/ranks/rank-R-of-W.json  a process's end-of-stream record
    README.md                         the dataset card
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features, List, Value

from ..data import counterfactual_features

TEMPORARY_MARK = ".tmp-"


def corpus_features() -> Features:
    """The corpus schema with ``edit_captions``, ``id`` and ``negative_captions`` (list of strings)."""
    features = counterfactual_features(with_edit_captions=True, with_id=True)
    if "negative_captions" not in features:
        features["negative_captions"] = List(Value("string"))
    return features


def _sync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(temporary_path)``, then make it ``path`` in one step (see the module docstring)."""
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{name}{TEMPORARY_MARK}{os.getpid()}")
    try:
        write(temporary)
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    _sync_folder(folder)


def write_json(path: str, value) -> None:
    """``value`` as indented, key-sorted JSON at ``path``, atomically."""
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")

    write_atomically(path, write)


def read_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def shard_path(output_dir: str, split: str, index: int) -> str:
    return os.path.join(output_dir, "data", f"{split}-{index:05d}.parquet")


def report_path(output_dir: str, split: str, index: int) -> str:
    return os.path.join(output_dir, "generation", "shards", f"{split}-{index:05d}.json")


def write_shard(path: str, rows: list[dict], features: Features) -> None:
    """``rows`` (images as ``{"bytes", "path"}`` dicts) as one parquet file whose schema carries the features."""
    schema = features.arrow_schema
    table = pa.Table.from_pylist([{name: row[name] for name in features} for row in rows], schema=schema) \
        if rows else schema.empty_table()
    write_atomically(path, lambda temporary: pq.write_table(table, temporary))


def done_shards(output_dir: str, split: str) -> set[int]:
    """Indices of the shards of ``split`` whose parquet file exists (those are complete)."""
    folder = os.path.join(output_dir, "data")
    pattern = re.compile(rf"^{re.escape(split)}-(\d{{5}})\.parquet$")
    if not os.path.isdir(folder):
        return set()
    return {int(m.group(1)) for m in map(pattern.match, os.listdir(folder)) if m}


def remove_temporaries(output_dir: str) -> int:
    """Delete the temporary files a killed build left; returns how many."""
    removed = 0
    for root, _, files in os.walk(output_dir):
        for name in files:
            if name.startswith(".") and TEMPORARY_MARK in name:
                os.remove(os.path.join(root, name))
                removed += 1
    return removed
