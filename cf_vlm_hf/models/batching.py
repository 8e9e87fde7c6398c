"""Batch-building helpers both collators share: seeded caps on K and M, (B, N) index + mask padding, row names.

`CounterfactualTrainer` hands collators rows that carry their dataset index (``"__index__"``) and the epoch
(``"__epoch__"``): errors then name the dataset row, and a cap's random subset of a row is a function of
(seed, epoch, row index) — the same in every dataloader worker and after a resume.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def check_caps(max_counterfactuals: int | None, max_edits: int | None) -> None:
    """ValueError naming the cap that is negative (None means no cap, 0 means none kept)."""
    for name, value in (("max_counterfactuals", max_counterfactuals), ("max_edits", max_edits)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0 or None, got {value}")


from ..data.errors import ROW_EPOCH as EPOCH_KEY
from ..data.errors import ROW_INDEX as INDEX_KEY

ROW_KEYS = frozenset({INDEX_KEY, EPOCH_KEY})


class SubsetSampler:
    """Which of a row's ``count`` entries a cap keeps: all of them, or a seeded random subset in original order.

    A row that carries its dataset index gets its own generator, seeded by (seed, epoch, row index, ``stream``):
    the subset does not depend on batch order, dataloader workers or resuming. A row without one draws from one
    generator per collator, in batch order (a seed still gives the same subsets run after run).
    """

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def __call__(self, count: int, cap: int | None, row=None, stream: int = 0) -> list[int]:
        if cap is None or count <= cap:
            return list(range(count))
        rng = self.rng
        if row is not None and row.get(INDEX_KEY) is not None:
            rng = np.random.default_rng([self.seed, int(row.get(EPOCH_KEY) or 0), int(row[INDEX_KEY]), stream])
        return sorted(rng.choice(count, size=cap, replace=False).tolist())


def pad_positions(per_row: Sequence[Sequence[int | None]], fill: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row lists of positions -> (B, N) long index and (B, N) bool mask, N the longest list.

    Padding (and a ``None`` position: an entry that has none) is ``fill``; the mask is True for every listed
    entry, ``None`` ones included.
    """
    width = max((len(entries) for entries in per_row), default=0)
    index = torch.full((len(per_row), width), fill, dtype=torch.long)
    mask = torch.zeros(len(per_row), width, dtype=torch.bool)
    for b, entries in enumerate(per_row):
        for n, position in enumerate(entries):
            if position is not None:
                index[b, n] = position
            mask[b, n] = True
    return index, mask


def row_position(row, position: int) -> int | str:
    """The index an error names a row by: its dataset index when it carries one, else its position in the batch."""
    index = row.get(INDEX_KEY) if hasattr(row, "get") else None
    return int(index) if index is not None else f"{position} of the batch"


def row_name(row, position: int) -> str:
    """How a batch's errors name a row: its ``id``, else its dataset index, else its position in the batch."""
    row_id = row.get("id") if hasattr(row, "get") else None
    return str(row_id) if row_id is not None else str(row_position(row, position))


def row_labels(rows) -> list[str]:
    """``"12 (id 'abc')"`` per row: what a batch-level error lists."""
    labels = []
    for i, row in enumerate(rows):
        label, row_id = str(row_position(row, i)), row.get("id") if hasattr(row, "get") else None
        labels.append(f"{label} (id {row_id!r})" if row_id is not None else label)
    return labels
