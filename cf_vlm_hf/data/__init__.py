"""Counterfactual corpora: row checks, the `datasets` schema, validation, loaders, saving with a dataset card."""

from .card import corpus_card, corpus_statistics
from .loading import load_counterfactual_dataset
from .rows import KNOWN_EDIT_TYPES, CorpusError, CorpusWarning, check_row, decode_image
from .saving import save_counterfactual_dataset
from .schema import counterfactual_features
from .validation import ValidationReport, validate_counterfactual_dataset

__all__ = [
    "KNOWN_EDIT_TYPES",
    "CorpusError",
    "CorpusWarning",
    "ValidationReport",
    "check_row",
    "corpus_card",
    "corpus_statistics",
    "counterfactual_features",
    "decode_image",
    "load_counterfactual_dataset",
    "save_counterfactual_dataset",
    "validate_counterfactual_dataset",
]
