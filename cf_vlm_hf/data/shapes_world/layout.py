"""Random layouts: where objects go, how big they are, and the background they sit on.

Every placement leaves room for the edits that may follow: objects of single and relation scenes reserve the
box of the largest possible *large* object, so a size edit to large or a swap of two objects never overlaps
and never leaves the canvas. Count scenes reserve each object's own box (their edits keep sizes).
All functions draw from a ``numpy.random.Generator`` and are deterministic given its state.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .scene import Scene, ShapeObject
from .vocabulary import SIZES

# Radius ranges as fractions of the canvas side.
# Wide ranges on purpose: models are judged on scenes drawn by other renderers (other radii, orientations,
# shades), so no size, angle or tint of this generator should be a cue. Small and large never overlap.
RADIUS_RANGE = {"small": (0.06, 0.10), "large": (0.13, 0.18)}
EXTENT_FACTOR = 1.2  # ShapeObject.extent / radius
MAX_ROTATION = 180.0  # degrees: squares and triangles at any orientation
COLOR_JITTER = 12  # per channel, +-
PLACEMENT_TRIES = 200


def pick(rng: np.random.Generator, items):
    """Return one element of ``items`` chosen uniformly (a plain Python value, not a numpy scalar)."""
    items = list(items)
    return items[int(rng.integers(len(items)))]


def sample_radius(size: str, canvas: int, rng: np.random.Generator) -> float:
    """Return a radius in pixels for a size word, jittered inside that size's range."""
    lo, hi = RADIUS_RANGE[size]
    return float(rng.uniform(lo, hi) * canvas)


def reserved_extent(canvas: int) -> float:
    """Return the half-width of the box that the largest possible object needs."""
    return EXTENT_FACTOR * RADIUS_RANGE["large"][1] * canvas


def gap(canvas: int) -> float:
    """Return the minimum free space in pixels between the boxes of two objects."""
    return max(1.0, 0.03 * canvas)


def sample_background(rng: np.random.Generator) -> tuple[tuple[int, int, int], int]:
    """Return a light background shade (grey 205..250, each channel tinted by up to 8) and a seed for its noise."""
    shade = int(rng.integers(205, 251))
    tint = rng.integers(-8, 9, size=3)
    rgb = tuple(int(min(254, max(200, shade + t))) for t in tint)
    return rgb, int(rng.integers(2**31 - 1))


def sample_rotation(shape: str, rng: np.random.Generator) -> float:
    """Return an orientation in degrees for a shape: 0 for a circle, any angle for a square or triangle."""
    return 0.0 if shape == "circle" else float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))


def make_object(color: str, shape: str, size: str, center, canvas: int, rng: np.random.Generator) -> ShapeObject:
    """Return a new object with a jittered radius, a random orientation (not for circles) and a colour jitter."""
    rotation = sample_rotation(shape, rng)
    jitter = tuple(int(v) for v in rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3))
    return ShapeObject(color, shape, size, (float(center[0]), float(center[1])),
                       sample_radius(size, canvas, rng), rotation, jitter)


def _far_enough(center, extent, others, canvas) -> bool:
    for (ox, oy), oe in others:
        # Boxes (not discs) must keep the gap apart, on at least one axis.
        if max(abs(center[0] - ox), abs(center[1] - oy)) < extent + oe + gap(canvas):
            return False
    return True


def free_center(extent: float, others, canvas: int, rng: np.random.Generator):
    """Return a centre where a box of half-width ``extent`` fits on the canvas clear of ``others``, or None.

    ``others`` is a list of ``(center, extent)`` pairs already placed.
    """
    lo, hi = extent + 1.0, canvas - extent - 1.0
    if hi < lo:
        return None
    for _ in range(PLACEMENT_TRIES):
        c = (float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)))
        if _far_enough(c, extent, others, canvas):
            return c
    return None


def relation_centers(relation: str, canvas: int, rng: np.random.Generator):
    """Return two centres ``(a, b)`` such that ``a`` clearly lies ``relation`` ``b``, or None if none fit.

    "Clearly": along the relation's axis the reserved boxes do not overlap, and the offset across that axis
    is at most half the offset along it.
    """
    ext = reserved_extent(canvas)
    lo, hi = ext + 1.0, canvas - ext - 1.0
    need = 2 * ext + gap(canvas)
    for _ in range(PLACEMENT_TRIES):
        m1, m2 = float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))
        if abs(m1 - m2) < need:
            continue
        lo_first = relation in ("to the left of", "above")  # a has the smaller coordinate
        m_a, m_b = (min(m1, m2), max(m1, m2)) if lo_first else (max(m1, m2), min(m1, m2))
        p_a = float(rng.uniform(lo, hi))
        spread = 0.5 * abs(m1 - m2)
        p_b = float(rng.uniform(max(lo, p_a - spread), min(hi, p_a + spread)))
        if relation in ("to the left of", "to the right of"):
            return (m_a, p_a), (m_b, p_b)
        return (p_a, m_a), (p_b, m_b)
    return None


def _count_objects(words, canvas: int, rng: np.random.Generator):
    """Objects of a count scene, each placed clear of those before it (its own box reserved), or None."""
    objects, placed = [], []
    for color, shape, size in words:
        obj = make_object(color, shape, size if size is not None else pick(rng, SIZES), (0.0, 0.0), canvas, rng)
        center = free_center(obj.extent, placed, canvas, rng)
        if center is None:
            return None
        placed.append((center, obj.extent))
        objects.append(replace(obj, center=center))
    return tuple(objects)


def layout_scene(kind: str, words, relation: str | None, canvas: int, rng: np.random.Generator) -> Scene | None:
    """Return a fresh scene (new positions, sizes, jitter and background) for the given words, or None.

    ``words`` lists ``(colour, shape, size)`` per object in caption order: one for "single", two for
    "relation", two or three for "count" (a count object's size may be None: it is then drawn here).
    None is returned only when the objects cannot be placed.
    """
    background, noise_seed = sample_background(rng)
    if kind == "count":
        objects = _count_objects(words, canvas, rng)
    else:
        if kind == "single":
            centers = [free_center(reserved_extent(canvas), [], canvas, rng)]
        else:
            centers = relation_centers(relation, canvas, rng)
        if centers is None or centers[0] is None:
            return None
        objects = tuple(make_object(c, s, z, p, canvas, rng) for (c, s, z), p in zip(words, centers))
    if objects is None:
        return None
    return Scene(canvas, background, noise_seed, objects, kind, relation if kind == "relation" else None)
