"""Generative-VLM scorer: S(I, T) from the log-probabilities an image-text-to-text model gives a target.

Works on the batches of `GenerativeCollator` (see its module docstring for the layout). For each sequence,
with ``labels`` (n, L) marking the target tokens:

* ``"caption-likelihood"``: S = mean over the caption tokens of log p(token | image, prompt, earlier tokens);
* ``"yes-probability"`` (VQAScore): S = log p(first token of "Yes" | image, 'Does this image show "T"? ...').

Scores are log-probabilities (<= 0); the margins of L_csd / L_fcd are in the same units. L_align is the caption
negative log-likelihood of the factual pairs, averaged over their caption tokens (standard supervised
fine-tuning). Per-token log-probabilities come from trl's memory-efficient ``selective_log_softmax``, over only the
positions from the first target token on (``logits_to_keep``), one forward per chunk of the batch.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ...parallel.distributed import global_mean_weight
from ..base import CounterfactualScores, core_model
from .prompts import GENERATIVE_SCORES


def _selective_log_softmax(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    try:
        from trl.trainer.utils import selective_log_softmax
    except ImportError:  # trl is a dependency; keep a plain fallback for stripped environments
        return torch.gather(logits.log_softmax(-1), -1, index.unsqueeze(-1)).squeeze(-1)
    return selective_log_softmax(logits, index)


def target_log_probs(model: torch.nn.Module, chunk: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward over a chunk -> per-token log-probabilities of the labels and their mask.

    Args:
        chunk: model inputs (n, L, ...) plus ``labels`` (n, L), -100 outside the targets.

    Returns:
        (n, T) log p(labels[:, s + 1 + t]) and (n, T) bool mask of real targets, where s is the position just before
        the earliest target token of the chunk (only positions from s on go through the language-model head).
    """
    labels = chunk["labels"]
    inputs = {k: v for k, v in chunk.items() if k != "labels"}
    is_target = labels != -100
    start = int(is_target.float().argmax(dim=1).min().item()) - 1  # the first target is predicted at its position - 1
    if start < 0:
        raise ValueError("a target starts at position 0: nothing precedes it to predict it")
    length = labels.shape[1]
    forward = core_model(model).forward
    if "logits_to_keep" in inspect.signature(forward).parameters:
        inputs["logits_to_keep"] = length - start
    outputs = model(**inputs, use_cache=False, return_dict=True)
    logits = outputs.logits[:, -(length - start) :][:, :-1]  # predicts positions start + 1 .. L - 1
    targets = labels[:, start + 1 :]
    mask = targets != -100
    logps = _selective_log_softmax(logits.float() if logits.dtype == torch.float16 else logits, targets.clamp(min=0))
    return torch.where(mask, logps, torch.zeros_like(logps)), mask


class GenerativeScorer:
    """S(I, T) of a generative VLM, and L_align = caption NLL of the factual pairs.

    Args:
        score: "caption-likelihood" (mean caption-token log-probability) or "yes-probability" (log P("Yes")).
        global_token_mean: under data parallelism, weight each rank's caption NLL so that DDP's average over ranks
            is the token mean over the global batch (ranks may hold captions of different lengths).
    """

    def __init__(self, score: str = "caption-likelihood", global_token_mean: bool = True):
        if score not in GENERATIVE_SCORES:
            raise ValueError(f"score must be one of {GENERATIVE_SCORES}, got {score!r}")
        self.score_kind = score
        self.global_token_mean = global_token_mean

    def sequence_scores(
        self, model: torch.nn.Module, batch: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every sequence of the batch -> (N,) scores, (N,) summed target log-probs and (N,) target token counts."""
        scores, sums, counts = [], [], []
        for chunk in batch["chunks"]:
            logps, mask = target_log_probs(model, chunk)
            token_sum, token_count = logps.sum(dim=1), mask.sum(dim=1)
            if self.score_kind == "caption-likelihood":
                scores.append(token_sum / token_count.clamp(min=1).to(token_sum.dtype))
            else:  # the first answer token of each sequence
                first = mask.float().argmax(dim=1, keepdim=True)
                scores.append(logps.gather(1, first).squeeze(1))
            sums.append(token_sum)
            counts.append(token_count)
        return torch.cat(scores), torch.cat(sums), torch.cat(counts)

    def score(self, model: torch.nn.Module, batch: dict[str, Any]) -> CounterfactualScores:
        seq, sums, counts = self.sequence_scores(model, batch)
        num_anchors = batch["cf_mask"].shape[0]
        scores = CounterfactualScores(anchor=seq[:num_anchors])
        if batch["cf_mask"].shape[1] > 0:
            scores.cf, scores.cf_mask = seq[batch["cf_index"]], batch["cf_mask"]
            if "anchor_image_cf_text_index" in batch:
                scores.anchor_image_cf_text = seq[batch["anchor_image_cf_text_index"]]
                scores.cf_image_anchor_text = seq[batch["cf_image_anchor_text_index"]]
        if batch["edit_mask"].shape[1] > 0:
            scores.edit, scores.edit_mask = seq[batch["edit_index"]], batch["edit_mask"]
        if "negative_mask" in batch and batch["negative_mask"].shape[1] > 0:
            scores.negative, scores.negative_mask = seq[batch["negative_index"]], batch["negative_mask"]
        if "align_index" in batch:
            index = batch["align_index"]
            scores.alignment_inputs = {"log_prob_sum": sums[index].sum(), "token_count": counts[index].sum()}
        return scores

    def alignment_loss(self, scores: CounterfactualScores) -> torch.Tensor:
        """Caption NLL of the factual pairs: minus their caption-token log-probabilities, averaged over tokens.

        A token mean over the batch (over the global batch under data parallelism with ``global_token_mean``: every
        rank then takes part in one all-reduce of its token count); zero with a graph when the batch carries no
        alignment sequences.
        """
        inputs = scores.alignment_inputs
        if not inputs:
            return scores.anchor.sum() * 0.0
        count = inputs["token_count"]
        loss = -inputs["log_prob_sum"] / count.clamp(min=1).to(inputs["log_prob_sum"].dtype)
        if self.global_token_mean:
            loss = loss * global_mean_weight(int(count.item()), loss.device)
        return loss
