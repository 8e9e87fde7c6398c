"""How fast `cf-vlm generate` builds a corpus from photographs, stage by stage, and what 1,000 rows cost on a GPU.

    PYTHONPATH=.:tests python benchmarks/generation_speed.py                 # tiny pipelines on the CPU
    PYTHONPATH=.:tests python benchmarks/generation_speed.py --image-model stabilityai/stable-diffusion-xl-base-1.0 \
        --instruct-model diffusers/sdxl-instructpix2pix-768 --mask-model CIDAS/clipseg-rd64-refined \
        --rows 64 --steps 30 --resolution 1024 --batch-size 4 --dollars-per-gpu-hour 2.0

The input is the scikit-image / scikit-learn sample photographs with hand-written captions (tests/testing_utils/
photos.py), repeated with new ids up to ``--rows``; captions come from the rules editor. Without ``--image-model``
the pipelines are the tiny random SDXL of the tests (2 steps at 64 px by default), which measures the builder's
own overhead, not diffusion. Prints the machine, rows/s, seconds per stage and the cost of 1,000 rows at
``--dollars-per-gpu-hour`` (meaningful only for a real model on a GPU). A warm-up build of one shard runs first.

Measured (tiny pipelines, defaults: K=1, M=2 with img2img + inpaint (CLIPSeg) + InstructPix2Pix, 64 px, 2 steps,
1 torch thread) on the 2-core shared dev CPU with other jobs running (load average 1.2-2.2): 5.05 rows/s for 48
rows, 4.36 rows/s for 96; each tiny image costs 0.07-0.11 s, a rules caption edit 1 ms (docs/generation.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch


class Timed:
    """A stand-in for a strategy or editor method that adds its wall time to ``totals[name]``."""

    def __init__(self, inner, name, totals, counts):
        self.inner, self.name, self.totals, self.counts = inner, name, totals, counts

    def __call__(self, *args, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = self.inner(*args, **kwargs)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.totals[self.name] += time.perf_counter() - start
        self.counts[self.name] += len(out)
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


def write_input(folder: Path, rows: int, longest_side: int) -> Path:
    from testing_utils.photos import write_photo_folder

    captions = write_photo_folder(folder, longest_side=longest_side)
    names = list(captions)
    with open(folder / "rows.jsonl", "w", encoding="utf-8") as f:
        for i in range(rows):
            name = names[i % len(names)]
            f.write(json.dumps({"image": f"{name}.png", "caption": captions[name], "id": f"{name}-{i}"}) + "\n")
    return folder / "rows.jsonl"


def tiny_generator(settings):
    from testing_utils.diffusion import tiny_sdxl, tiny_unet
    from testing_utils.segmentation import tiny_clipseg

    from cf_vlm_hf.generation import CounterfactualGenerator, RulesEditor
    from cf_vlm_hf.generation.images import (
        ClipSegMasks,
        DiffusionPipelines,
        DiffusionSettings,
        Img2ImgEdit,
        InpaintEdit,
        InstructPix2PixEdit,
        TextToImage,
    )

    pipes = DiffusionPipelines(tiny_sdxl(), instruct_unet=tiny_unet(8))
    diffusion = DiffusionSettings(settings.num_inference_steps, settings.guidance_scale, None, settings.resolution)
    img2img = Img2ImgEdit(pipes, diffusion, settings.img2img_strength)
    strategies = {"img2img": img2img,
                  "inpaint": InpaintEdit(pipes, diffusion, settings.inpaint_strength, ClipSegMasks(*tiny_clipseg()),
                                         settings.mask_dilation, img2img),
                  "instruct-pix2pix": InstructPix2PixEdit(pipes, diffusion, settings.image_guidance_scale)}
    return CounterfactualGenerator(RulesEditor(), TextToImage(pipes, diffusion),
                                   [strategies[s] for s in settings.edit_strategies], settings.num_counterfactuals,
                                   settings.num_edits, settings.num_negative_captions, None, settings.seed)


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
            f"thread(s), load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-model", default=None, help="diffusers pipeline (default: tiny random SDXL)")
    parser.add_argument("--instruct-model", default=None)
    parser.add_argument("--mask-model", default=None)
    parser.add_argument("--strategies", nargs="+", default=["img2img", "inpaint", "instruct-pix2pix"])
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--num-counterfactuals", type=int, default=1)
    parser.add_argument("--num-edits", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--photo-size", type=int, default=None, help="longest side of the input photos")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rows-per-shard", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    parser.add_argument("--dollars-per-gpu-hour", type=float, default=2.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from cf_vlm_hf.generation import GenerationSettings, build_counterfactual_corpus, make_generator

    tiny = args.image_model is None
    needs = {"inpaint": args.mask_model, "instruct-pix2pix": args.instruct_model}
    strategies = [s for s in args.strategies if tiny or needs.get(s, True)]  # a real run needs their models
    settings = GenerationSettings(
        image_model=args.image_model or "tiny-random-sdxl", instruct_model=args.instruct_model or "tiny",
        mask_model=args.mask_model or "tiny-clipseg", edit_strategies=strategies,
        num_counterfactuals=args.num_counterfactuals, num_edits=args.num_edits, num_inference_steps=args.steps,
        img2img_strength=max(0.4, 1.0 / args.steps), resolution=args.resolution, batch_size=args.batch_size,
        rows_per_shard=args.rows_per_shard, progress=False, mask_dilation=2 if tiny else 8,
    )
    generator = tiny_generator(settings) if tiny else make_generator(settings)
    totals, counts = defaultdict(float), defaultdict(int)
    generator.editor.edit_batch = Timed(generator.editor.edit_batch, "caption edits", totals, counts)
    if generator.text_to_image is not None:
        generator.text_to_image = Timed(generator.text_to_image, "text-to-image", totals, counts)
    generator.edit_strategies = [Timed(s, s.name, totals, counts) for s in generator.edit_strategies]
    with tempfile.TemporaryDirectory() as tmp:
        photos = write_input(Path(tmp) / "photos", args.rows, args.photo_size or (64 if tiny else 1024))
        warm = GenerationSettings(**{**settings.record(), "max_rows": args.rows_per_shard, "progress": False})
        build_counterfactual_corpus(str(photos), Path(tmp) / "warm-up", warm, generator=generator)
        totals.clear()
        counts.clear()
        start = time.perf_counter()
        result = build_counterfactual_corpus(str(photos), Path(tmp) / "corpus", settings, generator=generator)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (Path(tmp) / "corpus" / "data").iterdir())
    print(f"machine            {machine()}")
    print(f"image model        {args.image_model or 'tiny random SDXL (the tests)'}; {args.steps} steps at "
          f"{args.resolution} px; K={args.num_counterfactuals}, M={args.num_edits}, strategies {strategies}")
    print(f"rows               {result.num_rows} in {result.num_shards} shards ({size / 2**20:.1f} MiB)")
    print(f"wall seconds       {seconds:.1f}")
    print(f"rows/s             {result.num_rows / seconds:.2f}  ({seconds / result.num_rows:.3f} s per row)")
    for name, total in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<17}{total:7.1f} s  ({counts[name]} outputs, {total / max(1, counts[name]):.3f} s each)")
    other = seconds - sum(totals.values())
    print(f"  {'rest (I/O, card)':<17}{other:7.1f} s")
    cost = seconds / result.num_rows * 1000 / 3600 * args.dollars_per_gpu_hour
    print(f"per 1,000 rows     {seconds / result.num_rows * 1000 / 3600:.2f} device-hours = ${cost:.2f} at "
          f"${args.dollars_per_gpu_hour}/h" + ("  (tiny CPU pipelines: not a GPU cost)" if tiny else ""))


if __name__ == "__main__":
    main()
