"""Generative VLMs (LLaVA, Qwen2-VL, PaliGemma, Idefics3, ...): S(I, T) from the log-probability of a target."""

from .collator import GENERATIVE_INDEX_KEYS, GenerativeCollator
from .prompts import (
    DEFAULT_CAPTION_PROMPT,
    DEFAULT_YES_ANSWER,
    DEFAULT_YES_QUESTION,
    GENERATIVE_SCORES,
    PromptFormat,
)
from .scorer import GenerativeScorer, target_log_probs

__all__ = [
    "DEFAULT_CAPTION_PROMPT",
    "DEFAULT_YES_ANSWER",
    "DEFAULT_YES_QUESTION",
    "GENERATIVE_INDEX_KEYS",
    "GENERATIVE_SCORES",
    "GenerativeCollator",
    "GenerativeScorer",
    "PromptFormat",
    "target_log_probs",
]
