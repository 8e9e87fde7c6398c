"""Score demo checkpoints on shapes-world scenes drawn by a second, independent rasteriser.

The scenes, captions and minimal edits are the generator's (the same vocabulary and grammar, and an edit still
changes one thing), but every image is redrawn here with other conventions than `shapes_world.render`:

* ``plain``: a flat light background (grey 215..250, each channel tinted by up to 10; no gradient or noise), objects
  drawn with PIL at output resolution without anti-aliasing, exact vocabulary colours, one radius per size
  word (5 px small, 10 px large at 64 px), squares axis-aligned, triangles pointing up;
* ``shifted``: ``plain`` plus radii 15 % larger, triangles pointing down, and Gaussian pixel noise (sigma 8);
* ``blurred``: ``plain`` with radii 20 % larger (a large circle of 12 px, beyond the generator's largest),
  a Gaussian blur (radius 0.7 px) and a JPEG round trip at quality 70 (the generator does neither).

A model that learned the generator's quirks (its edge style, its radius ranges, its background noise) loses
accuracy here; one that learned colours, shapes, sizes and positions does not. Prints one table
per split: the headline scores of each checkpoint under the generator's renderer and under each style.

    python benchmarks/independent_renderer.py cf-vlm-demo [--anchors 1000] [--models base,baseline,cf-vlm]
"""

import argparse
import io
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from transformers import VisionTextDualEncoderModel, VisionTextDualEncoderProcessor

from cf_vlm_hf.data.shapes_world import ShapesWorldSpec
from cf_vlm_hf.data.shapes_world.generator import plan_row
from cf_vlm_hf.data.shapes_world.render import render
from cf_vlm_hf.data.shapes_world.vocabulary import COLORS, EDIT_TYPES
from cf_vlm_hf.evaluation import evaluate_counterfactual_split

RADIUS = {"small": 5.0 / 64, "large": 10.0 / 64}  # fraction of the canvas
STYLES = {
    "plain": dict(radius_scale=1.0, triangle_down=False, noise=0.0),
    "shifted": dict(radius_scale=1.15, triangle_down=True, noise=8.0),
    "blurred": dict(radius_scale=1.2, triangle_down=False, noise=0.0, blur=0.7, jpeg=70),
}


def draw_scene(scene, style: dict, rng: np.random.Generator, background) -> Image.Image:
    """The scene drawn with this file's conventions (no supersampling, one radius per size word)."""
    image = Image.new("RGB", (scene.canvas, scene.canvas), background)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        (x, y), r = obj.center, RADIUS[obj.size] * scene.canvas * style["radius_scale"]
        fill = COLORS[obj.color]
        if obj.shape == "circle":
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        elif obj.shape == "square":
            half = 0.85 * r
            draw.rectangle((x - half, y - half, x + half, y + half), fill=fill)
        else:
            tip = 1 if style["triangle_down"] else -1
            draw.polygon([(x, y + tip * 1.1 * r), (x - r, y - tip * 0.7 * r), (x + r, y - tip * 0.7 * r)], fill=fill)
    if style["noise"]:
        noisy = np.asarray(image, np.float32) + rng.normal(0, style["noise"], (scene.canvas, scene.canvas, 1))
        image = Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), "RGB")
    if style.get("blur"):
        image = image.filter(ImageFilter.GaussianBlur(style["blur"]))
    if style.get("jpeg"):
        encoded = io.BytesIO()
        image.save(encoded, format="JPEG", quality=style["jpeg"])
        image = Image.open(io.BytesIO(encoded.getvalue())).convert("RGB")
    return image


def _draw_seeded(scene, style: dict, seed: int, background) -> Image.Image:
    return draw_scene(scene, style, np.random.default_rng(seed), background)


def rows(split: str, anchors: int, style: str | None, image_size: int = 64) -> list[dict]:
    """Evaluation rows of ``split`` (every applicable edit); ``style=None`` keeps the generator's own images."""
    out = []
    for index in range(anchors):
        plan = plan_row(index, split, seed=0,
                        spec=ShapesWorldSpec(image_size=image_size, num_counterfactuals=0, num_edits=len(EDIT_TYPES)))
        if style is None:
            draw = render
        else:
            # One background and noise draw per row: an edit still differs from its anchor only where it edits.
            rng = np.random.default_rng([7, index])
            shade, tint = int(rng.integers(215, 251)), rng.integers(-10, 11, size=3)
            background = tuple(int(min(255, shade + t)) for t in tint)
            seed = int(rng.integers(2**31))
            draw = partial(_draw_seeded, style=STYLES[style], seed=seed, background=background)
        out.append({"image": draw(plan.anchor), "caption": plan.caption,
                    "edit_images": [draw(s) for s in plan.edit_scenes], "edit_types": list(plan.edit_types),
                    "edit_captions": list(plan.edit_captions)})
    return out


HEADLINE = (("mean_image_side", "image side"), ("mean_text_side", "text side"),
            ("winoground/binding/group", "binding group"), ("recall@1", "recall@1"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("demo_dir", help="output folder of `cf-vlm demo`")
    parser.add_argument("--anchors", type=int, default=1000)
    parser.add_argument("--models", default="base,baseline,cf-vlm,baseline-equal-time")
    parser.add_argument("--splits", default="heldout,test")
    parser.add_argument("--styles", default=",".join(STYLES), help="renderer styles besides the generator's own")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if (Path(args.demo_dir) / m).exists()]
    for split in args.splits.split(","):
        styles = args.styles.split(",") if args.styles else []
        unknown = sorted(set(styles) - set(STYLES))
        if unknown:
            parser.error(f"unknown style(s) {unknown}; known: {sorted(STYLES)}")
        renderings = {"generator": rows(split, args.anchors, None), **{s: rows(split, args.anchors, s) for s in styles}}
        print(f"\n### {split}, {args.anchors} anchors: " + ", ".join(h for _, h in HEADLINE) + " (%)\n")
        print("| model | " + " | ".join(renderings) + " |\n" + "|---" * (len(renderings) + 1) + "|")
        for name in models:
            model = VisionTextDualEncoderModel.from_pretrained(Path(args.demo_dir) / name)
            processor = VisionTextDualEncoderProcessor.from_pretrained(Path(args.demo_dir) / name)
            cells = []
            for data in renderings.values():
                scores = evaluate_counterfactual_split(model, processor, data, progress=False)
                cells.append(" / ".join(f"{100 * scores.get(key, 0):.1f}" for key, _ in HEADLINE))
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
