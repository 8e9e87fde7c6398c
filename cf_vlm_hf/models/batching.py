"""Batch-building helpers both collators share: seeded caps on K and M, and (B, N) index + mask padding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def check_caps(max_counterfactuals: int | None, max_edits: int | None) -> None:
    """ValueError naming the cap that is negative (None means no cap, 0 means none kept)."""
    for name, value in (("max_counterfactuals", max_counterfactuals), ("max_edits", max_edits)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0 or None, got {value}")


class SubsetSampler:
    """Which of a row's ``count`` entries a cap keeps: all of them, or a seeded random subset in original order.

    One generator per collator, drawn from in batch order, so a seed gives the same subsets run after run.
    """

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def __call__(self, count: int, cap: int | None) -> list[int]:
        if cap is None or count <= cap:
            return list(range(count))
        return sorted(self.rng.choice(count, size=cap, replace=False).tolist())


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


def row_name(row, position: int) -> str:
    """How a batch's errors name a row: its ``id``, else its position in the batch."""
    row_id = row.get("id") if hasattr(row, "get") else None
    return str(row_id) if row_id is not None else f"{position} of the batch"
