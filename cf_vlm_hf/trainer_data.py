"""How `CounterfactualTrainer` hands rows to a collator: each row carries its dataset index and the epoch.

With them a collator's errors name the dataset row (not its position in a batch), and a cap's random subset of a
row is a function of (seed, epoch, row index): the same in every dataloader worker, and after a resume.
"""

from __future__ import annotations

import math

import torch
from transformers import TrainerCallback

from .models.batching import EPOCH_KEY, INDEX_KEY


class IndexedRows(torch.utils.data.Dataset):
    """A map-style dataset whose rows are ``{**row, "__index__": i, "__epoch__": epoch}``.

    ``set_epoch`` is called by `EpochToRows` at the start of each epoch, before the dataloader's workers start
    (with ``dataloader_persistent_workers`` they keep the epoch they started with).
    """

    def __init__(self, dataset):
        self.dataset = dataset
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        row = self.dataset[index]
        return {**row, INDEX_KEY: int(index), EPOCH_KEY: self.epoch}

    def __getitems__(self, indices: list[int]) -> list[dict]:
        # datasets' batched access (one Arrow read for the whole batch), when the dataset has it.
        getter = getattr(self.dataset, "__getitems__", None)
        rows = getter(indices) if getter is not None else [self.dataset[i] for i in indices]
        return [{**row, INDEX_KEY: int(i), EPOCH_KEY: self.epoch} for row, i in zip(rows, indices)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)


def with_row_index(dataset):
    """``dataset`` with each row carrying its index: map-style datasets and lists are wrapped in `IndexedRows`; a
    streamed `datasets.IterableDataset` numbers its rows in stream order (the epoch is not known to it)."""
    import datasets

    if dataset is None or isinstance(dataset, IndexedRows):
        return dataset
    if isinstance(dataset, datasets.IterableDataset):
        return dataset.map(lambda row, index: {INDEX_KEY: index}, with_indices=True)
    if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__getitem__"):
        return dataset
    return IndexedRows(dataset)


class EpochToRows(TrainerCallback):
    """At the start of each epoch, tells the training rows which epoch it is."""

    def __init__(self):
        self.rows: IndexedRows | None = None

    def on_epoch_begin(self, args, state, control, **kwargs):
        if self.rows is not None:
            self.rows.set_epoch(math.floor(state.epoch + 1e-6) if state.epoch else 0)
