"""Minimal edits: one function per edit type, each changing exactly one thing in a scene.

Every edit function has the signature ``edit(scene, rng, allowed=None)`` and returns ``(edited_scene,
edited_caption)``, or None when the edit does not apply to the scene. The edited scene keeps the background and
every position (only the edited object(s) change), and the edited caption is what the edited image truly shows;
it differs from the anchor caption only in the edited words. Each edit makes the anchor caption false for the
edited image, so (edited image, anchor caption) is a hard negative.

``allowed(colour, shape) -> bool`` restricts the (colour, shape) pairs an edit may create (the held-out split).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .layout import free_center, make_object, pick, sample_radius, sample_rotation
from .scene import Scene, ShapeObject, caption
from .vocabulary import COLORS, OPPOSITE_RELATION, SHAPES, SIZES

Allowed = Callable[[str, str], bool] | None
Edit = tuple[Scene, str] | None


def _ok(allowed: Allowed, color: str, shape: str) -> bool:
    return allowed is None or allowed(color, shape)


def _fits(scene: Scene) -> bool:
    """True when every object lies on the canvas and no two objects' boxes overlap."""
    objs = scene.objects
    for o in objs:
        (x, y), e = o.center, o.extent
        if x - e < 0 or y - e < 0 or x + e > scene.canvas or y + e > scene.canvas:
            return False
    for i, a in enumerate(objs):
        for b in objs[i + 1:]:
            if max(abs(a.center[0] - b.center[0]), abs(a.center[1] - b.center[1])) < a.extent + b.extent:
                return False
    return True


def _result(scene: Scene) -> Edit:
    return (scene, caption(scene)) if _fits(scene) else None


def _targets(scene: Scene, rng: np.random.Generator) -> list[list[int]]:
    """Groups of object indices an attribute edit may change: each object alone, or the whole count group."""
    if scene.kind == "count":
        return [list(range(len(scene.objects)))]
    order = list(range(len(scene.objects)))
    rng.shuffle(order)
    return [[i] for i in order]


def _with_objects(scene: Scene, indices, change) -> Scene:
    objs = list(scene.objects)
    for i in indices:
        objs[i] = change(objs[i])
    return replace(scene, objects=tuple(objs))


def edit_color(scene: Scene, rng: np.random.Generator, allowed: Allowed = None) -> Edit:
    """Recolour one object (the whole group in a count scene) to a different colour."""
    for group in _targets(scene, rng):
        first = scene.objects[group[0]]
        options = [c for c in COLORS if c != first.color and _ok(allowed, c, first.shape)]
        if options:
            new = pick(rng, options)
            return _result(_with_objects(scene, group, lambda o: replace(o, color=new)))
    return None


def _rotation(obj: ShapeObject, new_shape: str, rng: np.random.Generator) -> float:
    """Rotation after a shape change: none for a circle, a fresh angle for a former circle, else the old one."""
    if new_shape == "circle" or obj.shape == "circle":
        return sample_rotation(new_shape, rng)
    return obj.rotation


def edit_shape(scene: Scene, rng: np.random.Generator, allowed: Allowed = None) -> Edit:
    """Change the shape of one object (the whole group in a count scene); centre, radius and colour stay."""
    for group in _targets(scene, rng):
        first = scene.objects[group[0]]
        options = [s for s in SHAPES if s != first.shape and _ok(allowed, first.color, s)]
        if options:
            new = pick(rng, options)

            def reshape(o: ShapeObject, new=new) -> ShapeObject:
                return replace(o, shape=new, rotation=_rotation(o, new, rng))

            return _result(_with_objects(scene, group, reshape))
    return None


def edit_size(scene: Scene, rng: np.random.Generator, allowed: Allowed = None) -> Edit:
    """Make one object of a single or relation scene small if large, large if small (count captions name no size)."""
    if scene.kind == "count":
        return None
    i = _targets(scene, rng)[0][0]
    obj = scene.objects[i]
    new = SIZES[1 - SIZES.index(obj.size)]
    radius = sample_radius(new, scene.canvas, rng)
    return _result(_with_objects(scene, [i], lambda o: replace(o, size=new, radius=radius)))


def _distinguishable(a: ShapeObject, b: ShapeObject) -> bool:
    return (a.color, a.shape, a.size) != (b.color, b.shape, b.size)


def edit_relation(scene: Scene, rng: np.random.Generator, allowed: Allowed = None) -> Edit:
    """Swap the places of the two objects of a relation scene; the caption's relation word flips.

    Needs the two objects to differ in words, else the swap would show the same caption.
    """
    if scene.kind != "relation" or not _distinguishable(*scene.objects):
        return None
    a, b = scene.objects
    swapped = (replace(a, center=b.center), replace(b, center=a.center))
    return _result(replace(scene, objects=swapped, relation=OPPOSITE_RELATION[scene.relation]))


def edit_binding(scene: Scene, rng: np.random.Generator, allowed: Allowed = None) -> Edit:
    """Swap the colours of the two objects of a relation scene (the two colour words swap in the caption)."""
    if scene.kind != "relation":
        return None
    a, b = scene.objects
    if a.color == b.color or not (_ok(allowed, b.color, a.shape) and _ok(allowed, a.color, b.shape)):
        return None
    return _result(replace(scene, objects=(replace(a, color=b.color), replace(b, color=a.color))))


def edit_count(scene: Scene, rng: np.random.Generator, allowed: Allowed = None) -> Edit:
    """Remove one object of a three-object group, or add one alike object to a two-object group (if it fits)."""
    if scene.kind != "count":
        return None
    objs = list(scene.objects)
    if len(objs) == 3:
        del objs[int(rng.integers(3))]
        return _result(replace(scene, objects=tuple(objs)))
    like = objs[0]
    new = make_object(like.color, like.shape, pick(rng, SIZES), (0.0, 0.0), scene.canvas, rng)
    center = free_center(new.extent, [(o.center, o.extent) for o in objs], scene.canvas, rng)
    if center is None:
        return None
    return _result(replace(scene, objects=tuple(objs) + (replace(new, center=center),)))


def edit_existence(scene: Scene, rng: np.random.Generator, allowed: Allowed = None) -> Edit:
    """Remove one object of a relation scene; the caption becomes the remaining object's own caption."""
    if scene.kind != "relation":
        return None
    keep = scene.objects[int(rng.integers(2))]
    return _result(replace(scene, objects=(keep,), kind="single", relation=None))


EDITS: dict[str, Callable[..., Edit]] = {
    "color": edit_color,
    "shape": edit_shape,
    "size": edit_size,
    "relation": edit_relation,
    "binding": edit_binding,
    "count": edit_count,
    "existence": edit_existence,
}


def apply_edit(edit_type: str, scene: Scene, rng: np.random.Generator, allowed: Allowed = None) -> Edit:
    """Return ``EDITS[edit_type](scene, rng, allowed)``: the edited scene and caption, or None if not applicable."""
    if edit_type not in EDITS:
        raise ValueError(f"unknown edit type {edit_type!r}; known: {sorted(EDITS)}")
    return EDITS[edit_type](scene, rng, allowed)
