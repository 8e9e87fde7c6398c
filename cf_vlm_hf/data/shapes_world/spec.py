"""`ShapesWorldSpec`: every knob of the shapes-world generator in one frozen object, passed whole."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .edits import EDITS
from .vocabulary import COLORS, EDIT_TYPES, SHAPES

DEFAULT_HELDOUT: tuple[tuple[str, str], ...] = (
    ("red", "triangle"),
    ("blue", "circle"),
    ("yellow", "square"),
    ("green", "triangle"),
)


@dataclass(frozen=True)
class ShapesWorldSpec:
    """What a shapes-world corpus looks like; a split, a seed and a row count select rows of it.

    Attributes:
        image_size: canvas side in pixels.
        num_counterfactuals: complete counterfactual pairs generated per anchor (K; fewer when fewer apply).
        num_edits: minimal edits generated per anchor (M; of distinct types, fewer when fewer apply).
        edit_types: the edit types drawn from (default: all of `EDIT_TYPES`).
        heldout_combos: (colour, shape) pairs that no "train" or "test" image shows and every "heldout" anchor does.
    """

    image_size: int = 64
    num_counterfactuals: int = 2
    num_edits: int = 4
    edit_types: tuple[str, ...] = EDIT_TYPES
    heldout_combos: tuple[tuple[str, str], ...] = field(default=DEFAULT_HELDOUT)

    def __post_init__(self):
        object.__setattr__(self, "edit_types", tuple(EDIT_TYPES if self.edit_types is None else self.edit_types))
        object.__setattr__(self, "heldout_combos", tuple(tuple(c) for c in self.heldout_combos))
        for name in ("num_counterfactuals", "num_edits"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.image_size < 1:
            raise ValueError(f"image_size must be a positive number of pixels, got {self.image_size}")
        bad = [t for t in self.edit_types if t not in EDITS]
        if bad:
            raise ValueError(f"unknown edit types {bad}; known: {list(EDITS)}")
        unknown = [c for c in self.heldout_combos if c[0] not in COLORS or c[1] not in SHAPES]
        if unknown:
            raise ValueError(f"held-out combinations outside the vocabulary: {unknown}")

    def to_dict(self) -> dict:
        """The fields as plain lists and numbers (JSON, cache keys)."""
        values = asdict(self)
        values["edit_types"] = list(self.edit_types)
        values["heldout_combos"] = [list(c) for c in self.heldout_combos]
        return values
