"""Tiny dual encoders built from configs, with a word-level tokenizer trained on nothing (no download)."""

from __future__ import annotations

import torch

from .corpus import WORDS


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
        VisionTextDualEncoderConfig,
        VisionTextDualEncoderModel,
        VisionTextDualEncoderProcessor,
        ViTConfig,
        ViTImageProcessor,
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


TINY_MODELS = {"clip": tiny_clip, "siglip": tiny_siglip, "dual_encoder": tiny_dual_encoder}
