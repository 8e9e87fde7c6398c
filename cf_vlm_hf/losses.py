"""The three CF-VLM objectives, each a small function of scores or embeddings.

Notation (docs/DESIGN.md): S(I, T) is the model's image-text score; B anchors per batch, K complete counterfactual
pairs and M minimal edits per anchor (padded, with boolean masks marking the real entries).

Reduction: a margin loss is averaged over the anchors that have at least one valid counterfactual (or edit);
anchors without any are left out. A batch where no anchor has one returns an exact zero that still carries a
graph (so ``backward()`` and distributed gradient hooks behave the same on every step).

Nothing here talks to other processes: gathering embeddings across ranks lives in ``cf_vlm_hf.parallel``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _masked_mean_over_anchors(per_anchor: torch.Tensor, anchor_valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_anchor`` (B,) over ``anchor_valid`` (B,) rows; an exact 0 with a graph when none is valid."""
    count = anchor_valid.sum()
    total = torch.where(anchor_valid, per_anchor, torch.zeros_like(per_anchor)).sum()
    return total / count.clamp(min=1).to(total.dtype)


def scenario_discrimination_loss(
    anchor_scores: torch.Tensor, cf_scores: torch.Tensor, cf_mask: torch.Tensor, margin: float = 0.25
) -> torch.Tensor:
    """L_csd: the factual pair must beat each complete counterfactual pair by ``margin``.

    Args:
        anchor_scores: (B,) S(I, T) of each factual pair.
        cf_scores: (B, K) S(I'_k, T'_k) of each counterfactual pair (any value where masked out).
        cf_mask: (B, K) bool, True for real counterfactuals.
        margin: m1.

    Returns:
        Scalar: mean over anchors with >= 1 valid k of [mean over valid k of max(0, m1 - S(I,T) + S(I'_k,T'_k))].
    """
    cf_mask = cf_mask.bool()
    hinge = F.relu(margin - anchor_scores.unsqueeze(1) + cf_scores)
    hinge = torch.where(cf_mask, hinge, torch.zeros_like(hinge))
    per_anchor = hinge.sum(dim=1) / cf_mask.sum(dim=1).clamp(min=1).to(hinge.dtype)
    return _masked_mean_over_anchors(per_anchor, cf_mask.any(dim=1))


def causal_discrimination_loss(
    anchor_scores: torch.Tensor,
    edit_scores: torch.Tensor,
    edit_mask: torch.Tensor,
    margin: float = 0.30,
    reduction: str = "hardest",
) -> torch.Tensor:
    """L_fcd: the factual image must beat the hardest minimal edit, for the factual caption, by ``margin``.

    Args:
        anchor_scores: (B,) S(I, T).
        edit_scores: (B, M) S(E_j, T): each edited image scored against the *original* caption.
        edit_mask: (B, M) bool, True for real edits.
        margin: m2.
        reduction: ``"hardest"`` (the paper): one hinge per anchor, against its highest-scoring edit;
            ``"mean"``: one hinge per edit, averaged over the anchor's valid edits. With "hardest", an edit the
            model cannot yet tell apart (gap ~0) takes every anchor's gradient and the other edits get none.

    Returns:
        Scalar: mean over anchors with >= 1 valid edit of max(0, m2 - S(I,T) + max over valid j of S(E_j,T))
        ("hardest"), or of the mean over valid j of max(0, m2 - S(I,T) + S(E_j,T)) ("mean").
    """
    edit_mask = edit_mask.bool()
    if reduction == "mean":
        return scenario_discrimination_loss(anchor_scores, edit_scores, edit_mask, margin)
    if reduction != "hardest":
        raise ValueError(f"unknown fcd reduction {reduction!r}; expected 'hardest' or 'mean'")
    hardest = edit_scores.masked_fill(~edit_mask, float("-inf")).max(dim=1).values
    # Rows without edits have hardest = -inf; replace before the hinge so no inf/NaN reaches the graph.
    hardest = torch.where(edit_mask.any(dim=1), hardest, anchor_scores.detach())
    per_anchor = F.relu(margin - anchor_scores + hardest)
    return _masked_mean_over_anchors(per_anchor, edit_mask.any(dim=1))


