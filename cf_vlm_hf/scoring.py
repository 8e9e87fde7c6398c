"""Scorers: model + collated batch -> the image-text scores the CF-VLM objectives compare.

A scorer hides how a model family computes S(I, T). The trainer and the losses only see
:class:`CounterfactualScores`; a generative-VLM scorer (caption likelihood) plugs in behind the same two
methods, ``score`` and ``alignment_loss``, without touching either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from .collator import INDEX_KEYS
from .distributed import gather_with_grad
from .losses import alignment_loss


@dataclass
class CounterfactualScores:
    """Scores of one batch of B anchors with up to K counterfactual pairs and M minimal edits each.

    Attributes:
        anchor: (B,) S(I, T) of the factual pairs.
        cf: (B, K) S(I'_k, T'_k), or None when the batch holds no counterfactual pairs.
        cf_mask: (B, K) bool, or None.
        anchor_image_cf_text: (B, K) S(I, T'_k), or None (used by the "cross" L_csd).
        cf_image_anchor_text: (B, K) S(I'_k, T), or None (used by the "cross" L_csd).
        edit: (B, M) S(E_j, T), or None when the batch holds no minimal edits.
        edit_mask: (B, M) bool, or None.
        alignment_inputs: whatever the scorer's ``alignment_loss`` needs (embeddings, scale, ...).
    """

    anchor: torch.Tensor
    cf: torch.Tensor | None = None
    cf_mask: torch.Tensor | None = None
    anchor_image_cf_text: torch.Tensor | None = None
    cf_image_anchor_text: torch.Tensor | None = None
    edit: torch.Tensor | None = None
    edit_mask: torch.Tensor | None = None
    alignment_inputs: dict[str, Any] = field(default_factory=dict)


def core_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DDP / DeepSpeed / PEFT wrappers, for reading parameters (never for the forward)."""
    while hasattr(model, "module"):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


def logit_parameters(model: torch.nn.Module) -> dict[str, torch.Tensor | None]:
    """{"logit_scale": exp of the model's ``logit_scale`` or None, "logit_bias": its ``logit_bias`` or None}.

    Both are fresh tensors computed from the parameters (``exp`` / ``clone``), so gradients flow back to them.
    `DualEncoderScorer` calls this from a forward hook on the core model: under ZeRO-3 a module's parameters are
    gathered only while its forward runs (outside it they are empty shards), and DeepSpeed's own forward hook
    releases them after ours (ours is prepended). The tensors computed there keep their values, and autograd
    routes their gradients to the parameters like any other use inside the forward.
    """
    scale = getattr(model, "logit_scale", None)
    bias = getattr(model, "logit_bias", None)
    return {
        "logit_scale": scale.exp() if isinstance(scale, torch.Tensor) else None,
        "logit_bias": bias.clone() if isinstance(bias, torch.Tensor) else None,
    }


def is_dual_encoder(model: torch.nn.Module) -> bool:
    """True for models that embed images and texts separately (CLIP, SigLIP, VisionTextDualEncoder, ...)."""
    model = core_model(model)
    return callable(getattr(model, "get_image_features", None)) and callable(getattr(model, "get_text_features", None))


def _pair_scores(image_embeds: torch.Tensor, text_embeds: torch.Tensor, image_index, text_index) -> torch.Tensor:
    """Cosine of image_embeds[image_index] and text_embeds[text_index], broadcasting the index tensors."""
    return (image_embeds[image_index] * text_embeds[text_index]).sum(dim=-1)


class DualEncoderScorer:
    """S(I, T) = cosine of the L2-normalised image and text embeddings of a dual encoder.

    One ``model(...)`` call per batch embeds every image (anchors, counterfactual images, edits) and every text
    (anchor captions, counterfactual captions, edit captions) at once. The forward goes through the wrapped
    model (DDP / DeepSpeed), so gradients are synchronised; only the logit scale is read from the core model.
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
        scores = CounterfactualScores(anchor=(anchor_images * anchor_texts).sum(dim=-1))
        anchors = torch.arange(num_anchors, device=image_embeds.device).unsqueeze(1)  # (B, 1)

        if batch["cf_mask"].shape[1] > 0 and "cf_image_index" in batch:
            scores.cf_mask = batch["cf_mask"]
            scores.cf = _pair_scores(image_embeds, text_embeds, batch["cf_image_index"], batch["cf_text_index"])
            scores.anchor_image_cf_text = _pair_scores(image_embeds, text_embeds, anchors, batch["cf_text_index"])
            scores.cf_image_anchor_text = _pair_scores(image_embeds, text_embeds, batch["cf_image_index"], anchors)
        if batch["edit_mask"].shape[1] > 0 and "edit_image_index" in batch:
            scores.edit_mask = batch["edit_mask"]
            scores.edit = _pair_scores(image_embeds, text_embeds, batch["edit_image_index"], anchors)

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


def build_scorer(model: torch.nn.Module, args):
    """The scorer for ``model``, chosen by what the model can do, configured from a `CounterfactualConfig`.

    A dual encoder (``get_image_features`` and ``get_text_features``) gets `DualEncoderScorer`; an
    image-text-to-text language model (it generates, has an output head and takes ``pixel_values``) gets
    `cf_vlm_hf.generative.GenerativeScorer` with ``args.generative_score``.
    """
    if is_dual_encoder(model):
        return DualEncoderScorer(
            temperature=args.temperature,
            alignment_kind=args.alignment_kind,
            gather_across_devices=args.gather_across_devices,
            hard_negative_captions=args.objective == "negclip",
            mask_duplicate_captions=args.mask_duplicate_captions,
            align_counterfactuals=args.align_counterfactuals and args.objective == "cf-vlm",
            align_edits=args.align_edits and args.objective == "cf-vlm",
        )
    from .generative import GenerativeScorer, is_generative_vlm

    if is_generative_vlm(model):
        if args.objective == "negclip":
            raise ValueError("objective 'negclip' needs a dual encoder (a contrastive L_align); use 'cf-vlm' or 'clip'")
        for name in ("align_counterfactuals", "align_edits"):
            if getattr(args, name) and args.objective == "cf-vlm":
                raise ValueError(f"{name} needs a dual encoder; generative VLMs align the anchors only")
        return GenerativeScorer(score=args.generative_score, global_token_mean=args.gather_across_devices)
    raise ValueError(
        f"{type(core_model(model)).__name__} is not a dual encoder (it has no get_image_features/get_text_features) "
        "nor an image-text-to-text language model (generate + output embeddings + a forward taking pixel_values); "
        "pass a custom `scorer=` to CounterfactualTrainer for other models."
    )
