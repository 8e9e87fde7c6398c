"""Time `cf-vlm eval` on the dual-encoder suite (SugarCrepe + Winoground + ARO + VL-CheckList) against its floor.

    python benchmarks/eval_speed.py [--device cuda] [--batch-size 64] [--workers N] [--keep DIR]
    python benchmarks/eval_speed.py --short       # CI: 1/200 of the items and a small CLIP

The suite is built at the official item counts (SugarCrepe 7,511; Winoground 400; ARO 23,937 + 28,748 + 25,010 +
5,000; VL-CheckList 46,797 after the authors' cut of 1,000 per file) in each benchmark's own layout, in a temporary
folder, with placeholder images at each benchmark's real resolution: a pool of generated pictures per resolution
(smooth colour fields with noise, about a photograph's JPEG size), hard-linked under every file name the annotations
use. The model is a CLIP of ViT-B/32 size from its config (random weights; `CLIPImageProcessor`'s defaults, i.e.
OpenAI's preprocessing) saved to the temporary folder, and `evaluate_checkpoints` — what `cf-vlm eval` runs — scores
the suite from that folder.

The floor is measured in the same process, with the same model, batch size and worker threads: every unique image of
the suite read, decoded, preprocessed and embedded once (images given to the pixel cache's image processor as
`ImageRef` s, so crops are cut in the worker threads; nothing is kept), and every unique text tokenized and embedded
once. Printed: the total, the floor, their ratio (target <= 1.2), where the time goes (reading annotations, loading
the model, decoding, preprocessing, tokenizing, the two towers — stage seconds are summed over threads, so with
several workers they can exceed the wall time), and items/s per task. The last line is a JSON object.

Resolutions (longest side x shortest): COCO 640x480 (SugarCrepe val2017, COCO-Order val2014); Visual Genome 800x600
(ARO's VG-R / VG-A crops, VL-CheckList's vg and VAW files); Flickr30k 500x375; SWiG 512x384 (its images_512); HAKE
640x480; Winoground 800x600 PNG (an estimate: the Hub dataset holds 367 MB for 800 pictures). Unique image counts:
SugarCrepe 1,560 (the authors' files), COCO-Order 5,000 and Flickr30k-Order 1,000 (the Karpathy test splits); VG-R /
VG-A 8,000 files and VL-CheckList 7,000 vg + 2,300 HAKE + 7,800 SWiG (estimates from the authors' files); every ARO
VG item is its own crop, as in the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict

import numpy as np
from PIL import Image, ImageFile

SUGARCREPE = {"add_att": 692, "add_obj": 2062, "replace_att": 788, "replace_obj": 1652, "replace_rel": 1406,
              "swap_att": 666, "swap_obj": 245}
ARO = {"vg_relation": 23937, "vg_attribution": 28748, "coco_order": 25010, "flickr30k_order": 5000}
# VL-CheckList: (file under data/, source) -> items after the authors' cut (1,000 unless smaller).
VLC_SMALL = {"Attribute/vg/state.json": 941, "Object/Location/swig_location/swig_agent/swig_agent_margin.json": 260,
             "Object/Location/swig_location/swig_destination/swig_destination_margin.json": 45,
             "Object/Location/swig_location/swig_destination/swig_destination_mid.json": 530,
             "Object/Location/swig_location/swig_item/swig_item_margin.json": 88,
             "Object/Location/swig_location/swig_tool/swig_tool_margin.json": 121,
             "Object/Size/swig_size/swig_agent/swig_agent_medium.json": 442,
             "Object/Size/swig_size/swig_agent/swig_agent_small.json": 48,
             "Object/Size/swig_size/swig_destination/swig_destination_medium.json": 109,
             "Object/Size/swig_size/swig_destination/swig_destination_small.json": 9,
             "Object/Size/swig_size/swig_item/swig_item_medium.json": 742,
             "Object/Size/swig_size/swig_item/swig_item_small.json": 154,
             "Object/Size/swig_size/swig_tool/swig_tool_small.json": 308}
RESOLUTION = {"coco": (640, 480), "vg": (800, 600), "flickr": (500, 375), "swig": (512, 384), "hake": (640, 480),
              "winoground": (800, 600)}
WORDS = ("a", "the", "man", "woman", "dog", "cat", "horse", "car", "bus", "table", "chair", "cup", "plate", "red",
         "blue", "green", "white", "black", "small", "large", "old", "young", "on", "under", "behind", "next", "to",
         "in", "front", "of", "holding", "riding", "eating", "wearing", "sitting", "standing", "near", "with",
         "wooden", "metal", "plastic", "glass", "left", "right", "top", "bottom", "two", "three", "people", "street",
         "field", "room", "kitchen", "water", "grass", "sky", "tree", "building", "shirt", "hat", "bag", "ball",
         "boat", "bike", "train", "plane", "bird", "flower", "pizza", "cake", "phone", "book")


def vlc_files() -> dict[str, tuple[str, int]]:
    """The authors' 56 non-empty annotation files -> (image source, items after the cut)."""
    files = {}
    for kind, cats in (("Size", ("large", "medium", "small")), ("Location", ("center", "mid", "margin"))):
        for cat in cats:
            for name in ("vg_obj", "vg_subj"):
                files[f"Object/{kind}/vg_{kind.lower()}/{name}_{cat}.json"] = "vg"
            files[f"Object/{kind}/hake_{kind.lower()}/hake_obj_{cat}.json"] = "hake"
            for role in ("agent", "destination", "item", "tool"):
                files[f"Object/{kind}/swig_{kind.lower()}/swig_{role}/swig_{role}_{cat}.json"] = "swig"
    for source in ("vg", "vaw"):
        for attribute in ("action", "color", "material", "size", "state"):
            files[f"Attribute/{source}/{attribute}.json"] = "vg"
    files.update({"Relation/vg/action.json": "vg", "Relation/vg/spatial.json": "vg", "Relation/hake_action.json": "hake",
                  "Relation/swig_action.json": "swig"})
    return {path: (source, VLC_SMALL.get(path, 1000)) for path, source in files.items()}


