"""The rasteriser: a scene in, a PIL RGB image out, as a pure function of the scene.

The background (a shade with a gradient and grey noise, both of random strength, seeded from the scene) is drawn
at output resolution. Each object is drawn into a coverage mask over its own box only and blended over the
background; the scene's noise seed also decides whether edges are anti-aliased (4x supersampled, box-filtered
down) or hard, so that neither look is a cue. An object therefore touches no pixel outside :func:`object_box`,
which is what lets a minimal edit leave every other pixel identical.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from .scene import Scene, ShapeObject
from .vocabulary import COLORS

SUPERSAMPLE = 4
NOISE_SIGMA = 6.0  # at most: each scene's grey noise has a standard deviation drawn from 0..NOISE_SIGMA
GRADIENT_AMPLITUDE = 12  # at most: +- units across the canvas
HARD_EDGES_EVERY = 4  # one scene in 4 (by noise seed) is drawn without anti-aliasing


@lru_cache(maxsize=32)
def _background(canvas: int, rgb: tuple[int, int, int], noise_seed: int) -> np.ndarray:
    rng = np.random.default_rng(noise_seed)
    angle = rng.uniform(0, 2 * math.pi)
    amplitude = rng.uniform(0, GRADIENT_AMPLITUDE)
    ys, xs = np.mgrid[0:canvas, 0:canvas].astype(np.float32) / max(canvas - 1, 1) - 0.5
    gradient = 2 * amplitude * (math.cos(angle) * xs + math.sin(angle) * ys)
    noise = rng.normal(0.0, rng.uniform(0, NOISE_SIGMA), size=(canvas, canvas))
    out = np.asarray(rgb, np.float32)[None, None, :] + (gradient + noise)[:, :, None]
    out = np.clip(np.rint(out), 0, 255).astype(np.float32)
    out.setflags(write=False)
    return out


def object_box(obj: ShapeObject, canvas: int) -> tuple[int, int, int, int]:
    """Return ``(x0, y0, x1, y1)``, the pixel box (x1, y1 exclusive) outside which the object changes no pixel."""
    (cx, cy), e = obj.center, obj.extent
    return (max(0, math.floor(cx - e) - 1), max(0, math.floor(cy - e) - 1),
            min(canvas, math.ceil(cx + e) + 1), min(canvas, math.ceil(cy + e) + 1))


def object_rgb(obj: ShapeObject) -> np.ndarray:
    """Return the fill colour of an object: its vocabulary RGB plus its jitter, clipped to 0..255."""
    return np.clip(np.asarray(COLORS[obj.color], np.float32) + np.asarray(obj.color_jitter, np.float32), 0, 255)


def _outline(obj: ShapeObject, ox: float, oy: float, supersample: int) -> list[tuple[float, float]]:
    """Polygon of a square or triangle in supersampled coordinates relative to the box origin."""
    cx, cy = (obj.center[0] - ox) * supersample, (obj.center[1] - oy) * supersample
    r = obj.radius * supersample
    if obj.shape == "square":
        # Half-side 0.84 r: at any rotation its corners (0.84 * sqrt(2) r from the centre) stay in the 1.2 r box.
        corners, spread = [45.0, 135.0, 225.0, 315.0], 0.84 * math.sqrt(2) * r
    else:
        # Equilateral, circumradius 1.2 r, pointing up before its rotation.
        corners, spread = [-90.0, 30.0, 150.0], 1.2 * r
    rot = math.radians(obj.rotation)
    return [(cx + spread * math.cos(math.radians(a) + rot), cy + spread * math.sin(math.radians(a) + rot))
            for a in corners]


def _coverage(obj: ShapeObject, box, supersample: int = SUPERSAMPLE) -> np.ndarray:
    """Fraction (0..1) of each pixel of ``box`` that the object covers (0 or 1 only when ``supersample`` is 1)."""
    x0, y0, x1, y1 = box
    mask = Image.new("L", ((x1 - x0) * supersample, (y1 - y0) * supersample), 0)
    draw = ImageDraw.Draw(mask)
    if obj.shape == "circle":
        cx, cy, r = (obj.center[0] - x0) * supersample, (obj.center[1] - y0) * supersample, obj.radius * supersample
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    else:
        draw.polygon(_outline(obj, x0, y0, supersample), fill=255)
    return np.asarray(mask.reduce(supersample), np.float32) / 255.0


def hard_edges(scene: Scene) -> bool:
    """True when the scene's objects are drawn without anti-aliasing (a pure function of its noise seed)."""
    return scene.noise_seed % HARD_EDGES_EVERY == 0


def render_array(scene: Scene) -> np.ndarray:
    """Return the scene as an ``(H, W, 3)`` uint8 array."""
    canvas = _background(scene.canvas, tuple(scene.background), scene.noise_seed).copy()
    supersample = 1 if hard_edges(scene) else SUPERSAMPLE
    for obj in scene.objects:
        x0, y0, x1, y1 = box = object_box(obj, scene.canvas)
        if x1 <= x0 or y1 <= y0:
            continue
        alpha = _coverage(obj, box, supersample)[:, :, None]
        region = canvas[y0:y1, x0:x1]
        canvas[y0:y1, x0:x1] = region + alpha * (object_rgb(obj) - region)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def render(scene: Scene) -> Image.Image:
    """Return the scene as a PIL RGB image of ``scene.canvas`` x ``scene.canvas`` pixels."""
    return Image.fromarray(render_array(scene), "RGB")


def render_background(scene: Scene) -> Image.Image:
    """Return the scene's background alone (no objects), as a PIL RGB image."""
    array = _background(scene.canvas, tuple(scene.background), scene.noise_seed)
    return Image.fromarray(array.astype(np.uint8), "RGB")
