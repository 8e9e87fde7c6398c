"""How `CounterfactualTrainer` hands rows to a collator: each row carries its dataset index and the epoch.

With them a collator's errors name the dataset row (not its position in a batch), and a cap's random subset of a
row is a function of (seed, epoch, row index): the same in every dataloader worker, and after a resume. The rows
come from `cf_vlm_hf.data.with_row_index`; this module only tells them the epoch.
"""

from __future__ import annotations

import math

import torch
from transformers import TrainerCallback

from .data import IndexedRows, with_row_index


def rows_for_training(dataset):
    """``dataset`` as rows that carry their index (`with_row_index`); other kinds of dataset pass unchanged."""
    import datasets

    if dataset is None or isinstance(dataset, torch.utils.data.IterableDataset) and not isinstance(
            dataset, datasets.IterableDataset):
        return dataset
    if isinstance(dataset, (datasets.Dataset, datasets.IterableDataset, IndexedRows, list, tuple)):
        return with_row_index(dataset)
    return dataset


class EpochToRows(TrainerCallback):
    """At the start of each epoch, tells the training rows which epoch it is."""

    def __init__(self):
        self.rows: IndexedRows | None = None

    def on_epoch_begin(self, args, state, control, **kwargs):
        if self.rows is not None:
            self.rows.set_epoch(math.floor(state.epoch + 1e-6) if state.epoch else 0)
