"""S(I, T) for benchmark items, for either model family, through the training scorers' own code.

`build_pair_scorer(model, processor)` picks the family's scorer: a dual encoder embeds each distinct image and
text once (`cf_vlm_hf.models.dual_encoder.embed_images` / `embed_texts` / `similarity`, as training does); a
generative VLM scores each (image, caption) pair as one sequence (`GenerativeCollator` +
`GenerativeScorer.sequence_scores`, caption likelihood or yes-probability, as training does) and answers questions
by the log-probability of each answer's first token.
"""

from __future__ import annotations

from ...models import DUAL_ENCODER, model_family
from .base import NotApplicable, PairScorer
from .dual_encoder import DualEncoderPairScorer
from .generative import GenerativePairScorer

__all__ = ["DualEncoderPairScorer", "GenerativePairScorer", "NotApplicable", "PairScorer", "build_pair_scorer"]


def build_pair_scorer(model, processor, batch_size: int | None = None, pixel_cache=None, progress: bool = True,
                      **generative_options) -> PairScorer:
    """The pair scorer of ``model``'s family (a ValueError naming the model for other models).

    Args:
        batch_size: images or texts per forward (dual encoders, default 64), sequences per forward (generative
            VLMs, default 16).
        pixel_cache: a `cf_vlm_hf.evaluation.images.PixelCache` shared with other models, or None.
        generative_options: `GenerativePairScorer` options (``score``, ``caption_prompt``, ``yes_question``, ...);
            ignored for dual encoders.
    """
    if model_family(model) == DUAL_ENCODER:
        return DualEncoderPairScorer(model, processor, batch_size=batch_size or 64, pixel_cache=pixel_cache,
                                     progress=progress)
    return GenerativePairScorer(model, processor, batch_size=batch_size or 16, pixel_cache=pixel_cache,
                                progress=progress, **generative_options)
