"""Each objective against a straightforward per-anchor Python loop: values and gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from cf_vlm_hf.losses import (
    alignment_loss,
    causal_discrimination_loss,
    cross_scenario_discrimination_loss,
    scenario_discrimination_loss,
    symmetric_scenario_discrimination_loss,
)


def random_case(seed, batch=6, width=4, all_invalid=False):
    g = torch.Generator().manual_seed(seed)
    anchor = torch.randn(batch, generator=g, dtype=torch.float64, requires_grad=True)
    other = torch.randn(batch, width, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(batch, width, generator=g) > 0.4
    mask[0] = False  # an anchor with nothing valid
    mask[1] = True
    if all_invalid:
        mask[:] = False
    return anchor, other, mask


def loop_csd(anchor, cf, mask, margin):
    per_anchor = []
    for b in range(len(anchor)):
        hinges = [max(0.0, margin - anchor[b] + cf[b, k]) for k in range(cf.shape[1]) if mask[b, k]]
        if hinges:
            per_anchor.append(sum(hinges) / len(hinges))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


def loop_fcd(anchor, edits, mask, margin):
    per_anchor = []
    for b in range(len(anchor)):
        valid = [edits[b, j] for j in range(edits.shape[1]) if mask[b, j]]
        if valid:
            per_anchor.append(max(0.0, margin - anchor[b] + max(valid)))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


def as_tensor(value):
    return value if torch.is_tensor(value) else torch.tensor(value, dtype=torch.float64)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    "fused, loop, margin",
    [(scenario_discrimination_loss, loop_csd, 0.25), (causal_discrimination_loss, loop_fcd, 0.30)],
    ids=["csd", "fcd"],
)
def test_margin_loss_matches_loop(seed, fused, loop, margin):
    anchor, other, mask = random_case(seed)
    got = fused(anchor, other, mask, margin)
    a2, o2 = anchor.detach().clone().requires_grad_(), other.detach().clone().requires_grad_()
    want = as_tensor(loop(a2, o2, mask, margin))
    assert torch.allclose(got, want, atol=1e-12), (got, want)
    got.backward()
    want.backward()
    assert torch.allclose(anchor.grad, a2.grad, atol=1e-12)
    assert torch.allclose(other.grad, o2.grad, atol=1e-12)
    assert torch.all(other.grad[~mask] == 0), "masked-out entries must get no gradient"


@pytest.mark.parametrize("fused", [scenario_discrimination_loss, causal_discrimination_loss], ids=["csd", "fcd"])
def test_batch_with_nothing_valid_is_exact_zero_with_graph(fused):
    anchor, other, mask = random_case(0, all_invalid=True)
    loss = fused(anchor, other, mask, 0.3)
    assert loss.item() == 0.0
    assert loss.grad_fn is not None
    loss.backward()
    assert torch.all(anchor.grad == 0) and torch.all(other.grad == 0)
    assert not torch.isnan(other.grad).any()


def test_margin_loss_values_by_hand():
    anchor = torch.tensor([0.9, 0.5])
    cf = torch.tensor([[0.8, 0.1], [0.0, 0.0]])
    mask = torch.tensor([[True, True], [False, False]])
    # anchor 0: hinges 0.25-0.9+0.8=0.15 and max(0, 0.25-0.9+0.1)=0 -> 0.075; anchor 1 excluded
    assert scenario_discrimination_loss(anchor, cf, mask, 0.25).item() == pytest.approx(0.075)
    # hardest edit of anchor 0 is 0.8: 0.3-0.9+0.8 = 0.2
    assert causal_discrimination_loss(anchor, cf, mask, 0.30).item() == pytest.approx(0.2)


def test_cross_scenario_loss_averages_both_sides():
    anchor, text_side, mask = random_case(3)
    image_side = torch.randn_like(text_side)
    got = cross_scenario_discrimination_loss(anchor, text_side, image_side, mask, 0.25)
    want = 0.5 * (loop_csd(anchor, text_side, mask, 0.25) + loop_csd(anchor, image_side, mask, 0.25))
    assert got.item() == pytest.approx(float(want.detach()), abs=1e-12)


def loop_symmetric_csd(anchor, cf, anchor_image_cf_text, cf_image_anchor_text, mask, margin):
    per_anchor = []
    for b in range(len(anchor)):
        pairs = []
        for k in range(cf.shape[1]):
            if not mask[b, k]:
                continue
            crossed = (anchor_image_cf_text[b, k], cf_image_anchor_text[b, k])
            hinges = [max(0.0, margin - diagonal + off) for diagonal in (anchor[b], cf[b, k]) for off in crossed]
            pairs.append(sum(hinges) / 4)
        if pairs:
            per_anchor.append(sum(pairs) / len(pairs))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


@pytest.mark.parametrize("seed", [4, 5])
def test_symmetric_scenario_loss_matches_loop(seed):
    anchor, cf, mask = random_case(seed)
    text_side, image_side = torch.randn_like(cf), torch.randn_like(cf)
    got = symmetric_scenario_discrimination_loss(anchor, cf, text_side, image_side, mask, 0.25)
    want = loop_symmetric_csd(anchor, cf, text_side, image_side, mask, 0.25)
    assert got.item() == pytest.approx(float(want), abs=1e-12)
    got.backward()
    assert cf.grad is not None and cf.grad[~mask].abs().max() == 0, "padding gets no gradient"
    assert cf.grad[mask].abs().sum() > 0, "the counterfactual pairs' own scores are trained"


def test_symmetric_scenario_loss_is_zero_for_a_diagonal_winoground_matrix():
    anchor = torch.tensor([0.9])
    cf = torch.tensor([[0.8]])
    crossed = torch.tensor([[0.5]])
    mask = torch.tensor([[True]])
    # every diagonal entry beats every crossed entry by >= 0.3 > margin 0.25
    assert symmetric_scenario_discrimination_loss(anchor, cf, crossed, crossed, mask, 0.25).item() == 0.0
    # the counterfactual pair loses to a crossing: only its two hinges count, 0.25 - 0.4 + 0.5 = 0.35 each
    low_cf = torch.tensor([[0.4]])
    got = symmetric_scenario_discrimination_loss(anchor, low_cf, crossed, crossed, mask, 0.25).item()
    assert got == pytest.approx(2 * 0.35 / 4)


def normalised(seed, batch=5, dim=8):
    g = torch.Generator().manual_seed(seed)
    images = F.normalize(torch.randn(batch, dim, generator=g, dtype=torch.float64), dim=-1).requires_grad_()
    texts = F.normalize(torch.randn(batch, dim, generator=g, dtype=torch.float64), dim=-1).requires_grad_()
    return images, texts


def loop_infonce(images, texts, scale, extra=None, groups=None):
    candidates = texts if extra is None else torch.cat([texts, extra])
    batch, total = len(images), 0.0

    def kept(i, j):  # an identical caption of another row is neither positive nor negative
        return groups is None or i == j or j >= batch or groups[i] != groups[j]

    for i in range(batch):
        row = [scale * images[i] @ candidates[j] for j in range(len(candidates)) if kept(i, j)]
        positive = scale * images[i] @ texts[i]
        total = total + (torch.logsumexp(torch.stack(row), 0) - positive) / (2 * batch)
        col = [scale * images[j] @ texts[i] for j in range(batch) if kept(i, j)]
        total = total + (torch.logsumexp(torch.stack(col), 0) - positive) / (2 * batch)
    return total


def loop_sigmoid(images, texts, scale, bias, groups=None):
    total = 0.0
    for i in range(len(images)):
        for j in range(len(texts)):
            if groups is not None and i != j and groups[i] == groups[j]:
                continue
            label = 1.0 if i == j else -1.0
            total = total - F.logsigmoid(label * (scale * images[i] @ texts[j] + bias))
    return total / len(images)


@pytest.mark.parametrize("seed", range(3))
def test_infonce_matches_loop(seed):
    images, texts = normalised(seed)
    scale = torch.tensor(math.log(14.0), dtype=torch.float64, requires_grad=True)
    got = alignment_loss(images, texts, scale.exp(), kind="infonce")
    i2, t2 = images.detach().clone().requires_grad_(), texts.detach().clone().requires_grad_()
    s2 = scale.detach().clone().requires_grad_()
    want = loop_infonce(i2, t2, s2.exp())
    assert got.item() == pytest.approx(want.item(), abs=1e-10)
    got.backward()
    want.backward()
    for a, b in ((images, i2), (texts, t2), (scale, s2)):
        assert torch.allclose(a.grad, b.grad, atol=1e-10)


def test_infonce_matches_cross_entropy_of_clip_logits():
    images, texts = normalised(7)
    logits = 10.0 * images @ texts.t()
    labels = torch.arange(len(images))
    want = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
    assert alignment_loss(images, texts, 10.0).item() == pytest.approx(want.item(), abs=1e-12)


def test_negclip_extra_negatives_only_on_image_to_text_side():
    images, texts = normalised(1)
    extra = F.normalize(torch.randn(3, 8, dtype=torch.float64), dim=-1)
    got = alignment_loss(images, texts, 5.0, extra_text_embeds=extra)
    want = loop_infonce(images, texts, 5.0, extra)
    assert got.item() == pytest.approx(want.item(), abs=1e-10)
    assert got.item() > alignment_loss(images, texts, 5.0).item()


@pytest.mark.parametrize("seed", range(3))
def test_sigmoid_matches_loop(seed):
    images, texts = normalised(seed)
    bias = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    got = alignment_loss(images, texts, 10.0, bias, kind="sigmoid")
    i2, t2 = images.detach().clone().requires_grad_(), texts.detach().clone().requires_grad_()
    b2 = bias.detach().clone().requires_grad_()
    want = loop_sigmoid(i2, t2, 10.0, b2)
    assert got.item() == pytest.approx(want.item(), abs=1e-10)
    got.backward()
    want.backward()
    for a, b in ((images, i2), (texts, t2), (bias, b2)):
        assert torch.allclose(a.grad, b.grad, atol=1e-10)


def test_alignment_rejects_unknown_kind_and_shape_mismatch():
    images, texts = normalised(0)
    with pytest.raises(ValueError, match="unknown alignment kind 'hinge'"):
        alignment_loss(images, texts, 1.0, kind="hinge")
    with pytest.raises(ValueError, match=r"image_embeds \(5, 8\) and text_embeds \(4, 8\) differ"):
        alignment_loss(images, texts[:4], 1.0)


@pytest.mark.parametrize("kind", ["infonce", "sigmoid"])
def test_identical_captions_are_neither_positives_nor_negatives(kind):
    images, texts = normalised(3, batch=6)
    groups = torch.tensor([10, 11, 10, 12, 11, 10])  # rows 0, 2, 5 and rows 1, 4 share a caption
    bias = -2.0 if kind == "sigmoid" else None
    got = alignment_loss(images, texts, 8.0, bias, kind=kind, caption_groups=groups)
    want = loop_infonce(images, texts, 8.0, groups=groups) if kind == "infonce" else loop_sigmoid(
        images, texts, 8.0, bias, groups=groups
    )
    assert got.item() == pytest.approx(want.item(), abs=1e-10)
    plain = alignment_loss(images, texts, 8.0, bias, kind=kind)
    assert abs(got.item() - plain.item()) > 1e-3  # the duplicates did count as negatives before
    unique = alignment_loss(images, texts, 8.0, bias, kind=kind, caption_groups=torch.arange(6))
    assert unique.item() == pytest.approx(plain.item(), abs=1e-12)


def test_identical_captions_with_negclip_extras():
    images, texts = normalised(4, batch=4)
    extra = F.normalize(torch.randn(3, 8, dtype=torch.float64), dim=-1)
    groups = torch.tensor([1, 2, 1, 3])
    got = alignment_loss(images, texts, 5.0, extra_text_embeds=extra, caption_groups=groups)
    assert got.item() == pytest.approx(loop_infonce(images, texts, 5.0, extra, groups).item(), abs=1e-10)


def test_caption_groups_shape_is_checked():
    images, texts = normalised(0)
    with pytest.raises(ValueError, match=r"caption_groups must have shape \(5,\), got \(4,\)"):
        alignment_loss(images, texts, 1.0, caption_groups=torch.arange(4))


def test_fcd_mean_reduction_is_one_hinge_per_edit():
    anchor = torch.tensor([0.9, 0.5, 0.7])
    edits = torch.tensor([[0.8, 0.2, 0.0], [0.1, 0.1, 0.9], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, False], [False, False, False]])
    # anchor 0: hinges 0.2 and 0 -> 0.1; anchor 1: hinges 0 and 0 -> 0; anchor 2 has no edit.
    got = causal_discrimination_loss(anchor, edits, mask, 0.30, reduction="mean")
    assert got.item() == pytest.approx(0.05)
    hardest = causal_discrimination_loss(anchor, edits, mask, 0.30)
    assert hardest.item() == pytest.approx(0.1)  # anchor 0 against 0.8 -> 0.2; anchor 1 against 0.1 -> 0
    with pytest.raises(ValueError, match="unknown fcd reduction 'sum'"):
        causal_discrimination_loss(anchor, edits, mask, 0.30, reduction="sum")
