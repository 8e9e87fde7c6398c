"""Checking a whole corpus: its columns against the schema, then every row with :func:`check_row`.

``on_error="raise"`` stops at the first bad row; ``on_error="skip"`` drops bad rows, warns how many and why,
and writes each rejected row's index, id and reason to a JSONL file, so nothing disappears silently.
A :class:`datasets.Dataset` is scanned in small Arrow batches (memory stays bounded) and the clean rows are
kept with ``select`` (no copy); a :class:`datasets.IterableDataset` is checked lazily, row by row, as it streams.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict, Features, IterableDataset, IterableDatasetDict

from .rows import (
    REQUIRED_COLUMNS,
    CorpusError,
    CorpusWarning,
    check_row,
    check_unique_id,
    describe_row,
    unknown_edit_types,
)
from .schema import counterfactual_features

logger = logging.getLogger(__name__)

ON_ERROR_CHOICES = ("raise", "skip")
_BATCH_ROWS = 32  # rows held at once while scanning; each holds its encoded images


@dataclass
class ValidationReport:
    """Counts from one validation pass (for a streamed corpus they grow while it is iterated).

    ``reasons`` counts rejected rows per reason code (see :class:`CorpusError`); ``unknown_edit_types`` counts
    the edit types outside ``KNOWN_EDIT_TYPES`` (those rows are kept).
    """

    total: int = 0
    kept: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    unknown_edit_types: Counter = field(default_factory=Counter)
    rejected_path: str | None = None

    def summary(self) -> str:
        """One line: ``"7 rows: 5 kept, 2 rejected (duplicate_id: 1, empty_text: 1)"``."""
        text = f"{self.total} rows: {self.kept} kept, {self.rejected} rejected"
        if self.reasons:
            text += " (" + ", ".join(f"{r}: {n}" for r, n in sorted(self.reasons.items())) + ")"
        if self.rejected_path and self.rejected:
            text += f"; rejected rows listed in {self.rejected_path}"
        return text


def schema_for(column_names) -> Features:
    """Return the corpus schema for a corpus with these columns (optional columns only when present)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in column_names]
    if missing:
        raise CorpusError(f"corpus lacks required column(s) {missing}; it has {sorted(column_names)}", "missing_column")
    return counterfactual_features(with_edit_captions="edit_captions" in column_names, with_id="id" in column_names)


def cast_to_schema(dataset: Dataset | IterableDataset) -> Dataset | IterableDataset:
    """Return ``dataset`` with the corpus columns cast to :func:`counterfactual_features` (extra columns kept).

    Nothing is rewritten when the features already match. Raises :class:`CorpusError` naming the column
    when a column cannot be cast (a number where a caption belongs, ...).
    """
    features = dataset.features
    if features is None:  # a streamed corpus whose types are not known yet
        return dataset
    wanted = schema_for(list(features))
    if all(features[name] == feature for name, feature in wanted.items()):
        return dataset
    target = Features({name: wanted.get(name, feature) for name, feature in features.items()})
    try:
        return dataset.cast(target)
    except (TypeError, ValueError) as err:
        bad = [n for n, f in wanted.items() if features[n] != f]
        raise CorpusError(
            f"corpus column(s) {bad} cannot be cast to the corpus schema: {err}", "schema_mismatch"
        ) from err


