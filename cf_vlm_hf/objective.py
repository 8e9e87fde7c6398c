"""What a `CounterfactualConfig` means: the loss terms, their form and weight, and what a batch must carry.

The config names the choices (``objective``, ``scenario_pairing``, ``fcd_reduction``, ``align_counterfactuals``,
``align_edits``, weights and margins); this module is the one place that turns them into

* a :class:`~cf_vlm_hf.models.BatchPlan`: what the collator puts in a batch (and so what the model encodes);
* the terms of the total loss ``L = w_align L_align + w_csd L_csd + w_fcd L_fcd``, each a function of the scores
  a scorer returns (`cf_vlm_hf.losses` holds the math);
* the logged metrics: the three loss terms and two discrimination accuracies.

The objectives: ``"cf-vlm"`` (all three terms), ``"clip"`` (L_align alone on the factual pairs: plain fine-tuning)
and ``"negclip"`` (L_align with the counterfactual and edit captions as extra hard negatives, NegCLIP-style).

Negative captions (the corpus's ``negative_captions``: captions with no image of their own) are text-only
counterfactuals of the anchor image: under ``"cf-vlm"`` each is one more item of the anchor's L_csd, the text-side
hinge h(m1 - S(I,T) + S(I,T_n)), averaged with the anchor's counterfactual items (each valued as its form says);
under ``"negclip"`` they are extra text negatives of L_align. A batch without any gives exactly the paper's forms.

Global means: L_csd and L_fcd average over the anchors that have counterfactuals (edits). Under data parallelism
each rank's mean is re-weighted so that DDP's average over ranks is the mean over all such anchors of the global
batch; every rank takes part in that count's all-reduce whenever the config uses the term (a rank whose batch
lacks counterfactuals counts 0), so collectives always match, and such a batch contributes an exact zero that
still carries a graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .losses import (
    causal_discrimination_loss,
    cross_scenario_discrimination_loss,
    masked_item_mean,
    negative_caption_hinges,
    scenario_discrimination_loss,
    scenario_item_hinges,
    symmetric_scenario_discrimination_loss,
)
from .models.base import BatchPlan, CounterfactualScores, Scorer
from .parallel.distributed import global_mean_weight

# Logged metrics: losses are averaged over steps, accuracies over items (anchor-counterfactual pairs, anchors).
METRICS = ("align_loss", "csd_loss", "fcd_loss", "csd_accuracy", "fcd_accuracy")

ScenarioForm = Callable[[CounterfactualScores, float], torch.Tensor]


def _paper_form(scores: CounterfactualScores, margin: float) -> torch.Tensor:
    return scenario_discrimination_loss(scores.anchor, scores.cf, scores.cf_mask, margin)


def _cross_form(scores: CounterfactualScores, margin: float) -> torch.Tensor:
    return cross_scenario_discrimination_loss(
        scores.anchor, scores.anchor_image_cf_text, scores.cf_image_anchor_text, scores.cf_mask, margin
    )


def _symmetric_form(scores: CounterfactualScores, margin: float) -> torch.Tensor:
    return symmetric_scenario_discrimination_loss(
        scores.anchor, scores.cf, scores.anchor_image_cf_text, scores.cf_image_anchor_text, scores.cf_mask, margin
    )


# The forms of L_csd, by `scenario_pairing` (the config's SCENARIO_PAIRINGS names them).
SCENARIO_FORMS: dict[str, ScenarioForm] = {"paper": _paper_form, "cross": _cross_form, "symmetric": _symmetric_form}


def scenario_loss(scores: CounterfactualScores, form: str, margin: float) -> torch.Tensor:
    """L_csd of one batch in ``form``, its negative captions (if any) as text-side items of their anchors."""
    if scores.negative is None:
        return SCENARIO_FORMS[form](scores, margin)
    hinges = [negative_caption_hinges(scores.anchor, scores.negative, margin)]
    masks = [scores.negative_mask.bool()]
    if scores.cf is not None:
        hinges.insert(0, scenario_item_hinges(scores.anchor, form, scores.cf, scores.anchor_image_cf_text,
                                              scores.cf_image_anchor_text, margin))
        masks.insert(0, scores.cf_mask.bool())
    return masked_item_mean(torch.cat(hinges, dim=1), torch.cat(masks, dim=1))


def scenario_items(scores: CounterfactualScores) -> torch.Tensor | None:
    """(B, K + N) mask of L_csd's items: counterfactual pairs and negative captions (None when there are none)."""
    masks = [m.bool() for m in (scores.cf_mask if scores.cf is not None else None, scores.negative_mask)
             if m is not None]
    return torch.cat(masks, dim=1) if masks else None


def loss_weights(config) -> dict[str, float]:
    """The weights the objective actually uses: the baselines train L_align alone."""
    if config.objective == "cf-vlm":
        return {"align": config.align_weight, "csd": config.csd_weight, "fcd": config.fcd_weight}
    return {"align": config.align_weight, "csd": 0.0, "fcd": 0.0}


