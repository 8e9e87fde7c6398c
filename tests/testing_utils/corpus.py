"""A small in-memory counterfactual corpus: coloured circles and squares with counterfactual pairs and edits."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

WORDS = (
    "a an the two three small large red green blue yellow purple orange circle circles square squares "
    "triangle triangles to of left right above below and is not"
).split()
COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30)}
SHAPES = ("circle", "square")


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
