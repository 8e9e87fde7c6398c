"""What every model family shares: the scores a batch yields, the plan a batch is built from, family detection.

A *scorer* turns a model and a collated batch into :class:`CounterfactualScores`; the objective
(`cf_vlm_hf.objective`) only ever sees those. A *collator* turns corpus rows into a batch; what it must put in
the batch is a :class:`BatchPlan`, which the objective derives from the config. Nothing here imports a family's
own code, so families import this module and never each other.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

DUAL_ENCODER = "dual-encoder"
GENERATIVE = "generative"


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
        negative: (B, N) S(I, T_n) of the anchor image with each of its negative captions (captions with no image
            of their own), or None when the batch holds none.
        negative_mask: (B, N) bool, or None.
        alignment_inputs: whatever the scorer's ``alignment_loss`` needs (embeddings, scale, ...).
    """

    anchor: torch.Tensor
    cf: torch.Tensor | None = None
    cf_mask: torch.Tensor | None = None
    anchor_image_cf_text: torch.Tensor | None = None
    cf_image_anchor_text: torch.Tensor | None = None
    edit: torch.Tensor | None = None
    edit_mask: torch.Tensor | None = None
    negative: torch.Tensor | None = None
    negative_mask: torch.Tensor | None = None
    alignment_inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchPlan:
    """What a batch must carry for an objective, whatever the model family.

    Attributes:
        max_counterfactuals: complete counterfactual pairs kept per row (None: all; 0: none).
        max_edits: minimal edits kept per row (None: all; 0: none).
        counterfactual_images: include the counterfactual images (False: their captions only, as text negatives).
        cross_pairs: also score (I, T'_k) and (I'_k, T) (the "cross" and "symmetric" L_csd). Dual encoders get
            them for free from the embeddings; generative VLMs need a sequence each.
        edit_images: include the minimal-edit images (scored against the anchor caption).
        edit_captions: include each edit's own caption (True), require it on every row with edits
            (``"required"``), or leave it out (False).
        negative_captions: include each row's ``negative_captions`` (texts scored against the anchor image).
        alignment: score the anchors' L_align (its weight is positive).
        hard_negative_captions: counterfactual, edit and negative captions are extra text negatives of L_align
            (NegCLIP).
        align_counterfactuals: complete counterfactual pairs join L_align as pairs of their own.
        align_edits: minimal edits with their own captions join L_align as pairs of their own.
        seed: seed of the random subsets drawn when a row holds more than a cap allows.
    """

    max_counterfactuals: int | None = None
    max_edits: int | None = None
    counterfactual_images: bool = True
    cross_pairs: bool = False
    edit_images: bool = True
    edit_captions: bool | str = False
    negative_captions: bool = False
    alignment: bool = True
    hard_negative_captions: bool = False
    align_counterfactuals: bool = False
    align_edits: bool = False
    seed: int = 0

    @property
    def counterfactual_pairs(self) -> bool:
        """Whether a batch holds complete counterfactual pairs at all."""
        return self.max_counterfactuals != 0

    @property
    def edits(self) -> bool:
        """Whether a batch holds minimal edits at all."""
        return self.max_edits != 0


@runtime_checkable
class Scorer(Protocol):
    """Model + collated batch -> :class:`CounterfactualScores`, and L_align from those scores."""

    def score(self, model: torch.nn.Module, batch: dict[str, Any]) -> CounterfactualScores: ...

    def alignment_loss(self, scores: CounterfactualScores) -> torch.Tensor: ...


def core_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DDP / DeepSpeed / PEFT wrappers, for reading parameters (never for the forward)."""
    while hasattr(model, "module"):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


def is_dual_encoder(model: torch.nn.Module) -> bool:
    """True for models that embed images and texts separately (CLIP, SigLIP, VisionTextDualEncoder, ...)."""
    model = core_model(model)
    return callable(getattr(model, "get_image_features", None)) and callable(getattr(model, "get_text_features", None))


def is_generative_vlm(model: torch.nn.Module) -> bool:
    """True for image-text-to-text language models: they generate text and their forward takes ``pixel_values``."""
    model = core_model(model)
    if not callable(getattr(model, "generate", None)) or not callable(getattr(model, "get_output_embeddings", None)):
        return False
    if model.get_output_embeddings() is None:
        return False
    return "pixel_values" in inspect.signature(model.forward).parameters


def model_family(model: torch.nn.Module) -> str:
    """:data:`DUAL_ENCODER` or :data:`GENERATIVE`; a ValueError naming the model for anything else."""
    if is_dual_encoder(model):
        return DUAL_ENCODER
    if is_generative_vlm(model):
        return GENERATIVE
    raise ValueError(
        f"{type(core_model(model)).__name__} is not a dual encoder (it has no get_image_features/get_text_features) "
        "nor an image-text-to-text language model (generate + output embeddings + a forward taking pixel_values); "
        "pass a custom `scorer=` to CounterfactualTrainer for other models."
    )


def model_type(model: torch.nn.Module | None) -> str:
    """The ``config.model_type`` of the core model ("" when unknown)."""
    if model is None:
        return ""
    return str(getattr(getattr(core_model(model), "config", None), "model_type", "") or "")