class Stages:
    """Seconds per stage, summed over threads (thread-safe); ``inner`` tracks decode time inside a timed call."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.counts = defaultdict(int)
        self.lock = threading.Lock()
        self.local = threading.local()

    def add(self, stage: str, seconds: float, count: int = 1) -> None:
        with self.lock:
            self.seconds[stage] += seconds
            self.counts[stage] += count

    def reset(self) -> None:
        with self.lock:
            self.seconds.clear()
            self.counts.clear()


def instrument(stages: Stages, sync) -> None:
    """Time PIL decoding, the image processor, the tokenizer and the two towers wherever they are called."""
    from transformers import CLIPModel, PreTrainedTokenizerFast

    load = ImageFile.ImageFile.load

    def timed_load(self):
        if not self.tile:
            return load(self)
        start = time.perf_counter()
        try:
            return load(self)
        finally:
            spent = time.perf_counter() - start
            stages.add("decoding", spent)
            stages.local.decoded = getattr(stages.local, "decoded", 0.0) + spent

    ImageFile.ImageFile.load = timed_load
    from transformers.image_processing_utils import BaseImageProcessor  # both backends' (PIL, torchvision) call

    process = BaseImageProcessor.__call__

    def timed_process(self, images, *args, **kwargs):
        before, start = getattr(stages.local, "decoded", 0.0), time.perf_counter()
        try:
            return process(self, images, *args, **kwargs)
        finally:
            inside = getattr(stages.local, "decoded", 0.0) - before
            stages.add("preprocessing", time.perf_counter() - start - inside, _count(images))

    BaseImageProcessor.__call__ = timed_process
    tokenize = PreTrainedTokenizerFast.__call__

    def timed_tokenize(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return tokenize(self, *args, **kwargs)
        finally:
            stages.add("tokenizing", time.perf_counter() - start, _count(args[0] if args else kwargs.get("text")))

    PreTrainedTokenizerFast.__call__ = timed_tokenize
    for method, stage in (("get_image_features", "image tower"), ("get_text_features", "text tower")):
        original = getattr(CLIPModel, method)

        def timed(self, *args, _original=original, _stage=stage, **kwargs):
            sync()
            start = time.perf_counter()
            out = _original(self, *args, **kwargs)
            sync()
            inputs = kwargs.get("pixel_values", kwargs.get("input_ids", args[0] if args else None))
            stages.add(_stage, time.perf_counter() - start, len(inputs) if inputs is not None else 1)
            return out

        setattr(CLIPModel, method, timed)


def _count(images) -> int:
    return len(images) if isinstance(images, (list, tuple)) else 1


class Pictures:
    """Placeholder pictures: a pool of generated files per (resolution, format), hard-linked under any name."""

    def __init__(self, root: str, pool: int, seed: int = 0):
        self.root, self.pool = os.path.join(root, "_pool"), pool
        self.rng = np.random.default_rng(seed)
        self.made: dict[tuple, list[str]] = {}

    def _pool(self, size: tuple[int, int], ext: str) -> list[str]:
        key = (size, ext)
        if key not in self.made:
            os.makedirs(self.root, exist_ok=True)
            paths = []
            width, height = size
            for i in range(self.pool):
                base = self.rng.integers(0, 255, (4, 4, 3)).astype(np.uint8)
                field = np.asarray(Image.fromarray(base).resize((width, height), Image.BILINEAR), dtype=np.float32)
                field += self.rng.normal(0, 12, field.shape)
                picture = Image.fromarray(field.clip(0, 255).astype(np.uint8))
                path = os.path.join(self.root, f"{width}x{height}_{i}.{ext}")
                picture.save(path, quality=90) if ext == "jpg" else picture.save(path)
                paths.append(path)
            self.made[key] = paths
        return self.made[key]

    def put(self, path: str, kind: str, index: int, ext: str = "jpg") -> None:
        pool = self._pool(RESOLUTION[kind], ext)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            return
        try:
            os.link(pool[index % len(pool)], path)
        except OSError:
            import shutil

            shutil.copy(pool[index % len(pool)], path)


def caption(rng: np.random.Generator, n: int, words: int = 10) -> str:
    return f"{n} " + " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), words))


def write_json(path: str, content) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(content, f)


def build_suite(root: str, scale: float, pictures: Pictures, seed: int = 0) -> dict[str, int]:
    """Each benchmark's folder under ``root`` at ``scale`` x the official counts; returns the item count per task."""
    rng = np.random.default_rng(seed)
    n = 0

    def count(official: int) -> int:
        return max(2, round(official * scale)) if scale < 1 else official

    counts = {}
    # SugarCrepe: <subset>.json + val2017/
    images = max(2, round(1560 * scale)) if scale < 1 else 1560
    total = 0
    for subset, official in SUGARCREPE.items():
        entries = {}
        for i in range(count(official)):
            n += 1
            k = int(rng.integers(0, images))
            name = f"{k:012d}.jpg"
            pictures.put(os.path.join(root, "sugarcrepe", "val2017", name), "coco", k)
            entries[str(i)] = {"filename": name, "caption": caption(rng, n), "negative_caption": caption(rng, n)}
        write_json(os.path.join(root, "sugarcrepe", f"{subset}.json"), entries)
        total += len(entries)
    counts["sugarcrepe"] = total
    # Winoground: examples.jsonl + images/*.png
    lines = []
    for i in range(count(400)):
        for k in (0, 1):
            pictures.put(os.path.join(root, "winoground", "images", f"ex_{i}_img_{k}.png"), "winoground", 2 * i + k,
                         "png")
        n += 1
        lines.append(json.dumps({"id": i, "image_0": f"ex_{i}_img_0", "image_1": f"ex_{i}_img_1",
                                 "caption_0": caption(rng, n), "caption_1": caption(rng, n + 1)}))
    os.makedirs(os.path.join(root, "winoground"), exist_ok=True)
    with open(os.path.join(root, "winoground", "examples.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    counts["winoground"] = len(lines)
    # ARO: VG-R / VG-A crops of Visual Genome pictures; prepared Order cases over COCO val2014 and Flickr30k
    vg_files = max(2, round(8000 * scale)) if scale < 1 else 8000
    width, height = RESOLUTION["vg"]
    for subset, filename in (("vg_relation", "visual_genome_relation.json"),
                             ("vg_attribution", "visual_genome_attribution.json")):
        entries = []
        for i in range(count(ARO[subset])):
            n += 1
            k = int(rng.integers(0, vg_files))
            pictures.put(os.path.join(root, "aro", "images", f"{k}.jpg"), "vg", k)
            w, h = int(rng.integers(40, 400)), int(rng.integers(40, 300))
            entry = {"image_path": f"{k}.jpg", "bbox_x": int(rng.integers(0, width - w)),
                     "bbox_y": int(rng.integers(0, height - h)), "bbox_w": w, "bbox_h": h,
                     "true_caption": caption(rng, n, 6), "false_caption": caption(rng, n, 6)}
            entry.update({"relation_name": WORDS[i % 20]} if subset == "vg_relation" else
                         {"attributes": [WORDS[i % 10], WORDS[10 + i % 10]]})
            entries.append(entry)
        write_json(os.path.join(root, "aro", filename), entries)
    for subset, folder, kind, pool in (("coco_order", "coco", "coco", 5000), ("flickr30k_order", "flickr30k",
                                                                              "flickr", 1000)):
        pool = max(2, round(pool * scale)) if scale < 1 else pool
        cases = []
        for i in range(count(ARO[subset])):
            n += 1
            k = i * pool // count(ARO[subset])
            image = f"images/{k}.jpg"
            pictures.put(os.path.join(root, "aro", folder, image), kind, k)
            cases.append({"image": image, "caption_options": [caption(rng, n, 12) for _ in range(5)]})
        write_json(os.path.join(root, "aro", f"{subset}.json"), cases)
    counts["aro"] = sum(count(v) for v in ARO.values())
    # VL-CheckList: data/**.json with images in the authors' vg/, hake/, swig/
    pools = {"vg": 7000, "hake": 2300, "swig": 7800}
    total = 0
    for relative, (source, items) in vlc_files().items():
        entries = []
        for i in range(count(items)):
            n += 1
            size = max(2, round(pools[source] * scale)) if scale < 1 else pools[source]
            k = int(rng.integers(0, size))
            image = {"vg": f"VG_100K/{k}.jpg", "hake": f"openimages/{k}.jpg", "swig": f"swig_{k}.jpg"}[source]
            pictures.put(os.path.join(root, "vl-checklist", source, image), source, k)
            entries.append([image, {"POS": [caption(rng, n, 8)], "NEG": [caption(rng, n, 8)]}])
        write_json(os.path.join(root, "vl-checklist", "data", relative), entries)
        total += len(entries)
    counts["vl-checklist"] = total
    return counts


def make_model(short: bool, folder: str):
    """A CLIP of ViT-B/32 size (or a small one for --short) from its config, with a word-level tokenizer, saved."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, PreTrainedTokenizerFast

    torch.manual_seed(0)
    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[BOS]", "[EOS]", *sorted(set(WORDS)),
                                             *map(str, range(200_000))])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="[BOS] $A [EOS]",
                                                           special_tokens=[("[BOS]", 2), ("[EOS]", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                        bos_token="[BOS]", eos_token="[EOS]", model_max_length=77)
    text = dict(vocab_size=len(vocab), max_position_embeddings=77, eos_token_id=3, bos_token_id=2, pad_token_id=0)
    if short:
        small = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
        config = CLIPConfig(text_config={**text, **small}, vision_config=dict(image_size=224, patch_size=32, **small),
                            projection_dim=32)
    else:  # CLIPConfig's defaults are ViT-B/32's
        config = CLIPConfig(text_config=text)
    model = CLIPModel(config).eval()
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def warm_page_cache(root: str) -> None:
    """Read every file once, so that neither measurement pays for the first read from disk."""
    for dirpath, _, filenames in os.walk(root):
        for filename in filenames:
            with open(os.path.join(dirpath, filename), "rb") as f:
                while f.read(1 << 22):
                    pass


def unique_inputs(data) -> tuple[list, list[str]]:
    """Every unique ImageRef (by key) and unique text of the tasks' items."""
    refs, texts = {}, {}
    for task_data in data.values():
        for items in task_data.subsets.values():
            for item in items:
                images = item.images if hasattr(item, "images") else (item.image,)
                for ref in images:
                    refs.setdefault(ref.key, ref)
                for text in (item.captions if hasattr(item, "captions") else item.texts):
                    texts.setdefault(text, None)
    return list(refs.values()), list(texts)


def measure_floor(folder: str, refs, texts, batch_size: int, device: str, workers: int, sync, stages: Stages) -> float:
    """Seconds to embed every unique image and text once (the same model, batch size and worker threads)."""
    import torch

    from cf_vlm_hf.evaluation.images import CachedImageProcessor, PixelCache
    from cf_vlm_hf.models.dual_encoder import embed_images, embed_texts, text_padding
    from cf_vlm_hf.models.loading import load_model_and_processor

    model, processor = load_model_and_processor(folder)
    model = model.to(device).eval()
    dtype = next(model.parameters()).dtype
    images = CachedImageProcessor(processor.image_processor, PixelCache(max_bytes=0, workers=workers))
    padding = text_padding(model.config.model_type)
    with torch.no_grad():  # warm-up (kernels, allocator), not timed
        embed_images(model, images(refs[:batch_size], return_tensors="pt")["pixel_values"].to(device, dtype))
        embed_texts(model, processor.tokenizer(texts[:batch_size], return_tensors="pt", padding=padding,
                                               truncation=True).to(device))
        sync()
        stages.reset()
        start = time.perf_counter()
        for i in range(0, len(refs), batch_size):
            pixels = images(refs[i : i + batch_size], return_tensors="pt")["pixel_values"]
            embed_images(model, pixels.to(device, dtype))
        for i in range(0, len(texts), batch_size):
            tokens = processor.tokenizer(texts[i : i + batch_size], return_tensors="pt", padding=padding,
                                         truncation=True)
            embed_texts(model, {k: v.to(device) for k, v in tokens.items()})
        sync()
        return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="1/200 of the items, a small CLIP (what CI runs)")
    parser.add_argument("--scale", type=float, default=None, help="fraction of the official counts (default 1)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="preprocessing threads (default: min(8, cores))")
    parser.add_argument("--pool", type=int, default=64, help="distinct placeholder pictures per resolution")
    parser.add_argument("--keep", default=None, help="build the suite in this folder and keep it")
    args = parser.parse_args(argv)
    import torch

    from cf_vlm_hf.evaluation import evaluate_checkpoints, runner
    from cf_vlm_hf.evaluation.images import DEFAULT_WORKERS, PixelCache
    from cf_vlm_hf.evaluation.tasks import get_task

    scale = args.scale if args.scale is not None else (0.005 if args.short else 1.0)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    workers = args.workers or DEFAULT_WORKERS
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    work = args.keep or tempfile.mkdtemp(prefix="cf-vlm-eval-speed-")
    data_dir, model_dir = os.path.join(work, "data"), os.path.join(work, "clip")
    start = time.perf_counter()
    counts = build_suite(data_dir, scale, Pictures(work, 4 if args.short else args.pool))
    make_model(args.short, model_dir)
    print(f"built the suite ({sum(counts.values()):,} items) and the model in {time.perf_counter() - start:.1f} s "
          f"under {work}", file=sys.stderr)
    warm_page_cache(data_dir)

    stages = Stages()
    instrument(stages, sync)
    walls = {}
    captured = {}
    from cf_vlm_hf.models import loading

    load_tasks, load_model = runner.load_tasks, loading.load_model_and_processor

    def timed_load_tasks(*a, **k):
        t = time.perf_counter()
        captured["data"] = load_tasks(*a, **k)
        walls["reading annotations"] = time.perf_counter() - t
        return captured["data"]

    def timed_load_model(*a, **k):
        t = time.perf_counter()
        out = load_model(*a, **k)
        walls["loading the model"] = time.perf_counter() - t
        return out

    runner.load_tasks, loading.load_model_and_processor = timed_load_tasks, timed_load_model
    tasks = [get_task(name) for name in ("sugarcrepe", "winoground", "aro", "vl-checklist")]
    original_cache = runner.PixelCache
    runner.PixelCache = lambda max_bytes: PixelCache(max_bytes, workers=workers)
    try:
        start = time.perf_counter()
        report = evaluate_checkpoints(model_dir, tasks, data_dir=data_dir, device=device, batch_size=args.batch_size,
                                      progress=False)
        sync()
        total = time.perf_counter() - start
    finally:
        runner.load_tasks, loading.load_model_and_processor = load_tasks, load_model
        runner.PixelCache = original_cache
    run_stages, run_counts = dict(stages.seconds), dict(stages.counts)
    walls["scoring"] = sum(report.timings[report.labels[0]].values())

    refs, texts = unique_inputs(captured["data"])
    floor = measure_floor(model_dir, refs, texts, args.batch_size, device, workers, sync, stages)
    floor_stages, floor_counts = dict(stages.seconds), dict(stages.counts)

    items = sum(report.tasks[t]["item_count"] for t in report.tasks)
    rates = report.items_per_second()[report.labels[0]]
    print(f"cf-vlm eval, dual-encoder suite: {items:,} items ({', '.join(f'{t} {n:,}' for t, n in counts.items())}), "
          f"{len(refs):,} unique images, {len(texts):,} unique texts; {'small CLIP' if args.short else 'ViT-B/32 CLIP'}"
          f", batch {args.batch_size}, {device}, {workers} preprocessing threads")
    print(f"{'':28s}{'run':>10s}{'floor':>10s}")
    print(f"{'wall seconds':28s}{total:10.2f}{floor:10.2f}")
    for name in ("reading annotations", "loading the model", "scoring"):
        print(f"  {name:26s}{walls.get(name, 0.0):10.2f}")
    print("stage seconds (summed over threads), and how many images / texts each stage saw")
    for name in ("decoding", "preprocessing", "image tower", "tokenizing", "text tower"):
        print(f"  {name:26s}{run_stages.get(name, 0.0):10.2f}{floor_stages.get(name, 0.0):10.2f}"
              f"{run_counts.get(name, 0):>12,}{floor_counts.get(name, 0):>10,}")
    ratio = total / floor
    print(f"ratio run / floor: {ratio:.2f} (target <= 1.2)")
    print("items/s: " + ", ".join(f"{task} {rate:,.1f}" for task, rate in rates.items()))
    print(json.dumps({"total_s": round(total, 3), "floor_s": round(floor, 3), "ratio": round(ratio, 3),
                      "items": items, "items_per_s": rates, "unique_images": len(refs), "unique_texts": len(texts),
                      "walls_s": {k: round(v, 3) for k, v in walls.items()},
                      "stages_s": {k: round(v, 3) for k, v in run_stages.items()},
                      "floor_stages_s": {k: round(v, 3) for k, v in floor_stages.items()},
                      "stage_counts": run_counts, "floor_stage_counts": floor_counts,
                      "device": device, "batch_size": args.batch_size, "workers": workers, "scale": scale}))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
