"""Pairwise accuracy as an `evaluate` metric (cf-vlm-hf): does the positive score beat the negative one(s)?

Inputs: ``positive_scores`` (one float per item) and ``negative_scores`` (one float per item, or a list of floats
per item: the positive must beat every one). ``ties``: "strict" (default: a tie is wrong, SugarCrepe's rule) or
"first" (a tie is right, as an ``argmax`` with the positive first counts it). Outputs: ``accuracy``, ``count``.
"""

import datasets
import evaluate
import torch

from cf_vlm_hf.evaluation.metrics import accuracy, choice_correct

_DESCRIPTION = "Share of items whose positive score beats their negative score(s): SugarCrepe / ARO / VL-CheckList."
_INPUTS = """
Args:
    positive_scores (list of float): the score of the right option of each item.
    negative_scores (list of float, or list of list of float): the score(s) of its wrong option(s).
    ties (str): "strict" (default) or "first".
Returns:
    accuracy (float in [0, 1]), count (int).
"""


class PairwiseAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_INPUTS,
            features=[
                datasets.Features({"positive_scores": datasets.Value("float64"),
                                   "negative_scores": datasets.Value("float64")}),
                datasets.Features({"positive_scores": datasets.Value("float64"),
                                   "negative_scores": datasets.Sequence(datasets.Value("float64"))}),
            ],
        )

    def _compute(self, positive_scores, negative_scores, ties="strict"):
        correct = []
        for positive, negatives in zip(positive_scores, negative_scores):
            negatives = list(negatives) if isinstance(negatives, (list, tuple)) else [negatives]
            row = torch.tensor([[positive, *negatives]], dtype=torch.float64)
            correct.append(bool(choice_correct(row, [0], ties=ties)[0]))
        return {"accuracy": accuracy(correct), "count": len(correct)}
