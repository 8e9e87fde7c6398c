"""`cf_vlm_hf.objective`: what each config puts in a batch, and the loss it computes from a batch's scores."""

import pytest
import torch

from cf_vlm_hf import CounterfactualConfig
from cf_vlm_hf.config import SCENARIO_PAIRINGS
from cf_vlm_hf.losses import (
    causal_discrimination_loss,
    cross_scenario_discrimination_loss,
    scenario_discrimination_loss,
    symmetric_scenario_discrimination_loss,
)
from cf_vlm_hf.models import CounterfactualScores
from cf_vlm_hf.objective import SCENARIO_FORMS, Objective, batch_plan


def config(**overrides):
    return CounterfactualConfig(output_dir="unused", report_to="none", use_cpu=True, **overrides)


def test_every_scenario_pairing_has_a_form():
    assert set(SCENARIO_FORMS) == set(SCENARIO_PAIRINGS)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        # cf-vlm: counterfactual pairs with images, edit images, no edit captions, no crossings for 'paper'.
        (dict(), dict(max_counterfactuals=None, max_edits=None, counterfactual_images=True, cross_pairs=False,
                      edit_images=True, edit_captions=False, hard_negative_captions=False)),
        (dict(scenario_pairing="cross", max_counterfactuals=2), dict(max_counterfactuals=2, cross_pairs=True)),
        # No L_csd and nothing aligned: no counterfactual pairs at all.
        (dict(csd_weight=0.0), dict(max_counterfactuals=0, cross_pairs=False)),
        (dict(csd_weight=0.0, align_counterfactuals=True), dict(max_counterfactuals=None, align_counterfactuals=True)),
        (dict(fcd_weight=0.0), dict(max_edits=0, edit_images=False)),
        (dict(align_edits=True), dict(edit_captions="required", align_edits=True)),
        # Baselines: plain fine-tuning sees anchors only; NegCLIP sees every caption, no images but the anchors'.
        (dict(objective="clip", align_counterfactuals=True), dict(max_counterfactuals=0, max_edits=0,
                                                                   align_counterfactuals=False, edit_images=False)),
        (dict(objective="negclip", max_edits=3), dict(max_counterfactuals=None, max_edits=3, counterfactual_images=False,
                                                      edit_images=False, edit_captions=True,
                                                      hard_negative_captions=True)),
        (dict(align_weight=0.0), dict(alignment=False)),
    ],
)
def test_batch_plan(overrides, expected):
    plan = batch_plan(config(**overrides))
    for name, value in expected.items():
        assert getattr(plan, name) == value, name


def scores(seed=0, batch=4, k=3, m=2):
    g = torch.Generator().manual_seed(seed)
    cf_mask = torch.rand(batch, k, generator=g) > 0.3
    cf_mask[0] = False  # an anchor without counterfactuals
    edit_mask = torch.rand(batch, m, generator=g) > 0.3
    return CounterfactualScores(
        anchor=torch.rand(batch, generator=g), cf=torch.rand(batch, k, generator=g), cf_mask=cf_mask,
        anchor_image_cf_text=torch.rand(batch, k, generator=g), cf_image_anchor_text=torch.rand(batch, k, generator=g),
        edit=torch.rand(batch, m, generator=g), edit_mask=edit_mask,
    )


class FixedAlignment:
    def alignment_loss(self, scores):
        return torch.tensor(2.0)


