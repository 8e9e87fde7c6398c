"""What a shapes-world scene is (frozen dataclasses) and the caption that describes it.

Geometry is in pixels of the output canvas; ``center`` is ``(x, y)`` with y pointing down.
"""

from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import COLORS, COUNTS, RELATIONS, SCENE_KINDS, SHAPES, SIZES, count_phrase, object_phrase


@dataclass(frozen=True)
class ShapeObject:
    """One drawn object: its words (colour, shape, size) and how it is drawn (centre, radius, rotation, jitter)."""

    color: str
    shape: str
    size: str
    center: tuple[float, float]
    radius: float
    rotation: float = 0.0  # degrees, squares and triangles only
    color_jitter: tuple[int, int, int] = (0, 0, 0)  # added to the vocabulary RGB

    def __post_init__(self):
        if self.color not in COLORS or self.shape not in SHAPES or self.size not in SIZES:
            raise ValueError(f"unknown word in {self.color!r} {self.shape!r} {self.size!r}")

    @property
    def combo(self) -> tuple[str, str]:
        """Return the ``(colour, shape)`` pair of this object."""
        return (self.color, self.shape)

    @property
    def extent(self) -> float:
        """Return the half-width of a box that holds the object whatever its shape and rotation."""
        return 1.2 * self.radius


@dataclass(frozen=True)
class Scene:
    """A whole picture: canvas size, background, the objects and what kind of caption describes them.

    ``kind`` is "single" (one object), "relation" (two objects, ``objects[0]`` is named first and ``relation``
    says where it lies relative to ``objects[1]``) or "count" (2 or 3 objects of one colour and shape).
    """

    canvas: int
    background: tuple[int, int, int]
    noise_seed: int
    objects: tuple[ShapeObject, ...]
    kind: str
    relation: str | None = None

    def __post_init__(self):
        if self.kind not in SCENE_KINDS:
            raise ValueError(f"unknown scene kind {self.kind!r}")
        if self.kind == "relation" and (len(self.objects) != 2 or self.relation not in RELATIONS):
            raise ValueError("a relation scene needs two objects and a relation word")

    @property
    def combos(self) -> set[tuple[str, str]]:
        """Return the set of ``(colour, shape)`` pairs drawn in the scene."""
        return {o.combo for o in self.objects}


def caption(scene: Scene) -> str:
    """Return the caption of a scene.

    "a large red circle" (single), "a small red circle to the left of a large blue square" (relation),
    "two red circles" (count; sizes are not named).
    """
    objs = scene.objects
    if scene.kind == "single":
        if len(objs) != 1:
            raise ValueError("a single scene holds exactly one object")
        return object_phrase(objs[0].size, objs[0].color, objs[0].shape)
    if scene.kind == "relation":
        a, b = objs
        return f"{object_phrase(a.size, a.color, a.shape)} {scene.relation} {object_phrase(b.size, b.color, b.shape)}"
    if len(objs) not in COUNTS or len({o.combo for o in objs}) != 1:
        raise ValueError("a count scene holds 2 or 3 objects of one colour and shape")
    return count_phrase(len(objs), objs[0].color, objs[0].shape)
