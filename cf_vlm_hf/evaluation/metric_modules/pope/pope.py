"""POPE's yes/no metrics as an `evaluate` metric (cf-vlm-hf): "yes" is the positive class.

Inputs: ``predictions`` (the model's answers: "yes"/"no" or free text, parsed with POPE's rule — "no" when a word of
the first sentence is "No", "no" or "not") and ``references`` ("yes" or "no"). Outputs: ``accuracy``,
``precision``, ``recall``, ``f1``, ``yes_ratio`` and the counts ``tp``, ``fp``, ``tn``, ``fn``.
"""

import datasets
import evaluate

from cf_vlm_hf.evaluation.metrics import parse_yes_no, yes_no_metrics

_DESCRIPTION = "POPE object-hallucination metrics (Li et al., EMNLP 2023) over yes/no answers."
_INPUTS = """
Args:
    predictions (list of str): answers, parsed with POPE's rule.
    references (list of str): "yes" or "no".
Returns:
    accuracy, precision, recall, f1, yes_ratio (float), tp, fp, tn, fn (int).
"""
_CITATION = """@inproceedings{li2023pope, title={Evaluating Object Hallucination in Large Vision-Language Models},
author={Li, Yifan and others}, booktitle={EMNLP}, year={2023}}"""


class Pope(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        labels = []
        for i, reference in enumerate(references):
            value = reference.strip().lower()
            if value not in ("yes", "no"):
                raise ValueError(f"references[{i}] must be 'yes' or 'no', got {reference!r}")
            labels.append(value == "yes")
        return yes_no_metrics([parse_yes_no(p) for p in predictions], labels)
