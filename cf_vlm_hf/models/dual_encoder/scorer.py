"""S(I, T) of a dual encoder: the cosine of its L2-normalised image and text embeddings; L_align over them.

Training and evaluation score through this one module: `DualEncoderScorer.score` embeds a whole collated batch
in one forward of the (wrapped) model; `embed_images` / `embed_texts` embed images or texts alone, batched and
without gradients, for evaluation; both normalise the same projected embeddings and compare them with
`similarity`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ...losses import alignment_loss
from ...parallel.distributed import gather_with_grad
from ..base import CounterfactualScores, core_model
from .collator import INDEX_KEYS

MAX_LOG_SCALE = math.log(100.0)  # CLIP's bound on its learned logit scale


def logit_parameters(model: torch.nn.Module) -> dict[str, torch.Tensor | None]:
    """{"logit_scale": exp of the model's ``logit_scale`` (at most 100) or None, "logit_bias": its ``logit_bias``}.

    Both are fresh tensors computed from the parameters (``exp`` / ``clone``), so gradients flow back to them.
    `DualEncoderScorer` calls this from a forward hook on the core model: under ZeRO-3 a module's parameters are
    gathered only while its forward runs (outside it they are empty shards), and DeepSpeed's own forward hook
    releases them after ours (ours is prepended). The tensors computed there keep their values, and autograd
    routes their gradients to the parameters like any other use inside the forward.
    """
    scale = getattr(model, "logit_scale", None)
    bias = getattr(model, "logit_bias", None)
    return {
        # Bounded as CLIP bounds it (at most 100): a runaway scale would make L_align's softmax a hard argmax.
        "logit_scale": scale.clamp(max=MAX_LOG_SCALE).exp() if isinstance(scale, torch.Tensor) else None,
        "logit_bias": bias.clone() if isinstance(bias, torch.Tensor) else None,
    }


def similarity(image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
    """S(I, T) of L2-normalised embeddings that broadcast against each other: (..., D) x (..., D) -> (...)."""
    return (image_embeds * text_embeds).sum(dim=-1)


def _pair_scores(image_embeds: torch.Tensor, text_embeds: torch.Tensor, image_index, text_index) -> torch.Tensor:
    """S of image_embeds[image_index] and text_embeds[text_index], broadcasting the index tensors."""
    return similarity(image_embeds[image_index], text_embeds[text_index])


def _projected(output) -> torch.Tensor:
    """get_*_features returns a tensor (transformers 4) or an output object whose pooler_output is it (5)."""
    return output if torch.is_tensor(output) else output.pooler_output


@torch.no_grad()
def embed_images(model: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """(N, D) L2-normalised image embeddings of (N, C, H, W) ``pixel_values`` (the model's projected features)."""
    return F.normalize(_projected(core_model(model).get_image_features(pixel_values=pixel_values)), dim=-1)


@torch.no_grad()
def embed_texts(model: torch.nn.Module, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, D) L2-normalised text embeddings of tokenizer outputs (``input_ids``, ``attention_mask``, ...)."""
    return F.normalize(_projected(core_model(model).get_text_features(**tokens)), dim=-1)


class DualEncoderScorer:
    """S(I, T) = cosine of the L2-normalised image and text embeddings of a dual encoder.

    One ``model(...)`` call per batch embeds every image (anchors, counterfactual images, edits) and every text
    (anchor captions, counterfactual captions, edit captions) at once. The forward goes through the wrapped
    model (DDP / DeepSpeed), so gradients are synchronised; only the logit scale is read from the core model.

    Args:
        temperature: fixed softmax temperature of L_align (None: the model's learned ``logit_scale``).
        alignment_kind: "infonce" or "sigmoid" (None: "sigmoid" when the model has a ``logit_bias``).
        gather_across_devices: L_align over the global batch under data parallelism.
        hard_negative_captions: the batch's non-anchor captions are extra negatives of L_align (NegCLIP).
        mask_duplicate_captions: pairs of identical captions are neither positives nor negatives of L_align.
        align_counterfactuals: complete counterfactual pairs join L_align as pairs of their own.
        align_edits: minimal edits with their own captions join L_align as pairs of their own.
    """

    def __init__(
        self,
        temperature: float | None = None,
        alignment_kind: str | None = None,
        gather_across_devices: bool = True,
        hard_negative_captions: bool = False,
        mask_duplicate_captions: bool = False,
        align_counterfactuals: bool = False,
        align_edits: bool = False,
    ):
        self.temperature = temperature
        self.align_counterfactuals = align_counterfactuals
        self.align_edits = align_edits
        self.alignment_kind = alignment_kind
        self.gather_across_devices = gather_across_devices
        self.hard_negative_captions = hard_negative_captions
        self.mask_duplicate_captions = mask_duplicate_captions

    def embed(self, model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward -> (N_images, D) and (N_texts, D) L2-normalised embeddings."""
        image_embeds, text_embeds, _ = self._forward(model, batch)
        return image_embeds, text_embeds

    def _forward(self, model: torch.nn.Module, batch: dict[str, Any]):
        """One forward -> normalised image and text embeddings, and the logit parameters the forward held.

        The logit scale and bias are read by a hook *inside* the core model's forward (see `logit_parameters`).
        """
        inputs = {k: v for k, v in batch.items() if k not in INDEX_KEYS}
        captured: dict[str, torch.Tensor | None] = {}
        handle = core_model(model).register_forward_hook(
            lambda module, args, output: captured.update(logit_parameters(module)), prepend=True
        )
        try:
            outputs = model(**inputs, return_dict=True)
        finally:
            handle.remove()
        image_embeds = F.normalize(outputs.image_embeds, dim=-1)
        return image_embeds, F.normalize(outputs.text_embeds, dim=-1), captured

    def score(self, model: torch.nn.Module, batch: dict[str, Any]) -> CounterfactualScores:
        image_embeds, text_embeds, logit_params = self._forward(model, batch)
        num_anchors = batch["cf_mask"].shape[0]
        anchor_images, anchor_texts = image_embeds[:num_anchors], text_embeds[:num_anchors]
        scores = CounterfactualScores(anchor=similarity(anchor_images, anchor_texts))
        anchors = torch.arange(num_anchors, device=image_embeds.device).unsqueeze(1)  # (B, 1)

        if batch["cf_mask"].shape[1] > 0 and "cf_image_index" in batch:
            scores.cf_mask = batch["cf_mask"]
            scores.cf = _pair_scores(image_embeds, text_embeds, batch["cf_image_index"], batch["cf_text_index"])
            scores.anchor_image_cf_text = _pair_scores(image_embeds, text_embeds, anchors, batch["cf_text_index"])
            scores.cf_image_anchor_text = _pair_scores(image_embeds, text_embeds, batch["cf_image_index"], anchors)
        if batch["edit_mask"].shape[1] > 0 and "edit_image_index" in batch:
            scores.edit_mask = batch["edit_mask"]
            scores.edit = _pair_scores(image_embeds, text_embeds, batch["edit_image_index"], anchors)
        if "negative_mask" in batch and batch["negative_mask"].shape[1] > 0:
            scores.negative_mask = batch["negative_mask"]
            scores.negative = _pair_scores(image_embeds, text_embeds, anchors, batch["negative_text_index"])

        # With align_counterfactuals / align_edits, those pairs join the factual pairs of L_align (rows B.. of its
        # logits): the counterfactual pairs, then the minimal edits with their own captions.
        groups = batch.get("caption_groups") if self.mask_duplicate_captions else None
        extra_pairs = []
        if self.align_counterfactuals and scores.cf_mask is not None:
            extra_pairs.append((scores.cf_mask.bool(), batch["cf_image_index"], batch["cf_text_index"], "cf"))
        if self.align_edits and scores.edit_mask is not None:
            captioned = scores.edit_mask.bool() & (batch["edit_text_index"] >= 0)
            extra_pairs.append((captioned, batch["edit_image_index"], batch["edit_text_index"], "edit"))
        aligned_images, aligned_texts = anchor_images, anchor_texts
        for valid, image_index, text_index, source in extra_pairs:
            aligned_images = torch.cat([aligned_images, image_embeds[image_index[valid]]])
            aligned_texts = torch.cat([aligned_texts, text_embeds[text_index[valid]]])
            if groups is not None:
                groups = torch.cat([groups, batch[f"{source}_caption_groups"][valid]])
        logit_scale, logit_bias, kind = self.alignment_settings(core_model(model), **logit_params)
        scores.alignment_inputs = {
            "image_embeds": aligned_images,
            "text_embeds": aligned_texts,
            "extra_text_embeds": text_embeds[num_anchors:] if self.hard_negative_captions else None,
            "caption_groups": groups,
            "logit_scale": logit_scale,
            "logit_bias": logit_bias,
            "kind": kind,
        }
        return scores

    def alignment_settings(
        self,
        model: torch.nn.Module,
        logit_scale: torch.Tensor | None = None,
        logit_bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | float, torch.Tensor | None, str]:
        """(logit scale, logit bias or None, kind) of L_align for the core ``model``.

        The scale is 1/temperature when the config fixes one, else the model's learned ``logit_scale.exp()``;
        the kind is "sigmoid" for models with a ``logit_bias`` (SigLIP) unless the config says otherwise.
        ``logit_scale`` (already exponentiated) and ``logit_bias`` are the values `logit_parameters` read during
        the forward; without them the parameters are read from ``model`` directly, which is only right when they
        are not partitioned (no ZeRO-3).
        """
        if logit_scale is None and logit_bias is None:
            read = logit_parameters(model)
            logit_scale, logit_bias = read["logit_scale"], read["logit_bias"]
        kind = self.alignment_kind or ("sigmoid" if logit_bias is not None else "infonce")
        if self.temperature is not None:
            scale = 1.0 / self.temperature
        elif logit_scale is not None:
            scale = logit_scale
        else:
            raise ValueError(f"{type(model).__name__} has no `logit_scale`; set `temperature` in CounterfactualConfig")
        return scale, (logit_bias if kind == "sigmoid" else None), kind

    def alignment_loss(self, scores: CounterfactualScores) -> torch.Tensor:
        """L_align over the factual pairs, over the global batch when gathering across devices."""
        inputs = scores.alignment_inputs
        images, texts, extra = inputs["image_embeds"], inputs["text_embeds"], inputs["extra_text_embeds"]
        groups = inputs.get("caption_groups")
        if self.gather_across_devices:
            images, texts = gather_with_grad(images), gather_with_grad(texts)
            extra = gather_with_grad(extra) if extra is not None else None
            groups = gather_with_grad(groups) if groups is not None else None
        return alignment_loss(
            images, texts, inputs["logit_scale"], inputs["logit_bias"], inputs["kind"], extra, caption_groups=groups
        )