def batch_plan(config) -> BatchPlan:
    """What a batch must carry under ``config`` (a `CounterfactualConfig`)."""
    cf_vlm, negclip = config.objective == "cf-vlm", config.objective == "negclip"
    weights = loss_weights(config)
    align_counterfactuals = cf_vlm and config.align_counterfactuals
    align_edits = cf_vlm and config.align_edits
    needs_counterfactuals = negclip or (cf_vlm and (weights["csd"] > 0 or align_counterfactuals))
    needs_edit_images = cf_vlm and (weights["fcd"] > 0 or align_edits)
    return BatchPlan(
        max_counterfactuals=config.max_counterfactuals if needs_counterfactuals else 0,
        max_edits=config.max_edits if (needs_edit_images or negclip) else 0,
        counterfactual_images=cf_vlm,
        cross_pairs=cf_vlm and weights["csd"] > 0 and config.scenario_pairing != "paper",
        edit_images=needs_edit_images,
        edit_captions="required" if align_edits else negclip,
        negative_captions=negclip or (cf_vlm and weights["csd"] > 0),
        alignment=weights["align"] > 0,
        hard_negative_captions=negclip,
        align_counterfactuals=align_counterfactuals,
        align_edits=align_edits,
        seed=config.seed,
    )


def discrimination_accuracies(scores: CounterfactualScores) -> dict[str, tuple[float, int]]:
    """(number correct, number of items) per accuracy, from detached scores.

    csd: each valid (anchor, k) with S(I,T) > S(I'_k,T'_k), and each negative caption with S(I,T) > S(I,T_n); fcd:
    each anchor with edits whose S(I,T) beats every S(E_j,T).
    """
    out = {}
    anchor = scores.anchor.detach()
    correct, items = 0, 0
    for values, mask in ((scores.cf, scores.cf_mask), (scores.negative, scores.negative_mask)):
        if values is not None:
            correct += ((anchor.unsqueeze(1) > values.detach()) & mask).sum().item()
            items += int(mask.sum().item())
    if scores.cf is not None or scores.negative is not None:
        out["csd_accuracy"] = (correct, items)
    if scores.edit is not None:
        has_edit = scores.edit_mask.any(dim=1)
        hardest = scores.edit.detach().masked_fill(~scores.edit_mask, float("-inf")).max(dim=1).values
        out["fcd_accuracy"] = (((anchor > hardest) & has_edit).sum().item(), int(has_edit.sum().item()))
    return out


@dataclass
class ObjectiveOutput:
    """The total loss of a batch, its unweighted terms (``"align"``, ``"csd"``, ``"fcd"``) and its accuracies
    (``name -> (correct, items)``)."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    accuracies: dict[str, tuple[float, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _MarginTerm:
    name: str  # "csd" or "fcd"
    loss: Callable[[CounterfactualScores], torch.Tensor]
    present: Callable[[CounterfactualScores], torch.Tensor | None]  # the (B, N) mask of its items, or None


class Objective:
    """The CF-VLM objective (or a baseline) a `CounterfactualConfig` describes.

    Attributes:
        weights: ``{"align", "csd", "fcd"} -> weight`` (the baselines' margin weights are 0).
        plan: the `BatchPlan` collators are built from.

    Example::

        >>> objective = Objective(CounterfactualConfig(output_dir="out", scenario_pairing="cross"))
        >>> out = objective(scorer.score(model, batch), scorer)
        >>> out.loss, out.terms["csd"], out.accuracies["fcd_accuracy"]
    """

    def __init__(self, config):
        self.weights = loss_weights(config)
        self.plan = batch_plan(config)
        form = config.scenario_pairing
        csd_margin, fcd_margin, reduction = config.csd_margin, config.fcd_margin, config.fcd_reduction
        terms = [
            _MarginTerm("csd", lambda s: scenario_loss(s, form, csd_margin), scenario_items),
            _MarginTerm(
                "fcd",
                lambda s: causal_discrimination_loss(s.anchor, s.edit, s.edit_mask, fcd_margin, reduction=reduction),
                lambda s: None if s.edit is None else s.edit_mask,
            ),
        ]
        self.margin_terms = [term for term in terms if self.weights[term.name] > 0]

    def __call__(self, scores: CounterfactualScores, scorer: Scorer) -> ObjectiveOutput:
        """The weighted sum of L_align, L_csd and L_fcd on one batch's scores."""
        terms = {"align": scorer.alignment_loss(scores)}
        for term in self.margin_terms:
            mask = term.present(scores)
            valid = 0 if mask is None else int(mask.any(dim=1).sum().item())
            factor = global_mean_weight(valid, scores.anchor.device)  # a collective: every rank, every step
            terms[term.name] = term.loss(scores) * factor if mask is not None else scores.anchor.sum() * 0.0
        loss = sum(self.weights[name] * value for name, value in terms.items())
        return ObjectiveOutput(loss=loss, terms=terms, accuracies=discrimination_accuracies(scores))
