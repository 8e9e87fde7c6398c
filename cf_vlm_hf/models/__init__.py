"""Model families: each has a collator (rows -> batch) and a scorer (model + batch -> scores).

`build_collator` and `build_scorer` pick the family from what the model can do (`model_family`) and configure
it from a `CounterfactualConfig` and the `BatchPlan` its objective implies (`cf_vlm_hf.objective`).
"""

from __future__ import annotations

from .base import (
    DUAL_ENCODER,
    GENERATIVE,
    BatchPlan,
    CounterfactualScores,
    Scorer,
    core_model,
    is_dual_encoder,
    is_generative_vlm,
    model_family,
    model_type,
)

__all__ = [
    "DUAL_ENCODER",
    "GENERATIVE",
    "BatchPlan",
    "CounterfactualScores",
    "Scorer",
    "build_collator",
    "build_scorer",
    "core_model",
    "generative_max_length",
    "is_dual_encoder",
    "is_generative_vlm",
    "model_family",
    "model_type",
]


def build_scorer(model, config, plan: BatchPlan):
    """The scorer of ``model``'s family; ``config`` is a `CounterfactualConfig` (its dual-encoder / generative
    fields), ``plan`` what its objective puts in a batch."""
    if model_family(model) == DUAL_ENCODER:
        from .dual_encoder import DualEncoderScorer

        return DualEncoderScorer(
            temperature=config.temperature,
            alignment_kind=config.alignment_kind,
            gather_across_devices=config.gather_across_devices,
            hard_negative_captions=plan.hard_negative_captions,
            mask_duplicate_captions=config.mask_duplicate_captions,
            align_counterfactuals=plan.align_counterfactuals,
            align_edits=plan.align_edits,
        )
    from .generative import GenerativeScorer

    if plan.hard_negative_captions:
        raise ValueError("objective 'negclip' needs a dual encoder (a contrastive L_align); use 'cf-vlm' or 'clip'")
    for name in ("align_counterfactuals", "align_edits"):
        if getattr(plan, name):
            raise ValueError(f"{name} needs a dual encoder; generative VLMs align the anchors only")
    return GenerativeScorer(score=config.generative_score, global_token_mean=config.gather_across_devices)


def build_collator(processor, model, config, plan: BatchPlan):
    """The collator of ``model``'s family (a dual encoder's when ``model`` is None or of no known family): only
    what ``plan`` needs goes through the model."""
    if model is not None and not is_dual_encoder(model) and is_generative_vlm(model):
        from .generative import GenerativeCollator

        return GenerativeCollator(
            processor,
            score=config.generative_score,
            caption_prompt=config.caption_prompt,
            yes_question=config.yes_question,
            yes_answer=config.yes_answer,
            max_counterfactuals=plan.max_counterfactuals,
            max_edits=plan.max_edits,
            counterfactual_pairs=plan.counterfactual_pairs,
            cross_pairs=plan.cross_pairs,
            edits=plan.edit_images,
            negative_captions=plan.negative_captions,
            alignment=plan.alignment,
            max_sequences_per_forward=config.max_sequences_per_forward,
            max_length=generative_max_length(model, processor, config.generative_max_length),
            seed=plan.seed,
        )
    from .dual_encoder import CounterfactualCollator, text_padding

    return CounterfactualCollator(
        processor,
        max_counterfactuals=plan.max_counterfactuals,
        max_edits=plan.max_edits,
        counterfactual_images=plan.counterfactual_images,
        edit_images=plan.edit_images,
        edit_captions=plan.edit_captions,
        negative_captions=plan.negative_captions,
        padding=text_padding(model_type(model)),
        seed=plan.seed,
        on_truncated_duplicate=getattr(config, "on_truncated_duplicate", "raise"),
    )


def generative_max_length(model, processor, configured: int | None = None) -> int | None:
    """Longest sequence a generative VLM takes: ``configured``, else the smaller of the tokenizer's
    ``model_max_length`` and the language model's ``max_position_embeddings`` (None when neither is finite)."""
    if configured is not None:
        return configured
    config = core_model(model).config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    positions = getattr(text_config, "max_position_embeddings", None)
    limit = getattr(getattr(processor, "tokenizer", processor), "model_max_length", None)
    candidates = [v for v in (positions, limit) if v is not None and v < 1e9]
    return int(min(candidates)) if candidates else None