def cross_scenario_discrimination_loss(
    anchor_scores: torch.Tensor,
    anchor_image_cf_text_scores: torch.Tensor,
    cf_image_anchor_text_scores: torch.Tensor,
    cf_mask: torch.Tensor,
    margin: float = 0.25,
) -> torch.Tensor:
    """The "cross" form of L_csd: each anchor is contrasted with its counterfactuals one modality at a time.

    The anchor image must prefer its caption T over each counterfactual caption T'_k, and the anchor caption
    must prefer its image I over each counterfactual image I'_k, both by ``margin``; the two terms are averaged.

    Args:
        anchor_scores: (B,) S(I, T).
        anchor_image_cf_text_scores: (B, K) S(I, T'_k).
        cf_image_anchor_text_scores: (B, K) S(I'_k, T).
        cf_mask: (B, K) bool.
    """
    text_side = scenario_discrimination_loss(anchor_scores, anchor_image_cf_text_scores, cf_mask, margin)
    image_side = scenario_discrimination_loss(anchor_scores, cf_image_anchor_text_scores, cf_mask, margin)
    return 0.5 * (text_side + image_side)


def symmetric_scenario_discrimination_loss(
    anchor_scores: torch.Tensor,
    cf_scores: torch.Tensor,
    anchor_image_cf_text_scores: torch.Tensor,
    cf_image_anchor_text_scores: torch.Tensor,
    cf_mask: torch.Tensor,
    margin: float = 0.25,
) -> torch.Tensor:
    """The "cross" L_csd from both sides: the anchor and each counterfactual pair are each other's hard negatives.

    For each valid k, the 2x2 scores [[S(I,T), S(I,T'_k)], [S(I'_k,T), S(I'_k,T'_k)]] must have each diagonal
    entry beat the two off-diagonal entries of its row and column by ``margin`` (the four conditions of a
    Winoground group score). The anchor's two conditions are the "cross" form; the counterfactual pair's two
    keep the "cross" form from pushing S(I'_k,T'_k) down along with the crossed scores when T and T'_k (or I and
    I'_k) still embed alike. The four hinges are averaged.

    Args:
        anchor_scores: (B,) S(I, T).
        cf_scores: (B, K) S(I'_k, T'_k).
        anchor_image_cf_text_scores: (B, K) S(I, T'_k).
        cf_image_anchor_text_scores: (B, K) S(I'_k, T).
        cf_mask: (B, K) bool.

    Returns:
        Scalar: mean over anchors with >= 1 valid k of the mean over valid k of
        1/4 [h(S(I,T) - S(I,T'_k)) + h(S(I,T) - S(I'_k,T)) + h(S(I'_k,T'_k) - S(I'_k,T)) + h(S(I'_k,T'_k) - S(I,T'_k))],
        h(d) = max(0, margin - d).
    """
    cf_mask = cf_mask.bool()
    anchor = anchor_scores.unsqueeze(1)
    hinges = (
        F.relu(margin - anchor + anchor_image_cf_text_scores)
        + F.relu(margin - anchor + cf_image_anchor_text_scores)
        + F.relu(margin - cf_scores + cf_image_anchor_text_scores)
        + F.relu(margin - cf_scores + anchor_image_cf_text_scores)
    ) / 4
    hinges = torch.where(cf_mask, hinges, torch.zeros_like(hinges))
    per_anchor = hinges.sum(dim=1) / cf_mask.sum(dim=1).clamp(min=1).to(hinges.dtype)
    return _masked_mean_over_anchors(per_anchor, cf_mask.any(dim=1))


def scenario_item_hinges(
    anchor_scores: torch.Tensor,
    form: str,
    cf_scores: torch.Tensor | None = None,
    anchor_image_cf_text_scores: torch.Tensor | None = None,
    cf_image_anchor_text_scores: torch.Tensor | None = None,
    margin: float = 0.25,
) -> torch.Tensor:
    """(B, K) per-counterfactual hinge of an L_csd form, before any reduction.

    ``"paper"``: h(S(I,T) - S(I'_k,T'_k)); ``"cross"``: the mean of h(S(I,T) - S(I,T'_k)) and h(S(I,T) - S(I'_k,T));
    ``"symmetric"``: the mean of the four hinges of `symmetric_scenario_discrimination_loss`; h(d) = max(0, margin - d).
    Averaged with `masked_item_mean`, each form gives its loss (up to floating-point summation order).
    """
    anchor = anchor_scores.unsqueeze(1)
    if form == "paper":
        return F.relu(margin - anchor + cf_scores)
    text_side = F.relu(margin - anchor + anchor_image_cf_text_scores)
    image_side = F.relu(margin - anchor + cf_image_anchor_text_scores)
    if form == "cross":
        return 0.5 * (text_side + image_side)
    if form == "symmetric":
        return (text_side + image_side + F.relu(margin - cf_scores + cf_image_anchor_text_scores)
                + F.relu(margin - cf_scores + anchor_image_cf_text_scores)) / 4
    raise ValueError(f"unknown L_csd form {form!r}; expected 'paper', 'cross' or 'symmetric'")