class _RowChecker:
    """Checks rows one by one, keeps the counts, and writes rejected rows to the JSONL file."""

    def __init__(self, on_error: str, rejected_path: str | os.PathLike | None, decode_images: bool):
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
        self.on_error = on_error
        self.decode_images = decode_images
        self.report = ValidationReport(rejected_path=os.fspath(rejected_path) if rejected_path else None)
        self._seen_ids: set = set()
        self._rejected_file = None

    def __enter__(self):
        # Reset on every pass: iterating a streamed corpus twice must not double the counts or the file.
        self.report.total = self.report.kept = self.report.rejected = 0
        self.report.reasons.clear()
        self.report.unknown_edit_types.clear()
        self._seen_ids = set()
        if self.report.rejected_path and self.on_error == "skip":
            os.makedirs(os.path.dirname(os.path.abspath(self.report.rejected_path)), exist_ok=True)
            self._rejected_file = open(self.report.rejected_path, "w", encoding="utf-8")
        return self

    def __exit__(self, *exc_info):
        if self._rejected_file is not None:
            self._rejected_file.close()
            self._rejected_file = None
        if exc_info[0] is None:
            self.finish()

    def accept(self, row: dict[str, Any], index: int) -> bool:
        """Return whether the row is clean; raise in ``raise`` mode, record it in ``skip`` mode."""
        self.report.total += 1
        try:
            check_row(row, index, decode=self.decode_images)
            check_unique_id(row, index, self._seen_ids)
        except CorpusError as err:
            if self.on_error == "raise":
                raise
            self.report.rejected += 1
            self.report.reasons[err.reason] += 1
            if self._rejected_file is not None:
                record = {"index": index, "id": row.get("id"), "reason": err.reason, "message": str(err)}
                self._rejected_file.write(json.dumps(record, default=str) + "\n")
            return False
        unknown = unknown_edit_types(row)
        if unknown:
            self.report.unknown_edit_types.update(unknown)
            logger.debug("%s: unknown edit type(s) %s", describe_row(row, index), unknown)
        self.report.kept += 1
        return True

    def finish(self) -> None:
        if self.report.unknown_edit_types:
            warnings.warn(
                "corpus has edit types outside the known set (rows kept): "
                + ", ".join(f"{t!r} x{n}" for t, n in sorted(self.report.unknown_edit_types.items())),
                CorpusWarning,
                stacklevel=3,
            )
        if self.report.rejected:
            warnings.warn(f"skipped bad corpus rows: {self.report.summary()}", CorpusWarning, stacklevel=3)
        logger.info("corpus validation: %s", self.report.summary())


def _validated_rows(source: IterableDataset, checker: _RowChecker):
    """Yield the clean rows of ``source`` with their images still encoded (decoded once, on output)."""
    with checker:
        for index, row in enumerate(source):
            if checker.accept(row, index):
                yield row


def validate_counterfactual_dataset(
    dataset: Dataset | IterableDataset | DatasetDict | IterableDatasetDict,
    on_error: str = "raise",
    rejected_path: str | os.PathLike | None = None,
    decode_images: bool = True,
) -> tuple[Any, ValidationReport | dict[str, ValidationReport]]:
    """Check a corpus against the schema and every row with :func:`check_row` and :func:`check_unique_id`.

    Returns ``(clean_dataset, report)``: the corpus cast to :func:`counterfactual_features` with the bad rows
    dropped (``skip``), and a :class:`ValidationReport`. For a ``DatasetDict`` both are per split (dicts keyed
    by split; the rejected file gets a ``.SPLIT`` suffix before its extension). For an ``IterableDataset`` the
    rows are checked lazily as they stream and the report fills while iterating.

    Raises :class:`CorpusError` (``raise`` mode) at the first bad row, naming its index/id, the field and the
    reason. With ``decode_images`` each image is decoded once to prove it is readable; without, only
    missing images are caught (faster). Unknown edit types only warn (:class:`CorpusWarning`).
    """
    if isinstance(dataset, (DatasetDict, IterableDatasetDict)):
        cleaned, reports = {}, {}
        for split, part in dataset.items():
            path = None
            if rejected_path is not None:
                stem, ext = os.path.splitext(os.fspath(rejected_path))
                path = f"{stem}.{split}{ext or '.jsonl'}"
            cleaned[split], reports[split] = validate_counterfactual_dataset(part, on_error, path, decode_images)
        return type(dataset)(cleaned), reports

    dataset = cast_to_schema(dataset)
    checker = _RowChecker(on_error, rejected_path, decode_images)

    if isinstance(dataset, IterableDataset):
        features = dataset.features
        source = dataset.decode(False) if features is not None else dataset
        clean = IterableDataset.from_generator(
            _validated_rows, features=features, gen_kwargs={"source": source, "checker": checker}
        )
        return clean, checker.report

    keep = array("q")  # kept row indices: 8 bytes a row, not a Python list
    with checker:
        # Arrow batches give images as encoded {"bytes", "path"} dicts, so check_row decodes each exactly once.
        index = 0
        for batch in dataset.with_format("arrow").iter(batch_size=_BATCH_ROWS):
            for row in batch.to_pylist():
                if checker.accept(row, index):
                    keep.append(index)
                index += 1
    if len(keep) < len(dataset):
        dataset = dataset.select(np.frombuffer(keep, dtype=np.int64))
    return dataset, checker.report
