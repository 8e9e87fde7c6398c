"""The corpus schema as `datasets.Features`: Image columns (not paths), so a corpus saves, pushes, loads unchanged."""

from __future__ import annotations

from datasets import Features, Image, List, Value


def counterfactual_features(
    with_edit_captions: bool = True, with_id: bool = True, with_negative_captions: bool = False
) -> Features:
    """Features of a counterfactual corpus (docs/corpus.md, "The schema").

    ``cf_images``/``cf_captions`` hold the K complete counterfactual pairs of a row, ``edit_images``/``edit_types``
    (and optionally ``edit_captions``) its M minimal edits, ``negative_captions`` its caption-only hard negatives
    (captions that do not describe the image and have no image of their own); K, M and their number may differ
    per row and may be 0.

    ``with_negative_captions`` is off by default, so that ``Dataset.from_list(rows, features=...)`` keeps working
    for rows written before the column existed; every corpus :func:`load_counterfactual_dataset` returns has it
    (:func:`corpus_features`).
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
    if with_negative_captions:
        features["negative_captions"] = List(Value("string"))
    if with_id:
        features["id"] = Value("string")
    return Features(features)


def corpus_features() -> Features:
    """The features of every loaded corpus: :func:`counterfactual_features` with ``negative_captions``."""
    return counterfactual_features(with_negative_captions=True)


def without_decoding(features: Features) -> Features:
    """The same features with every Image (also inside lists) set to ``decode=False``: rows keep encoded dicts."""

    def plain(feature):
        if isinstance(feature, Image):
            return Image(mode=feature.mode, decode=False)
        if isinstance(feature, List):
            return List(plain(feature.feature), length=feature.length)
        return feature

    return Features({name: plain(feature) for name, feature in features.items()})
