"""The fused CF-VLM step against a naive per-anchor reference and against its floor, on CPU.

    python benchmarks/train_step.py [--anchors 16] [--repeats 7] [--models tiny,small] [--quick] [--json F]

At B anchors with K=2 complete counterfactual pairs and M=4 minimal edits each, on CLIPs built from configs:

* fused: what `CounterfactualTrainer.compute_loss` runs on a collated batch: ONE forward over every unique image
  (B(1+K+M)) and text (B(1+K)), the scorer's scores, the objective, backward;
* naive: the authors' released script's shape: each anchor's group scored with its own forward passes, the anchor
  re-encoded for each objective, and the processor called inside the loop on PIL images;
* floor: forward + backward of exactly the batch's unique images and texts with a trivial loss (no scoring).

Variants run interleaved (fused, naive, floor, fused, ...) after warm-up, so the ratios compare runs taken side by
side; medians over ``--repeats``. Peak memory: each variant's peak RSS increase, in a fresh subprocess. Targets:
fused >= 3x faster than naive, fused <= 1.15x the floor. Prints a table and one JSON line (``--json`` writes it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402

K, M = 2, 4


def build(size: str):
    """(model, processor) of a tiny or small CLIP from a config (a local word-level tokenizer)."""
    from testing_utils import make_tokenizer
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    torch.manual_seed(0)
    tokenizer = make_tokenizer()
    if size == "tiny":
        text = vision = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
        image, patch, projection = 32, 8, 32
    else:  # "small": a 4-layer, width-256 ViT at 64 px (the small CLIP)
        text = vision = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4)
        image, patch, projection = 64, 8, 128
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), max_position_embeddings=16, eos_token_id=3, bos_token_id=2,
                         pad_token_id=0, **text),
        vision_config=dict(image_size=image, patch_size=patch, **vision),
        projection_dim=projection,
    )
    processor = CLIPProcessor(CLIPImageProcessor(size={"shortest_edge": image}, crop_size={"height": image,
                                                                                          "width": image}), tokenizer)
    return CLIPModel(config).train(), processor


def rows(anchors: int, image: int):
    from testing_utils import make_rows

    out = make_rows(anchors, seed=1, num_cf=K, num_edits=2)
    for row in out:  # M = 4 edits: the two of make_rows, twice (distinct objects, so nothing is de-duplicated)
        row["edit_images"] = [im.copy() for im in row["edit_images"] * 2]
        row["edit_types"] = row["edit_types"] * 2
        row["edit_captions"] = row["edit_captions"] * 2
        for key in ("image", "cf_images", "edit_images"):
            value = row[key]
            row[key] = [im.resize((image, image)) for im in value] if isinstance(value, list) else value.resize(
                (image, image))
    return out


def fused_step(model, batch, scorer, objective):
    model.zero_grad(set_to_none=True)
    out = objective(scorer.score(model, batch), scorer)
    out.loss.backward()
    return out.loss.item()


def floor_step(model, batch):
    """Forward + backward of exactly the batch's images and texts, a trivial loss on their embeddings."""
    from cf_vlm_hf.models.dual_encoder import INDEX_KEYS

    model.zero_grad(set_to_none=True)
    inputs = {k: v for k, v in batch.items() if k not in INDEX_KEYS}
    out = model(**inputs, return_dict=True)
    loss = out.image_embeds.pow(2).mean() + out.text_embeds.pow(2).mean()
    loss.backward()
    return loss.item()


def naive_step(model, processor, batch_rows, margin_csd=0.25, margin_fcd=0.30):
    """Per-anchor forwards, the anchor re-encoded for each objective, the processor inside the loop."""
    import torch.nn.functional as F

    from cf_vlm_hf.losses import alignment_loss

    def score(image, caption):
        inputs = processor(text=[caption], images=[image], return_tensors="pt", padding=True)
        out = model(**inputs, return_dict=True)
        return F.cosine_similarity(out.image_embeds, out.text_embeds)[0]

    model.zero_grad(set_to_none=True)
    inputs = processor(text=[r["caption"] for r in batch_rows], images=[r["image"] for r in batch_rows],
                       return_tensors="pt", padding=True)
    out = model(**inputs, return_dict=True)
    loss = alignment_loss(F.normalize(out.image_embeds, dim=-1), F.normalize(out.text_embeds, dim=-1),
                          model.logit_scale.exp())
    csd, fcd = [], []
    for row in batch_rows:
        anchor = score(row["image"], row["caption"])  # L_csd's own encoding of the anchor
        for image, caption in zip(row["cf_images"], row["cf_captions"]):
            csd.append(F.relu(margin_csd - anchor + score(image, caption)))
        anchor = score(row["image"], row["caption"])  # and L_fcd's
        hardest = torch.stack([score(image, row["caption"]) for image in row["edit_images"]]).max()
        fcd.append(F.relu(margin_fcd - anchor + hardest))
    loss = loss + torch.stack(csd).mean() + torch.stack(fcd).mean()
    loss.backward()
    return loss.item()


