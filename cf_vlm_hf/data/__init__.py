"""Counterfactual corpora: row checks, the `datasets` schema, loaders and the shapes-world generator."""

from .rows import CorpusError, check_row, decode_image

__all__ = ["CorpusError", "check_row", "decode_image"]
