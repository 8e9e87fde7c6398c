"""Evaluation: compositional scores of a checkpoint, computed through the training scorers."""

from .counterfactual import WINOGROUND_TYPES, BatchedEmbeddings, evaluate_counterfactual_split, recall_at_1

__all__ = ["WINOGROUND_TYPES", "BatchedEmbeddings", "evaluate_counterfactual_split", "recall_at_1"]
