"""Winoground's text, image and group scores as an `evaluate` metric (cf-vlm-hf).

Inputs, one value per example, s(C_i, I_j) being the score of caption i on image j (caption k describes image k):
``c0_i0``, ``c0_i1``, ``c1_i0``, ``c1_i1``. Outputs: ``text_score``, ``image_score``, ``group_score`` (fractions
in [0, 1]; the paper reports them x100) and ``count``. Strict inequalities, as the authors define them.
"""

import datasets
import evaluate
import torch

from cf_vlm_hf.evaluation.metrics import accuracy, winoground_scores

_DESCRIPTION = "Winoground text / image / group scores (Thrush et al., CVPR 2022) from the four scores of each example."
_INPUTS = """
Args:
    c0_i0, c0_i1, c1_i0, c1_i1 (list of float): s(caption i, image j) of each example.
Returns:
    text_score, image_score, group_score (float in [0, 1]), count (int).
"""
_CITATION = """@inproceedings{thrush2022winoground, title={Winoground: Probing Vision and Language Models for
Visio-Linguistic Compositionality}, author={Thrush, Tristan and others}, booktitle={CVPR}, year={2022}}"""


class Winoground(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_INPUTS,
            features=datasets.Features({name: datasets.Value("float64")
                                        for name in ("c0_i0", "c0_i1", "c1_i0", "c1_i1")}),
        )

    def _compute(self, c0_i0, c0_i1, c1_i0, c1_i1):
        scores = torch.tensor([[[a, b], [c, d]] for a, b, c, d in zip(c0_i0, c0_i1, c1_i0, c1_i1)],
                              dtype=torch.float64).reshape(-1, 2, 2)
        wins = winoground_scores(scores)
        return {"text_score": accuracy(wins["text"]), "image_score": accuracy(wins["image"]),
                "group_score": accuracy(wins["group"]), "count": len(c0_i0)}
