"""Rows that know their dataset index, so that an error deep in training names the row a user can look up.

A collator sees rows, not their positions in the dataset, and ``datasets`` decodes images before the collator
sees them: a corrupt image in a lazily read parquet shard fails inside ``datasets`` with no row named.
:func:`with_row_index` fixes both. Each row it gives carries its dataset index under :data:`ROW_INDEX`
(``"__index__"``), which :func:`~cf_vlm_hf.data.check_row` (and so every collator that calls it) uses to name the
row, and its images still encoded (``{"bytes", "path"}`` dicts), so that ``check_row`` decodes them and an
undecodable one is reported as ``row 1234 (id 'x'), field 'cf_images[1]': image cannot be decoded (...)``.

The trainer uses it like this (``remove_unused_columns=False`` keeps ``__index__`` for the collator)::

    >>> from cf_vlm_hf.data import with_row_index
    >>> rows = with_row_index(train_dataset)     # a Dataset view, or an IterableDataset for a streamed corpus
    >>> rows[3]["__index__"]
    3
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datasets import Dataset, DatasetDict, Features, IterableDataset, IterableDatasetDict, Value

from .errors import ROW_EPOCH, ROW_INDEX
from .rows import check_row
from .schema import without_decoding


class IndexedRows:
    """A map-style view of a corpus whose rows carry :data:`ROW_INDEX`, :data:`ROW_EPOCH` and encoded images.

    It has what ``torch.utils.data.DataLoader`` and ``transformers.Trainer`` use (``len``, ``__getitem__``,
    ``__getitems__``) and reads a ``datasets.Dataset`` as Arrow (``datasets`` decodes nothing); a list of rows (or
    any sequence of row dicts) is read as it is. With ``decode_images`` the rows are checked and decoded by
    :func:`~cf_vlm_hf.data.check_row` (RGB PIL images), each error naming its row. ``set_epoch`` (called by the
    trainer at the start of each epoch, before dataloader workers start) sets what the rows say in
    :data:`ROW_EPOCH`.

    Args:
        dataset: the corpus.
        decode_images: decode here instead of leaving it to the collator's ``check_row``.
    """

    def __init__(self, dataset, decode_images: bool = False):
        self.dataset = dataset
        self.decode_images = decode_images
        self.epoch = 0
        self._arrow = dataset.with_format("arrow") if isinstance(dataset, Dataset) else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def column_names(self) -> list[str]:
        return [*getattr(self.dataset, "column_names", []), ROW_INDEX, ROW_EPOCH]

    @property
    def features(self) -> Features:
        features = self.dataset.features if self.decode_images else without_decoding(self.dataset.features)
        features[ROW_INDEX] = Value("int64")
        features[ROW_EPOCH] = Value("int64")
        return features

    def _index(self, index: int) -> int:
        if not isinstance(index, int) and not hasattr(index, "__index__"):
            raise TypeError(f"rows are indexed by integers, got {type(index).__name__}")
        index = int(index)
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"row {index} is out of range for a corpus of {size} rows")
        return index % size

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Iterable[int]) -> list[dict[str, Any]]:
        indices = [self._index(i) for i in indices]
        if self._arrow is not None:
            rows = self._arrow[indices].to_pylist()
        else:
            rows = [dict(self.dataset[i]) for i in indices]
        for index, row in zip(indices, rows):
            row[ROW_INDEX] = index
            row[ROW_EPOCH] = self.epoch
        if self.decode_images:
            rows = [check_row(row, index) for index, row in zip(indices, rows)]
        return rows

    def __iter__(self):
        for start in range(0, len(self), 64):
            yield from self.__getitems__(range(start, min(start + 64, len(self))))

    def __repr__(self) -> str:
        return f"IndexedRows({self.dataset!r})"


def _add_index(row: dict[str, Any], index: int) -> dict[str, Any]:
    return {ROW_INDEX: index}


def with_row_index(dataset, decode_images: bool = False):
    """Return ``dataset`` giving rows that carry their dataset index (:data:`ROW_INDEX`) and encoded images.

    - ``Dataset``, or a list of row dicts: an :class:`IndexedRows` view (no copy, nothing rewritten);
    - ``IterableDataset``: the same stream with ``datasets``' decoding off and ``__index__`` added; the index is
      the row's position in the stream as one process reads it (with several DataLoader workers, its position
      in that worker's shards);
    - ``DatasetDict``/``IterableDatasetDict``: a dict of the above, per split.

    A collator that calls :func:`~cf_vlm_hf.data.check_row` then names every bad row by this index.
    """
    if isinstance(dataset, (DatasetDict, IterableDatasetDict)):
        return {split: with_row_index(part, decode_images) for split, part in dataset.items()}
    if isinstance(dataset, IndexedRows):
        return dataset
    if isinstance(dataset, (Dataset, list, tuple)):
        return IndexedRows(dataset, decode_images)
    if isinstance(dataset, IterableDataset):
        features = dataset.features
        stream = dataset.decode(False)
        if features is not None:
            features = without_decoding(features)
            features[ROW_INDEX] = Value("int64")
        stream = stream.map(_add_index, with_indices=True, features=features)
        if decode_images:
            stream = stream.map(lambda row: check_row(row), features=None)
        return stream
    raise TypeError(f"with_row_index expects a datasets Dataset or IterableDataset, got {type(dataset).__name__}")
