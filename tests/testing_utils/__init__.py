"""Builders for the tests: tiny models of each family from configs, a small corpus, the repository's paths.

Nothing here downloads: tokenizers are word-level over a fixed vocabulary, weights are random.
"""

from pathlib import Path

from .corpus import COLORS, SHAPES, WORDS, draw, make_rows
from .dual_encoders import TINY_MODELS, make_tokenizer, tiny_clip, tiny_dual_encoder, tiny_siglip
from .generative import (
    GENERATIVE_MODELS,
    tiny_idefics3,
    tiny_llava,
    tiny_paligemma,
    tiny_qwen2_5_vl,
    tiny_qwen2_vl,
)

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
SCRIPTS = TESTS / "scripts"

__all__ = [
    "COLORS",
    "GENERATIVE_MODELS",
    "REPO",
    "SCRIPTS",
    "SHAPES",
    "TESTS",
    "TINY_MODELS",
    "WORDS",
    "draw",
    "make_rows",
    "make_tokenizer",
    "tiny_clip",
    "tiny_dual_encoder",
    "tiny_idefics3",
    "tiny_llava",
    "tiny_paligemma",
    "tiny_qwen2_5_vl",
    "tiny_qwen2_vl",
    "tiny_siglip",
]
