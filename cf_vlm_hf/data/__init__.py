"""Counterfactual corpora: row checks, the `datasets` schema, validation, loaders, saving with a dataset card.

docs/corpus.md describes the schema, every source and its root, validation and skip mode, path safety and the
image decoding policy.
"""

from .card import corpus_card, corpus_statistics, corpus_totals
from .errors import ROW_EPOCH, ROW_INDEX, CorpusError, CorpusWarning
from .images import decode_image
from .indexing import IndexedRows, with_row_index
from .loading import load_counterfactual_dataset
from .paths import PathPolicy
from .rows import KNOWN_EDIT_TYPES, check_row
from .saving import save_counterfactual_dataset
from .schema import corpus_features, counterfactual_features
from .validation import ValidationReport, validate_counterfactual_dataset

__all__ = [
    "KNOWN_EDIT_TYPES",
    "ROW_EPOCH",
    "ROW_INDEX",
    "CorpusError",
    "CorpusWarning",
    "IndexedRows",
    "PathPolicy",
    "ValidationReport",
    "check_row",
    "corpus_card",
    "corpus_features",
    "corpus_statistics",
    "corpus_totals",
    "counterfactual_features",
    "decode_image",
    "load_counterfactual_dataset",
    "save_counterfactual_dataset",
    "validate_counterfactual_dataset",
    "with_row_index",
]