def negative_caption_hinges(anchor_scores: torch.Tensor, negative_scores: torch.Tensor, margin: float) -> torch.Tensor:
    """(B, N) h(S(I,T) - S(I,T_n)) for captions T_n that have no image of their own (text-only counterfactuals)."""
    return F.relu(margin - anchor_scores.unsqueeze(1) + negative_scores)


def masked_item_mean(item_hinges: torch.Tensor, item_mask: torch.Tensor) -> torch.Tensor:
    """Mean over anchors with >= 1 valid item of the mean over their valid items; (B, N) hinges and bool mask.

    An exact zero that still carries a graph when no anchor has an item.
    """
    item_mask = item_mask.bool()
    hinges = torch.where(item_mask, item_hinges, torch.zeros_like(item_hinges))
    per_anchor = hinges.sum(dim=1) / item_mask.sum(dim=1).clamp(min=1).to(hinges.dtype)
    return _masked_mean_over_anchors(per_anchor, item_mask.any(dim=1))


def alignment_loss(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    logit_scale: torch.Tensor | float,
    logit_bias: torch.Tensor | float | None = None,
    kind: str = "infonce",
    extra_text_embeds: torch.Tensor | None = None,
    caption_groups: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_align over the factual pairs: row i of ``image_embeds`` matches row i of ``text_embeds``.

    Args:
        image_embeds: (B, D), L2-normalised.
        text_embeds: (B, D), L2-normalised.
        logit_scale: the multiplier of the cosine similarities (CLIP: ``logit_scale.exp()``).
        logit_bias: SigLIP's additive bias (sigmoid kind only).
        kind: ``"infonce"`` — symmetric cross-entropy of CLIP; ``"sigmoid"`` — SigLIP's
            ``-sum(logsigmoid(labels * (scale * s + bias))) / B`` with labels +1 on the diagonal, -1 elsewhere.
        extra_text_embeds: (N, D) optional hard-negative captions (NegCLIP): extra columns of the image->text
            side only, never positives.
        caption_groups: (B,) integer ids, equal for identical captions. Pair (i, j), i != j, whose captions are
            identical is left out of the loss: image j is not a negative of caption i (it matches it) and is
            not its positive either. Small-vocabulary corpora repeat captions within a batch.

    Returns:
        Scalar loss.
    """
    if image_embeds.shape != text_embeds.shape:
        raise ValueError(f"image_embeds {tuple(image_embeds.shape)} and text_embeds {tuple(text_embeds.shape)} differ")
    candidates = text_embeds if extra_text_embeds is None else torch.cat([text_embeds, extra_text_embeds])
    logits = logit_scale * image_embeds @ candidates.t()  # (B, B + N)
    batch = image_embeds.shape[0]
    ignored = torch.zeros_like(logits, dtype=torch.bool)  # (B, B + N)
    if caption_groups is not None:
        if caption_groups.shape != (batch,):
            raise ValueError(f"caption_groups must have shape ({batch},), got {tuple(caption_groups.shape)}")
        same = caption_groups.unsqueeze(0) == caption_groups.unsqueeze(1)
        ignored[:, :batch] = same & ~torch.eye(batch, dtype=torch.bool, device=same.device)
    if kind == "infonce":
        targets = torch.arange(batch, device=logits.device)
        logits = logits.masked_fill(ignored, float("-inf"))
        image_to_text = F.cross_entropy(logits, targets)
        text_to_image = F.cross_entropy(logits[:, :batch].t(), targets)
        return 0.5 * (image_to_text + text_to_image)
    if kind == "sigmoid":
        if logit_bias is not None:
            logits = logits + logit_bias
        labels = -torch.ones_like(logits)
        labels[:, :batch].fill_diagonal_(1.0)
        per_pair = -F.logsigmoid(labels * logits)
        return torch.where(ignored, torch.zeros_like(per_pair), per_pair).sum() / batch
    raise ValueError(f"unknown alignment kind {kind!r}; expected 'infonce' or 'sigmoid'")