@pytest.mark.parametrize("pairing", SCENARIO_PAIRINGS)
def test_loss_is_the_weighted_sum_of_the_terms(pairing):
    s = scores()
    objective = Objective(config(scenario_pairing=pairing, csd_weight=0.5, fcd_weight=3.0, fcd_reduction="mean",
                                 csd_margin=0.2, fcd_margin=0.4))
    out = objective(s, FixedAlignment())
    csd = {
        "paper": lambda: scenario_discrimination_loss(s.anchor, s.cf, s.cf_mask, 0.2),
        "cross": lambda: cross_scenario_discrimination_loss(s.anchor, s.anchor_image_cf_text, s.cf_image_anchor_text,
                                                            s.cf_mask, 0.2),
        "symmetric": lambda: symmetric_scenario_discrimination_loss(s.anchor, s.cf, s.anchor_image_cf_text,
                                                                    s.cf_image_anchor_text, s.cf_mask, 0.2),
    }[pairing]()
    fcd = causal_discrimination_loss(s.anchor, s.edit, s.edit_mask, 0.4, reduction="mean")
    torch.testing.assert_close(out.terms["csd"], csd)
    torch.testing.assert_close(out.terms["fcd"], fcd)
    torch.testing.assert_close(out.loss, 2.0 + 0.5 * csd + 3.0 * fcd)
    correct, items = out.accuracies["csd_accuracy"]
    assert items == int(s.cf_mask.sum()) and correct == int(((s.anchor[:, None] > s.cf) & s.cf_mask).sum())


def test_baseline_loss_is_alignment_only_and_missing_terms_are_exact_zeros():
    out = Objective(config(objective="clip"))(scores(), FixedAlignment())
    assert set(out.terms) == {"align"} and out.loss.item() == 2.0
    s = scores()
    s.cf = s.cf_mask = None
    out = Objective(config())(s, FixedAlignment())
    assert out.terms["csd"].item() == 0.0 and "csd_accuracy" not in out.accuracies


@pytest.mark.parametrize("pairing", SCENARIO_PAIRINGS)
def test_negative_captions_are_text_side_items_of_l_csd(pairing):
    s = scores()
    s.negative = torch.tensor([[0.9, 0.1], [0.2, 0.0], [0.3, 0.4], [0.0, 0.0]])
    s.negative_mask = torch.tensor([[True, True], [True, False], [False, False], [False, False]])
    out = Objective(config(scenario_pairing=pairing, csd_margin=0.2))(s, FixedAlignment())
    # A loop: per anchor, the mean over its counterfactual items (valued by the form) and negative captions.
    h = lambda d: max(0.0, 0.2 - d)  # noqa: E731
    per_anchor = []
    for b in range(4):
        a, items = s.anchor[b].item(), []
        for k in range(s.cf.shape[1]):
            if s.cf_mask[b, k]:
                paper = h(a - s.cf[b, k].item())
                text, image = h(a - s.anchor_image_cf_text[b, k].item()), h(a - s.cf_image_anchor_text[b, k].item())
                cf_side = (h(s.cf[b, k].item() - s.cf_image_anchor_text[b, k].item())
                           + h(s.cf[b, k].item() - s.anchor_image_cf_text[b, k].item()))
                items.append({"paper": paper, "cross": (text + image) / 2, "symmetric": (text + image + cf_side) / 4}[
                    pairing])
        items += [h(a - s.negative[b, n].item()) for n in range(2) if s.negative_mask[b, n]]
        if items:
            per_anchor.append(sum(items) / len(items))
    assert out.terms["csd"].item() == pytest.approx(sum(per_anchor) / len(per_anchor), abs=1e-6)
    correct, items = out.accuracies["csd_accuracy"]
    assert items == int(s.cf_mask.sum()) + 3


def test_negative_captions_go_where_the_objective_uses_them():
    assert batch_plan(config()).negative_captions and batch_plan(config(objective="negclip")).negative_captions
    assert not batch_plan(config(objective="clip")).negative_captions
    assert not batch_plan(config(csd_weight=0.0)).negative_captions


def test_presets_fill_what_is_not_given_and_explicit_values_win():
    paper, recommended = config(), config(preset="recommended")
    assert (paper.scenario_pairing, paper.align_counterfactuals) == ("paper", False)
    assert (recommended.scenario_pairing, recommended.align_counterfactuals) == ("cross", True)
    assert (recommended.csd_weight, recommended.fcd_weight, recommended.csd_margin) == (1.0, 1.0, 0.25)
    mixed = config(preset="recommended", scenario_pairing="paper", align_counterfactuals=False)
    assert (mixed.scenario_pairing, mixed.align_counterfactuals) == ("paper", False)
    with pytest.raises(ValueError, match="preset must be one of"):
        config(preset="best")
