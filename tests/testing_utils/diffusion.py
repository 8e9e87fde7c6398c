"""Tiny diffusers pipelines (SDXL text-to-image and its 8-channel InstructPix2Pix UNet) built from configs.

The sizes are those of diffusers' own fast SDXL tests; the two CLIP tokenizers are byte-level BPE vocabularies
written here (no Hub). Random weights, so images are noise, but every pipeline call is bit-deterministic with a
seeded CPU ``torch.Generator`` and runs 2 steps at 64 px in well under a second on one CPU thread.
"""

from __future__ import annotations

import torch

# A few merges so common words are not one id per byte (cosmetic); every merge joins symbols of the vocab.
CLIP_MERGES = ["t h", "th e</w>", "a n", "i n", "o n", "e r", "o f</w>", "in g</w>"]
TINY_UNET_BLOCKS = dict(
    layers_per_block=2,
    sample_size=32,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(2, 4),
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=8,
    transformer_layers_per_block=(1, 2),
    projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + 32 pooled text dims
    cross_attention_dim=64,  # 32 (text_encoder) + 32 (text_encoder_2)
)


def clip_bpe_tokenizer(model_max_length: int = 77):
    """A CLIP tokenizer over the 256 byte symbols (and their end-of-word forms), a few merges and 2 specials."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {}
    for symbol in symbols + [s + "</w>" for s in symbols] + [m.replace(" ", "") for m in CLIP_MERGES]:
        vocab.setdefault(symbol, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)  # the highest id, as in real CLIP
    # CLIPTokenizer(vocab_file=...) ignores its files; vocab= / merges= (or from_pretrained) is what works.
    return CLIPTokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in CLIP_MERGES],
                         model_max_length=model_max_length)


def eval_modules(pipe):
    """Every torch module of ``pipe`` in eval mode (modules built from a config start in train mode)."""
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            module.eval()
    return pipe


def tiny_unet(in_channels: int = 4, seed: int = 0):
    """The SDXL test UNet (15k parameters); ``in_channels=8`` gives the InstructPix2Pix variant of it."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(block_out_channels=(2, 4), norm_num_groups=1, in_channels=in_channels,
                                **TINY_UNET_BLOCKS).eval()


def tiny_sdxl(seed: int = 0):
    """A tiny ``StableDiffusionXLPipeline`` (both text encoders, VAE, Euler scheduler) in eval mode."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    unet = tiny_unet(4, seed)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    torch.manual_seed(seed)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4, sample_size=128, force_upcast=False)
    tokenizer, tokenizer_2 = clip_bpe_tokenizer(), clip_bpe_tokenizer()
    torch.manual_seed(seed)
    text_config = CLIPTextConfig(
        vocab_size=1000, hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=5,
        layer_norm_eps=1e-5, hidden_act="gelu", projection_dim=32,
        # the tokenizer's own ids, so pooling takes the real end-of-text position
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    pipe = StableDiffusionXLPipeline(
        unet=unet, scheduler=scheduler, vae=vae,
        text_encoder=CLIPTextModel(text_config), tokenizer=tokenizer,
        text_encoder_2=CLIPTextModelWithProjection(text_config), tokenizer_2=tokenizer_2,
        image_encoder=None, feature_extractor=None,
    )
    pipe.set_progress_bar_config(disable=True)
    return eval_modules(pipe)


def save_tiny_sdxl(folder, seed: int = 0, instruct_folder=None) -> str:
    """Save a tiny SDXL pipeline to ``folder`` (and its 8-channel InstructPix2Pix UNet to ``instruct_folder``)."""
    tiny_sdxl(seed).save_pretrained(folder)
    if instruct_folder is not None:
        tiny_unet(8, seed).save_pretrained(instruct_folder)
    return str(folder)
