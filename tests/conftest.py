"""Tiny models built from configs, a local tokenizer and a small in-memory counterfactual corpus."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

WORDS = (
    "a an the two three small large red green blue yellow purple orange circle circles square squares "
    "triangle triangles to of left right above below and is not"
).split()
COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30)}
SHAPES = ("circle", "square")


def make_tokenizer(model_input_names=("input_ids", "attention_mask"), max_length=16):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[BOS]", "[EOS]", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    # CLIP pools its text at the EOS token: every caption must end with one.
    backend.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", vocab["[BOS]"]), ("[EOS]", vocab["[EOS]"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="[BOS]",
        eos_token="[EOS]",
        model_max_length=max_length,
        model_input_names=list(model_input_names),
    )


def tiny_clip(seed=0):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    torch.manual_seed(seed)
    tokenizer = make_tokenizer()
    common = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), max_position_embeddings=16, eos_token_id=3, bos_token_id=2,
                         pad_token_id=0, **common),
        vision_config=dict(image_size=32, patch_size=8, **common),
        projection_dim=32,
    )
    model = CLIPModel(config)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def tiny_siglip(seed=0):
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    torch.manual_seed(seed)
    tokenizer = make_tokenizer()
    common = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    config = SiglipConfig(
        text_config=dict(vocab_size=len(tokenizer), max_position_embeddings=16, pad_token_id=0, **common),
        vision_config=dict(image_size=32, patch_size=8, **common),
    )
    model = SiglipModel(config)
    image_processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    return model, SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def tiny_dual_encoder(seed=0):
    from transformers import (
        BertConfig,
        ViTConfig,
        ViTImageProcessor,
        VisionTextDualEncoderConfig,
        VisionTextDualEncoderModel,
        VisionTextDualEncoderProcessor,
    )

    torch.manual_seed(seed)
    tokenizer = make_tokenizer(model_input_names=("input_ids", "token_type_ids", "attention_mask"))
    common = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    config = VisionTextDualEncoderConfig.from_vision_text_configs(
        ViTConfig(image_size=32, patch_size=8, **common),
        BertConfig(vocab_size=len(tokenizer), max_position_embeddings=16, hidden_dropout_prob=0.0,
                   attention_probs_dropout_prob=0.0, **common),
        projection_dim=32,
    )
    model = VisionTextDualEncoderModel(config)
    image_processor = ViTImageProcessor(size={"height": 32, "width": 32})
    return model, VisionTextDualEncoderProcessor(image_processor=image_processor, tokenizer=tokenizer)


TINY_MODELS = {"clip": tiny_clip, "siglip": tiny_siglip, "dual_encoder": tiny_dual_encoder}


def draw(color: str, shape: str, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """A single coloured shape at a jittered position on a light background."""
    shade = int(rng.integers(225, 245))
    image = Image.new("RGB", (size, size), (shade, shade, shade))
    pen = ImageDraw.Draw(image)
    radius = int(rng.integers(7, 10))
    cx, cy = (int(v) for v in rng.integers(radius + 1, size - radius - 1, size=2))
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    (pen.ellipse if shape == "circle" else pen.rectangle)(box, fill=COLORS[color])
    return image


def make_rows(n: int, seed: int = 0, num_cf: int = 2, num_edits: int = 2) -> list[dict]:
    """Rows in the corpus schema: "a red square" with counterfactual pairs and colour/shape minimal edits."""
    rng = np.random.default_rng(seed)
    colors = list(COLORS)
    rows = []
    for i in range(n):
        color, shape = colors[int(rng.integers(len(colors)))], SHAPES[int(rng.integers(2))]
        other_colors = [c for c in colors if c != color]
        other_shape = SHAPES[1 - SHAPES.index(shape)]
        cf = []
        for _ in range(num_cf):
            c2 = other_colors[int(rng.integers(len(other_colors)))]
            cf.append((draw(c2, shape, rng), f"a {c2} {shape}"))
        state = rng.bit_generator.state
        anchor = draw(color, shape, rng)
        edits = []
        for kind in ("color", "shape")[:num_edits]:
            rng.bit_generator.state = state  # same position and background as the anchor
            c2, s2 = (other_colors[0], shape) if kind == "color" else (color, other_shape)
            edits.append((draw(c2, s2, rng), kind, f"a {c2} {s2}"))
        rows.append(
            {
                "id": f"row-{i}",
                "image": anchor,
                "caption": f"a {color} {shape}",
                "cf_images": [im for im, _ in cf],
                "cf_captions": [t for _, t in cf],
                "edit_images": [im for im, _, _ in edits],
                "edit_types": [k for _, k, _ in edits],
                "edit_captions": [t for _, _, t in edits],
            }
        )
    return rows


@pytest.fixture
def rows():
    return make_rows(8)
