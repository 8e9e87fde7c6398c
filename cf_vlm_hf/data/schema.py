"""The corpus schema as `datasets.Features`: Image columns (not paths), so a corpus saves, pushes and loads unchanged."""

from __future__ import annotations

from datasets import Features, Image, List, Value


def counterfactual_features(with_edit_captions: bool = True, with_id: bool = True) -> Features:
    """Features of a counterfactual corpus (docs/DESIGN.md, "Corpus columns").

    ``cf_images``/``cf_captions`` hold the K complete counterfactual pairs of a row, ``edit_images``/``edit_types``
    (and optionally ``edit_captions``) its M minimal edits; K and M may differ per row and may be 0.
    """
    features = {
        "image": Image(),
        "caption": Value("string"),
        "cf_images": List(Image()),
        "cf_captions": List(Value("string")),
        "edit_images": List(Image()),
        "edit_types": List(Value("string")),
    }
    if with_edit_captions:
        features["edit_captions"] = List(Value("string"))
    if with_id:
        features["id"] = Value("string")
    return Features(features)
