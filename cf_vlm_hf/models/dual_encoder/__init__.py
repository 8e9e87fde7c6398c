"""Dual encoders (CLIP, SigLIP, VisionTextDualEncoder, ...): one forward embeds a batch's images and texts."""

from .collator import INDEX_KEYS, CounterfactualCollator, caption_group_ids, text_padding
from .scorer import DualEncoderScorer, embed_images, embed_texts, logit_parameters, similarity

__all__ = [
    "INDEX_KEYS",
    "CounterfactualCollator",
    "DualEncoderScorer",
    "caption_group_ids",
    "embed_images",
    "embed_texts",
    "logit_parameters",
    "similarity",
    "text_padding",
]
