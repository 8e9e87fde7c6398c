"""Loading a counterfactual corpus from wherever it lives, as a validated `datasets` corpus.

:func:`load_counterfactual_dataset` tells the sources apart by what is on disk (:mod:`.sources` lists them with
the folder each one's image paths must stay under), renames the image and caption columns when told to, and
validates every row (:mod:`.validation`). Every source gives the same schema: a missing list column is an empty
list, whether the corpus is a JSONL file, an ImageFolder, a folder of parquet shards, a Hub dataset, a
``save_to_disk`` folder, a parquet file or an in-memory ``datasets`` object.
"""

from __future__ import annotations

import os
from typing import Any

from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

from .paths import record_policy
from .sources import open_source
from .validation import validate_counterfactual_dataset


def load_counterfactual_dataset(
    source: str | os.PathLike | Dataset | DatasetDict | IterableDataset | IterableDatasetDict,
    split: str | None = None,
    streaming: bool = False,
    on_error: str = "raise",
    allow_outside_root: bool = False,
    rejected_path: str | os.PathLike | None = None,
    decode_images: bool = True,
    *,
    image_column: str | None = None,
    caption_column: str | None = None,
    root: str | os.PathLike | None = None,
    **kwargs: Any,
) -> Dataset | DatasetDict | IterableDataset | IterableDatasetDict:
    """Load a counterfactual corpus and validate it.

    ``source`` is a path (a ``.jsonl``/``.json`` annotation file, a folder of them, an ImageFolder with
    ``metadata.jsonl``, a ``save_to_disk`` folder, a ``.parquet`` file, a folder of parquet shards), a Hub dataset
    id, or an in-memory ``datasets`` object (docs/corpus.md, "Sources").

    Returns a ``Dataset`` with the :func:`counterfactual_features` schema (Image columns; missing list columns
    empty), or an ``IterableDataset`` when ``streaming`` (rows checked lazily as they stream). When ``split`` is
    None and the source has a single split, that split is returned; several splits give a ``DatasetDict`` (or
    ``IterableDatasetDict``), one validated corpus per split.

    ``image_column``/``caption_column`` name the source's columns (or JSON keys) that hold the image and caption
    (run_clip.py's ``image_path``/``caption``). ``on_error``, ``rejected_path`` and ``decode_images`` are those of
    :func:`validate_counterfactual_dataset`: ``"raise"`` stops at the first bad row with a :class:`CorpusError`
    naming it, ``"skip"`` drops bad rows (and unparsable JSON lines) and lists them in ``rejected_path``. Image
    paths must stay under the source's root (its folder; a symlink put under it is followed) unless
    ``allow_outside_root``; ``root`` names another root. Extra ``kwargs`` go to ``datasets.load_dataset``
    (``revision``, ``token``, ``cache_dir``, ...).

    Raises FileNotFoundError for a local path that does not exist (not treated as a Hub id), ConnectionError
    when a Hub id cannot be reached, :class:`CorpusError` for a bad row or column.
    """
    raw, policy = open_source(source, split, streaming, image_column, caption_column, root, allow_outside_root,
                              kwargs)
    if isinstance(raw, (DatasetDict, IterableDatasetDict)) and split is None and len(raw) == 1:
        raw = next(iter(raw.values()))
    clean, _ = validate_counterfactual_dataset(raw, on_error, rejected_path, decode_images, paths=policy)
    for part in clean.values() if isinstance(clean, (DatasetDict, IterableDatasetDict)) else [clean]:
        record_policy(part, policy)
    record_policy(clean, policy)
    return clean
