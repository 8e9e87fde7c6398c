"""Shapes world: a procedural counterfactual corpus whose counterfactuals and minimal edits are exact.

Coloured circles, squares and triangles on a light background, captioned "a large red circle",
"a small red circle to the left of a large blue square" or "two red circles". See docs/DESIGN.md,
"The embedded default: shapes world".
"""

from .edits import EDITS, apply_edit
from .generator import (
    RowPlan,
    generate_rows,
    plan_row,
    render_row,
    shapes_world_dataset,
    shapes_world_splits,
)
from .render import render
from .scene import Scene, ShapeObject, caption
from .spec import DEFAULT_HELDOUT, ShapesWorldSpec
from .vocabulary import COLORS, EDIT_TYPES, RELATIONS, SHAPES, SIZES

__all__ = [
    "COLORS",
    "DEFAULT_HELDOUT",
    "EDITS",
    "EDIT_TYPES",
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "RowPlan",
    "Scene",
    "ShapeObject",
    "ShapesWorldSpec",
    "apply_edit",
    "caption",
    "generate_rows",
    "plan_row",
    "render",
    "render_row",
    "shapes_world_dataset",
    "shapes_world_splits",
]
