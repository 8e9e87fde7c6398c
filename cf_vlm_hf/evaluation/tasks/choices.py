"""Scoring :class:`~cf_vlm_hf.evaluation.items.ChoiceItem` s: every (image, candidate) pair of a task in one call."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..items import ChoiceItem
from ..metrics import choice_correct


def choice_scores(scorer, items: Sequence[ChoiceItem]) -> torch.Tensor:
    """(N, C) S(image, candidate) of N items with up to C candidates (``-inf`` where an item has fewer)."""
    pairs = [(item.image, text) for item in items for text in item.texts]
    flat = scorer.score_pairs(pairs).double()
    width = max((len(item.texts) for item in items), default=0)
    out = torch.full((len(items), width), float("-inf"), dtype=torch.float64)
    start = 0
    for n, item in enumerate(items):
        out[n, : len(item.texts)] = flat[start : start + len(item.texts)]
        start += len(item.texts)
    return out


def choice_results(scorer, items: Sequence[ChoiceItem], ties: str = "strict") -> list[bool]:
    """Whether each item's right candidate wins (`cf_vlm_hf.evaluation.metrics.choice_correct`)."""
    if not items:
        return []
    scores = choice_scores(scorer, items)
    return choice_correct(scores, [item.answer for item in items], ties=ties).tolist()
