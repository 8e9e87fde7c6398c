"""Tiny text-prompted segmentation models: CLIPSeg and Grounding DINO, from configs, with local processors."""

from __future__ import annotations

import os

import torch

from .diffusion import clip_bpe_tokenizer

CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
BERT_WORDS = "a an the red blue green cube ball box dog cat man woman left right of ."


def tiny_clipseg(seed: int = 0, size: int = 64):
    """(CLIPSegForImageSegmentation, CLIPSegProcessor): 74k parameters, input ``size`` px, logits (N, size, size)."""
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPSegTextConfig,
        CLIPSegVisionConfig,
    )

    try:  # without torchvision, the PIL processor is what transformers would fall back to anyway
        from transformers import ViTImageProcessorPil as ViTImageProcessor
    except ImportError:  # pragma: no cover
        from transformers import ViTImageProcessor

    tokenizer = clip_bpe_tokenizer()
    image_processor = ViTImageProcessor(size={"height": size, "width": size}, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    processor = CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)
    text = CLIPSegTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                             num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = CLIPSegVisionConfig(image_size=size, patch_size=8, hidden_size=32, intermediate_size=37,
                                 num_hidden_layers=3, num_attention_heads=4)
    config = CLIPSegConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=32,
                           extract_layers=[0, 1, 2], reduce_dim=16, decoder_num_attention_heads=2,
                           decoder_intermediate_size=32)
    torch.manual_seed(seed)
    return CLIPSegForImageSegmentation(config).eval(), processor


def tiny_grounding_dino(folder, seed: int = 0, size: int = 96):
    """(GroundingDinoForObjectDetection, GroundingDinoProcessor); ``folder`` receives the WordPiece vocab.

    ``size`` must be >= ~65 px: the 4th feature level (stride 64) must be larger than 1x1.
    """
    from transformers import (
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoProcessor,
        SwinConfig,
    )

    try:
        from transformers import GroundingDinoImageProcessorPil as ImageProcessor
    except ImportError:  # pragma: no cover
        from transformers import GroundingDinoImageProcessor as ImageProcessor

    os.makedirs(folder, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BERT_WORDS.split(), *letters, *("##" + c for c in letters)]
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(dict.fromkeys(vocab)) + "\n")
    tokenizer = BertTokenizer.from_pretrained(folder)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(window_size=7, embed_dim=8, depths=[1] * 4, num_heads=[1] * 4, image_size=size,
                                   out_indices=[2, 3, 4]),
        use_timm_backbone=False,
        text_config=dict(model_type="bert", vocab_size=len(tokenizer), hidden_size=8, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=8, max_position_embeddings=64),
        d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=8, decoder_ffn_dim=8, num_queries=10, num_feature_levels=4, encoder_n_points=2,
        decoder_n_points=2, max_text_len=32,
    )
    torch.manual_seed(seed)
    model = GroundingDinoForObjectDetection(config).eval()
    processor = GroundingDinoProcessor(image_processor=ImageProcessor(size={"shortest_edge": size,
                                                                           "longest_edge": size}),
                                       tokenizer=tokenizer)
    return model, processor