def setup(size: str, anchors: int):
    from cf_vlm_hf import CounterfactualConfig
    from cf_vlm_hf.models import build_collator, build_scorer
    from cf_vlm_hf.objective import Objective

    model, processor = build(size)
    image = model.config.vision_config.image_size
    batch_rows = rows(anchors, image)
    config = CounterfactualConfig(output_dir="/tmp/unused", use_cpu=True, report_to="none", scenario_pairing="paper")
    objective = Objective(config)
    batch = build_collator(processor, model, config, objective.plan)(batch_rows)
    assert batch["pixel_values"].shape[0] == anchors * (1 + K + M), batch["pixel_values"].shape
    scorer = build_scorer(model, config, objective.plan)
    return {
        "fused": lambda: fused_step(model, batch, scorer, objective),
        "naive": lambda: naive_step(model, processor, batch_rows),
        "floor": lambda: floor_step(model, batch),
    }, batch


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def peak_step_memory(steps: dict, variant: str) -> float:
    """MiB by which three steps of ``variant`` raise the process's resident memory above what it held before
    (Linux: the peak-RSS counter is reset first through /proc/self/clear_refs)."""
    import gc

    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    for _ in range(3):
        steps[variant]()
    return (_status_kib("VmHWM") - before) / 1024


def peak_memory(size: str, anchors: int, variant: str) -> float:
    """`peak_step_memory` of ``variant`` in a fresh process (so variants do not share an allocator's free memory)."""
    code = (f"import sys; sys.argv=['x']; sys.path.insert(0, {str(REPO / 'benchmarks')!r});"
            "import train_step as t;"
            f"steps, _ = t.setup({size!r}, {anchors});"
            f"steps[{variant!r}]();"  # a first step allocates what every step reuses (optimizer-free: gradients)
            f"print(t.peak_step_memory(steps, {variant!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return float(done.stdout.strip().splitlines()[-1])


def measure(size: str, anchors: int, repeats: int, memory: bool) -> dict:
    steps, batch = setup(size, anchors)
    for step in steps.values():  # warm-up
        step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "model": size, "anchors": anchors, "K": K, "M": M,
        "images": int(batch["pixel_values"].shape[0]), "texts": int(batch["input_ids"].shape[0]),
        "median_s": med, "naive_over_fused": med["naive"] / med["fused"], "fused_over_floor": med["fused"] / med["floor"],
    }
    if memory:
        result["peak_rss_mib"] = {name: peak_memory(size, anchors, name) for name in steps}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", default="tiny,small")
    parser.add_argument("--quick", action="store_true", help="CI's short mode: tiny model, 4 anchors, 2 repeats")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.anchors, args.repeats, args.models = 4, 2, "tiny"
    torch.manual_seed(0)
    machine = f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    results = [measure(size, args.anchors, args.repeats, not (args.no_memory or args.quick))
               for size in args.models.split(",")]
    print(f"machine: {machine}")
    print("| model | B | images | texts | fused s | naive s | floor s | naive/fused | fused/floor | peak MiB "
          "(fused / naive / floor) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        med, mem = r["median_s"], r.get("peak_rss_mib")
        memory = " / ".join(f"{mem[k]:.0f}" for k in ("fused", "naive", "floor")) if mem else "–"
        print(f"| {r['model']} | {r['anchors']} | {r['images']} | {r['texts']} | {med['fused']:.3f} | "
              f"{med['naive']:.3f} | {med['floor']:.3f} | {r['naive_over_fused']:.2f} | {r['fused_over_floor']:.3f} | "
              f"{memory} |")
    line = json.dumps({"benchmark": "train_step", "machine": machine, "results": results})
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")


if __name__ == "__main__":
    main()
