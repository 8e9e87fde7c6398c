"""What CF-VLM costs on a GPU: one script, random weights from configs (no download), a table in under 8 minutes.

    python benchmarks/gpu_benchmark.py [--parts clip,vlm,sdxl] [--json results.json]
    python benchmarks/gpu_benchmark.py --smoke --device cpu     # the same code at toy sizes (CI checks it runs)

1. **clip**: a CLIP ViT-B/32-size model (ViT 12x768 / 224 px / patch 32; text 12x512) in bf16 autocast, at 256
   anchors: a plain CLIP step (256 pairs) and the fused CF-VLM step (K=1 complete counterfactual pair, M=2 minimal
   edits: 1,024 images and 512 texts in one forward), eager and with ``torch.compile``. Samples/s (anchors) and
   model FLOPs utilisation against the GPU's dense bf16 peak. For reference, open_clip's ViT-B/32 LAION-2B run works
   out to about 750 samples/s per A100 (about 11 % MFU).
2. **vlm**: a 7B LLaVA-size generative VLM (Llama-2-7B text, ViT-L/14-336 vision) with LoRA r=16 on q/k/v/o and
   activation checkpointing, bf16: step time and peak memory of the CF-VLM step (caption likelihood) at 4 anchors,
   K=1, M=2. One process, so no ZeRO-3: ZeRO-3 shards across processes (see recipes/README.md for the launch).
3. **sdxl**: an SDXL-size text-to-image pipeline (UNet 2.6B, both text encoders, VAE) at 1024 px in fp16: seconds
   per complete counterfactual image (30 steps) and per minimal edit (img2img, strength 0.3), and what a corpus
   row (K=1, M=2) and 1,000 rows cost.

Every part prints its rows as it finishes; a part that runs out of memory or time says so and the others go on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402

PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((value for key, value in PEAK_BF16.items() if key in name), None)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, device, repeats: int) -> tuple[float, float]:
    """(median seconds of ``step()`` after two warm-up calls, seconds of the first call: compilation and the like)."""
    start = time.perf_counter()
    step()
    sync(device)
    first = time.perf_counter() - start
    step()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], first


# ---------------------------------------------------------------------------------------------------------- clip
def transformer_flops(layers: int, width: int, tokens: int, mlp: int) -> float:
    """Forward FLOPs of one sequence through a pre-norm transformer (matmuls only: QKV/out, MLP, attention)."""
    per_layer = 2 * tokens * (4 * width * width + 2 * width * mlp) + 4 * tokens * tokens * width
    return layers * per_layer


def clip_config(smoke: bool):
    from transformers import CLIPConfig

    if smoke:
        text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    max_position_embeddings=16, vocab_size=100, bos_token_id=1, eos_token_id=2, pad_token_id=0)
        vision = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      image_size=32, patch_size=16)
        return CLIPConfig(text_config=text, vision_config=vision, projection_dim=32), 4, 8
    text = dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
                max_position_embeddings=77, vocab_size=49408)
    vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                  image_size=224, patch_size=32)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=512), 256, 20


def clip_batch(config, anchors: int, k: int, m: int, device):
    """A collated CF-VLM batch of random inputs, laid out as `CounterfactualCollator` lays it out."""
    images, texts = anchors * (1 + k + m), anchors * (1 + k)
    v, t = config.vision_config, config.text_config
    length = min(t.max_position_embeddings, 32)
    batch = {
        "pixel_values": torch.randn(images, 3, v.image_size, v.image_size, device=device),
        "input_ids": torch.randint(0, t.vocab_size, (texts, length), device=device),
        "attention_mask": torch.ones(texts, length, dtype=torch.long, device=device),
    }
    rows = torch.arange(anchors, device=device)
    if k:
        batch["cf_image_index"] = anchors + rows.unsqueeze(1) * (k + m) + torch.arange(k, device=device)
        batch["cf_text_index"] = anchors + rows.unsqueeze(1) * k + torch.arange(k, device=device)
    else:
        batch["cf_image_index"] = batch["cf_text_index"] = torch.zeros(anchors, 0, dtype=torch.long, device=device)
    batch["cf_mask"] = torch.ones(anchors, k, dtype=torch.bool, device=device)
    batch["edit_image_index"] = anchors + rows.unsqueeze(1) * (k + m) + k + torch.arange(m, device=device)
    batch["edit_mask"] = torch.ones(anchors, m, dtype=torch.bool, device=device)
    batch["caption_groups"] = torch.arange(anchors, device=device)
    batch["cf_caption_groups"] = torch.zeros(anchors, k, dtype=torch.long, device=device)
    return batch, images, texts, length


def run_clip(device, smoke: bool, repeats: int, out: list):
    config, anchors, _ = clip_config(smoke)
    peak = peak_flops(device)
    v = config.vision_config
    image_tokens = (v.image_size // v.patch_size) ** 2 + 1
    for compiled in (False,) if smoke else (False, True):  # compiling takes minutes on a CPU
        _clip_runs(config, anchors, compiled, device, repeats, peak, image_tokens, out)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)


def _clip_runs(config, anchors, compiled, device, repeats, peak, image_tokens, out):
    """The plain and the fused CF-VLM step of one (eager or compiled) CLIP; its memory is freed on return."""
    from transformers import CLIPModel

    from cf_vlm_hf import CounterfactualConfig
    from cf_vlm_hf.models import build_scorer
    from cf_vlm_hf.objective import Objective

    v, t = config.vision_config, config.text_config
    torch.manual_seed(0)
    model = CLIPModel(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.type == "cuda")
    forward_model = torch.compile(model) if compiled else model
    for name, (k, m) in (("plain CLIP", (0, 0)), ("CF-VLM fused (K=1, M=2)", (1, 2))):
        args = CounterfactualConfig(output_dir=tempfile.mkdtemp(), report_to="none",
                                    objective="clip" if k == 0 else "cf-vlm", preset="recommended",
                                    use_cpu=device.type == "cpu")
        objective = Objective(args)
        scorer = build_scorer(model, args, objective.plan)
        batch, images, texts, length = clip_batch(config, anchors, k, m, device)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

        def step():
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                loss = objective(scorer.score(forward_model, batch), scorer).loss
            loss.backward()
            optimizer.step()

        try:
            seconds, first = timed(step, device, repeats)
        except torch.OutOfMemoryError:
            out.append({"part": "clip", "setting": name, "compiled": compiled, "error": "out of memory"})
            torch.cuda.empty_cache()
            continue
        flops = 3 * (images * transformer_flops(v.num_hidden_layers, v.hidden_size, image_tokens,
                                                v.intermediate_size)
                     + texts * transformer_flops(t.num_hidden_layers, t.hidden_size, length, t.intermediate_size))
        row = {"part": "clip", "setting": name, "compiled": compiled, "anchors": anchors, "images": images,
               "texts": texts, "step_s": seconds, "samples_per_s": anchors / seconds,
               "images_per_s": images / seconds, "tflops": flops / seconds / 1e12,
               "mfu": (flops / seconds / peak) if peak else None, "first_step_s": first,
               "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None}
        out.append(row)
        print_row(row)


# ----------------------------------------------------------------------------------------------------------- vlm
def llava_config(smoke: bool):
    from transformers import LlavaConfig

    if smoke:
        text = dict(model_type="llama", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512)
        vision = dict(model_type="clip_vision_model", image_size=32, patch_size=8, hidden_size=32,
                      intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    else:  # Llama-2-7B text, CLIP ViT-L/14-336 vision: LLaVA-1.5-7B's shapes
        text = dict(model_type="llama", vocab_size=32064, hidden_size=4096, intermediate_size=11008,
                    num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                    max_position_embeddings=4096)
        vision = dict(model_type="clip_vision_model", image_size=336, patch_size=14, hidden_size=1024,
                      intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16)
    return LlavaConfig(text_config=text, vision_config=vision, image_token_id=text["vocab_size"] - 1,
                       vision_feature_select_strategy="default", vision_feature_layer=-2)


def vlm_batch(config, anchors: int, k: int, m: int, device, caption_tokens: int = 16, prompt_tokens: int = 12):
    """Sequences laid out as `GenerativeCollator` lays them out: anchors, counterfactual pairs, edits."""
    v = config.vision_config
    image_tokens = (v.image_size // v.patch_size) ** 2  # the "default" strategy drops the CLS token
    n = anchors * (1 + k + m)
    length = 1 + image_tokens + prompt_tokens + caption_tokens
    ids = torch.randint(1, config.text_config.vocab_size - 2, (n, length), device=device)
    ids[:, 1 : 1 + image_tokens] = config.image_token_id
    labels = torch.full_like(ids, -100)
    labels[:, -caption_tokens:] = ids[:, -caption_tokens:]
    chunk = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels,
             "pixel_values": torch.randn(n, 3, v.image_size, v.image_size, device=device, dtype=torch.bfloat16)}
    rows = torch.arange(anchors, device=device).unsqueeze(1)
    return {
        "chunks": [chunk],
        "cf_index": anchors + rows * k + torch.arange(k, device=device),
        "cf_mask": torch.ones(anchors, k, dtype=torch.bool, device=device),
        "edit_index": anchors * (1 + k) + rows * m + torch.arange(m, device=device),
        "edit_mask": torch.ones(anchors, m, dtype=torch.bool, device=device),
        "align_index": torch.arange(anchors, device=device),
    }, n, length


def run_vlm(device, smoke: bool, repeats: int, out: list):
    from peft import LoraConfig, get_peft_model
    from transformers import LlavaForConditionalGeneration

    from cf_vlm_hf import CounterfactualConfig
    from cf_vlm_hf.models import build_scorer
    from cf_vlm_hf.objective import Objective

    config = llava_config(smoke)
    start = time.perf_counter()
    with torch.device(device):
        model = LlavaForConditionalGeneration(config).to(torch.bfloat16)
    build_s = time.perf_counter() - start
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj",
                                                                                   "o_proj"]))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    args = CounterfactualConfig(output_dir=tempfile.mkdtemp(), report_to="none", max_counterfactuals=1, max_edits=2,
                                use_cpu=device.type == "cpu")
    objective = Objective(args)
    scorer = build_scorer(model, args, objective.plan)
    anchors = 4
    batch, sequences, length = vlm_batch(model.get_base_model().config, anchors, 1, 2, device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = objective(scorer.score(model, batch), scorer).loss
        loss.backward()
        optimizer.step()

    try:
        seconds, _ = timed(step, device, max(1, repeats // 4))
    except torch.OutOfMemoryError:
        out.append({"part": "vlm", "error": "out of memory"})
        return
    params = sum(p.numel() for p in model.parameters())
    row = {"part": "vlm", "setting": "LLaVA-7B-size + LoRA r16, checkpointing", "anchors": anchors,
           "sequences": sequences, "tokens_per_sequence": length, "params_b": params / 1e9, "build_s": build_s,
           "step_s": seconds, "anchors_per_s": anchors / seconds,
           "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None}
    out.append(row)
    print_row(row)


# ---------------------------------------------------------------------------------------------------------- sdxl
def sdxl_pipeline(full_size: bool, device, dtype):
    """An SDXL text-to-image pipeline from configs: SDXL-base sizes (UNet 2.6B, CLIP-L and bigG text encoders, VAE),
    or the tiny test pipeline; random weights, built on ``device``."""
    from testing_utils.diffusion import clip_bpe_tokenizer, eval_modules, tiny_sdxl

    if not full_size:
        return tiny_sdxl().to(device, dtype)
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    tokenizer, tokenizer_2 = clip_bpe_tokenizer(), clip_bpe_tokenizer()
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id, vocab_size=49408, max_position_embeddings=77)
    with torch.device(device):
        unet = UNet2DConditionModel(
            sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(320, 640, 1280), transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20), cross_attention_dim=2048, use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,  # 6 time ids x 256 + 1280 pooled text dims
        )
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
                            down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                            block_out_channels=[128, 256, 512, 512], sample_size=1024, scaling_factor=0.13025,
                            force_upcast=False)
        text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                                    num_attention_heads=12, hidden_act="quick_gelu",
                                                    projection_dim=768, **ids))
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(
            hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
            hidden_act="gelu", projection_dim=1280, **ids))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(unet=unet, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                                     tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2)
    pipe.set_progress_bar_config(disable=True)
    return eval_modules(pipe).to(device, dtype)


def run_sdxl(device, smoke: bool, repeats: int, out: list):
    size, steps, strength = (64, 2, 0.5) if smoke else (1024, 30, 0.3)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    start = time.perf_counter()
    pipe = sdxl_pipeline(not smoke, device, dtype)
    build_s = time.perf_counter() - start
    from diffusers import StableDiffusionXLImg2ImgPipeline

    edit = StableDiffusionXLImg2ImgPipeline.from_pipe(pipe, torch_dtype=dtype)
    generator = torch.Generator("cpu").manual_seed(0)
    prompt = "a small red circle to the left of a large blue square"
    image = pipe(prompt, height=size, width=size, num_inference_steps=steps, generator=generator).images[0]

    def render():
        pipe(prompt, height=size, width=size, num_inference_steps=steps, generator=generator)

    def minimal_edit():
        edit(prompt, image=image, strength=strength, num_inference_steps=steps, generator=generator)

    try:
        t2i, _ = timed(render, device, max(1, repeats // 8))
        i2i, _ = timed(minimal_edit, device, max(1, repeats // 8))
    except torch.OutOfMemoryError:
        out.append({"part": "sdxl", "error": "out of memory"})
        return
    row_s = t2i * 1 + i2i * 2
    row = {"part": "sdxl", "setting": f"{size} px, {steps} steps, edits at strength {strength}", "build_s": build_s,
           "text_to_image_s": t2i, "img2img_s": i2i, "row_s (K=1, M=2)": row_s, "rows_per_s": 1 / row_s,
           "hours_per_1000_rows": 1000 * row_s / 3600,
           "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None}
    out.append(row)
    print_row(row)


def print_row(row: dict) -> None:
    cells = []
    for key, value in row.items():
        if isinstance(value, float):
            value = f"{value:.3g}" if not math.isnan(value) else "nan"
        cells.append(f"{key}={value}")
    print("| " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="clip,vlm,sdxl")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="toy sizes (what CI runs on CPU to keep the code honest)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = args.repeats or (2 if args.smoke else 8)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {name}; torch {torch.__version__}; peak bf16: {peak_flops(device) or 'unknown'}", flush=True)
    out: list[dict] = []
    parts = {"clip": run_clip, "vlm": run_vlm, "sdxl": run_sdxl}
    started = time.perf_counter()
    for part in args.parts.split(","):
        part_start = time.perf_counter()
        try:
            parts[part](device, args.smoke, repeats, out)
        except Exception as err:  # noqa: BLE001 -- one part failing must not lose the others' numbers
            out.append({"part": part, "error": f"{type(err).__name__}: {str(err)[:300]}"})
            print(f"| part={part} | error={out[-1]['error']} |", flush=True)
        print(f"({part}: {time.perf_counter() - part_start:.0f} s)", flush=True)
    summary = {"benchmark": "gpu", "device": name, "torch": torch.__version__, "smoke": args.smoke,
               "wall_s": time.perf_counter() - started, "results": out}
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    if any("error" in row for row in out) and args.smoke:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
