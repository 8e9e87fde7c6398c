"""Saving a corpus as the Hub lays datasets out: ``data/SPLIT-0000i-of-0000n.parquet`` shards and a ``README.md`` card.

Images are embedded as bytes, so the folder is self-contained: ``load_counterfactual_dataset(folder)``,
``datasets.load_dataset(folder)`` or ``load_dataset("parquet", data_files=...)`` read it back, and
``huggingface_hub.upload_folder`` publishes it as is. Embedding reads the files that path-backed images name, so a
saved corpus could carry away any file the process can read: each such path must lie under the corpus root (the
root the corpus was loaded with, or ``root=``, or the working directory) unless ``allow_outside_root``.
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow.parquet as pq
from datasets import Dataset, DatasetDict
from datasets.table import embed_table_storage, table_cast
from datasets.utils.py_utils import convert_file_size_to_int

from .card import CorpusStatistics, corpus_card
from .columns import cast_to_schema
from .errors import describe_row
from .paths import PathPolicy, image_path, local_root, recorded_policy, resolve_table_paths
from .rows import IMAGE_LIST_COLUMNS

_BATCH_ROWS = 32


def save_counterfactual_dataset(
    dataset: Dataset | DatasetDict,
    folder: str | os.PathLike,
    max_shard_size: int | str = "500MB",
    source: str | None = None,
    pretty_name: str | None = None,
    *,
    root: str | os.PathLike | None = None,
    allow_outside_root: bool = False,
    license: str | None = None,
    generation: dict | None = None,
) -> list[str]:
    """Write ``dataset`` as parquet shards of at most ``max_shard_size`` under ``folder/data/`` plus a card.

    A ``Dataset`` is saved as split ``train``; a ``DatasetDict`` as one file prefix per split. Shard size is
    counted in uncompressed Arrow bytes with images embedded, as ``push_to_hub`` counts it (a single row
    larger than the limit still gets its own shard). ``source`` (where the corpus came from) goes into the
    card, with ``license`` (a Hub license id) and ``generation`` (the settings that made it). Existing shards of the same splits are replaced once every split is written (a failure leaves the folder
    as it was). Returns the shard paths written.

    Path-backed images (no bytes) are embedded only from under the corpus root: ``root``, else the root
    :func:`load_counterfactual_dataset` checked this very object against, else the working directory; a path
    outside raises :class:`CorpusError` naming the row and field unless
    ``allow_outside_root``. Rows are not otherwise validated here: run :func:`validate_counterfactual_dataset` first.
    """
    splits = dataset if isinstance(dataset, DatasetDict) else {"train": dataset}
    policies = {name: _save_policy(part, dataset, root, allow_outside_root) for name, part in splits.items()}
    limit = convert_file_size_to_int(max_shard_size)
    data_dir = os.path.join(os.fspath(folder), "data")
    os.makedirs(data_dir, exist_ok=True)

    writers, statistics, data_files = [], {}, {}
    try:
        for split, part in splits.items():
            statistics[split] = CorpusStatistics()
            writers.append(_write_shards(cast_to_schema(part), data_dir, split, limit, statistics[split],
                                         policies[split]))
            data_files[split] = f"data/{split}-*"
    except BaseException:
        for writer in writers:
            writer.discard()
        raise
    written = []
    for writer in writers:
        for name in os.listdir(data_dir):
            if name.startswith(f"{writer.split}-") and name.endswith(".parquet"):
                os.remove(os.path.join(data_dir, name))
        written += writer.finish()

    card = corpus_card(statistics, data_files, source=source, pretty_name=pretty_name, license=license,
                       generation=generation)
    card.save(os.path.join(os.fspath(folder), "README.md"))
    return written


class _ShardWriter:
    """Parquet files ``SPLIT-i.parquet.partial`` opened one after the other; renamed to ``-of-N`` at the end."""

    def __init__(self, data_dir: str, split: str, schema: Any):
        self.data_dir, self.split, self.schema = data_dir, split, schema
        self.paths: list[str] = []
        self.writer = None

    def write(self, table) -> None:
        """Append ``table`` to the open shard, opening a new one if the last was closed."""
        if self.writer is None:
            self.paths.append(os.path.join(self.data_dir, f"{self.split}-{len(self.paths):05d}.parquet.partial"))
            self.writer = pq.ParquetWriter(self.paths[-1], self.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self) -> list[str]:
        self.close()
        final = []
        for i, path in enumerate(self.paths):
            final.append(os.path.join(self.data_dir, f"{self.split}-{i:05d}-of-{len(self.paths):05d}.parquet"))
            os.replace(path, final[-1])
        return final

    def discard(self) -> None:
        self.close()
        for path in self.paths:
            if os.path.exists(path):
                os.remove(path)


def _save_policy(part, whole, root, allow_outside_root: bool) -> PathPolicy:
    if root is not None:
        return PathPolicy(None, (local_root(root),), "the root", allow_outside_root)
    loaded = recorded_policy(part) or recorded_policy(whole)
    if loaded is not None and loaded.roots:
        return PathPolicy(None, loaded.roots, loaded.label, allow_outside_root)
    return PathPolicy(None, (local_root(os.getcwd()),), "the working directory", allow_outside_root)


def _check_embedded_paths(rows: list[dict[str, Any]], start: int, policy: PathPolicy) -> bool:
    """Raise CorpusError for a path-backed image outside the root (embedding would copy that file); return whether
    some path must be replaced by its normalised form before it is read."""
    rewrite = False
    for offset, row in enumerate(rows):
        where = describe_row(row, start + offset)
        refs = [("image", row.get("image"))]
        refs += [(f"{name}[{k}]", v) for name in IMAGE_LIST_COLUMNS for k, v in enumerate(row.get(name) or [])]
        for field, value in refs:
            path = image_path(value)
            if path is not None:
                rewrite |= policy.needs_rewrite(path, policy.resolve(path, f"{where}, field '{field}'"))
    return rewrite


def _write_shards(
    dataset: Dataset, data_dir: str, split: str, limit: int, stats: CorpusStatistics, policy: PathPolicy
) -> _ShardWriter:
    """Write one split's ``.partial`` shards (renamed by the caller once every split is written)."""
    # The schema carries the `datasets` features (Image columns) in its metadata, so loaders see Image, not structs.
    schema = dataset.features.arrow_schema
    shards = _ShardWriter(data_dir, split, schema)
    shard_size = 0
    try:
        start = 0
        for batch in dataset.with_format("arrow").iter(batch_size=_BATCH_ROWS):
            rows = batch.to_pylist()
            if _check_embedded_paths(rows, start, policy):
                batch = resolve_table_paths(batch, policy)
            start += len(rows)
            stats.add_rows(rows)
            table = table_cast(embed_table_storage(batch), schema)  # path-backed images become bytes
            run_start = 0
            for i in range(table.num_rows):
                row_size = table.slice(i, 1).nbytes
                if shard_size > 0 and shard_size + row_size > limit:
                    if i > run_start:
                        shards.write(table.slice(run_start, i - run_start))
                    shards.close()  # the next write opens a new shard
                    shard_size, run_start = 0, i
                shard_size += row_size
            if table.num_rows > run_start:
                shards.write(table.slice(run_start))
        if not shards.paths:  # an empty split still gets one (empty) shard, so it loads
            shards.write(schema.empty_table())
    except BaseException:
        shards.discard()
        raise
    return shards
