"""The words of shapes world and the colours they stand for.

Everything a caption can say is listed here, so a renderer built independently of this package can draw the
same vocabulary: a colour word means the RGB value in :data:`COLORS` (give or take a few units of jitter).
"""

from __future__ import annotations

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 180),
    "orange": (245, 130, 30),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
SIZES: tuple[str, ...] = ("small", "large")
RELATIONS: tuple[str, ...] = ("to the left of", "to the right of", "above", "below")
COUNTS: dict[int, str] = {2: "two", 3: "three"}

# The relation that holds after the two objects swap places.
OPPOSITE_RELATION: dict[str, str] = {
    "to the left of": "to the right of",
    "to the right of": "to the left of",
    "above": "below",
    "below": "above",
}

SCENE_KINDS: tuple[str, ...] = ("single", "relation", "count")
EDIT_TYPES: tuple[str, ...] = ("color", "shape", "size", "relation", "binding", "count", "existence")


def plural(shape: str) -> str:
    """Return the plural of a shape word: ``"circle"`` -> ``"circles"``."""
    return shape + "s"


def count_phrase(count: int, color: str, shape: str) -> str:
    """Return a count phrase such as ``"two red circles"`` or ``"three blue squares"``."""
    return f"{COUNTS[count]} {color} {plural(shape)}"


def object_phrase(size: str, color: str, shape: str) -> str:
    """Return a one-object phrase such as ``"a large red circle"``."""
    return f"a {size} {color} {shape}"
