"""Checking a whole corpus: its columns against the schema, then every row with :func:`check_row`.

``on_error="raise"`` stops at the first bad row; ``on_error="skip"`` drops bad rows, warns how many and why,
and writes each rejected row's index, id, reason, message (and line, for annotation files) to a JSONL file, so
nothing disappears silently. A :class:`datasets.Dataset` is scanned in small Arrow batches (memory stays bounded,
images are decoded by :func:`~cf_vlm_hf.data.images.decode_image`, never by ``datasets``) and the clean rows are
kept with ``select`` (no copy); a :class:`datasets.IterableDataset` is checked lazily, row by row, as it streams.
Errors name the row by its index in the dataset validated (its ``__index__`` when it has one) and its id.
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

from .annotations import REJECTED, UNKNOWN_KEYS
from .columns import cast_to_schema, did_you_mean, missing_value, target_features, unknown_names
from .errors import CorpusError, CorpusWarning, describe_row
from .paths import PathPolicy, image_path, local_root, resolve_table_paths
from .rows import IMAGE_COLUMNS, LIST_COLUMNS, SCHEMA_COLUMNS, check_row, check_unique_id, unknown_edit_types
from .schema import corpus_features

logger = logging.getLogger(__name__)

ON_ERROR_CHOICES = ("raise", "skip")
_BATCH_ROWS = 32  # rows held at once while scanning; each holds its encoded images
_INTERNAL = (REJECTED, UNKNOWN_KEYS)


@dataclass
class ValidationReport:
    """Counts from one validation pass (for a streamed corpus they grow while it is iterated).

    ``reasons`` counts rejected rows per reason code (see :class:`CorpusError`); ``unknown_edit_types`` counts
    the edit types outside ``KNOWN_EDIT_TYPES`` (those rows are kept); ``unknown_keys`` counts, per key or column
    outside the schema in an annotation file, the records that have it (dropped); ``unknown_columns`` lists the
    columns outside the schema of a ``datasets`` corpus (kept, not used).
    """

    total: int = 0
    kept: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    unknown_edit_types: Counter = field(default_factory=Counter)
    unknown_keys: Counter = field(default_factory=Counter)
    unknown_columns: list = field(default_factory=list)
    rejected_path: str | None = None

    def summary(self) -> str:
        """One line: ``"7 rows: 5 kept, 2 rejected (duplicate_id: 1, empty_text: 1)"``."""
        text = f"{self.total} rows: {self.kept} kept, {self.rejected} rejected"
        if self.reasons:
            text += " (" + ", ".join(f"{r}: {n}" for r, n in sorted(self.reasons.items())) + ")"
        if self.rejected_path and self.rejected:
            text += f"; rejected rows listed in {self.rejected_path}"
        return text


def unknown_keys_message(counts: Counter) -> str:
    """The warning for keys outside the schema, with counts and "did you mean" for near misses."""
    parts = [f"{key!r} in {n} row{'s' if n != 1 else ''}{did_you_mean(key)}" for key, n in sorted(counts.items())]
    return (
        "corpus records have keys outside the schema, dropped: " + ", ".join(parts) + ". The schema's keys are "
        + ", ".join(SCHEMA_COLUMNS) + " (map other names with image_column=... / caption_column=...)"
    )


class _RowChecker:
    """Checks rows one by one, keeps the counts, and writes rejected rows to the JSONL file."""

    def __init__(self, on_error, rejected_path, decode_images: bool, paths: PathPolicy, unknown_columns=()):
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
        self.on_error = on_error
        self.decode_images = decode_images
        self.paths = paths
        self.unknown_columns = list(unknown_columns)
        self.report = ValidationReport(rejected_path=os.fspath(rejected_path) if rejected_path else None,
                                       unknown_columns=self.unknown_columns)
        self.rewrite_paths = False  # some stored path differs from the path checked: rewrite before use
        self._seen_ids: set = set()
        self._rejected_file = None

    def __enter__(self):
        if self.unknown_columns:  # known before any row: said first, so that an error further on is understood
            parts = [f"{name!r}{did_you_mean(name)}" for name in self.unknown_columns]
            warnings.warn(f"corpus has columns outside the schema, kept but not used: {', '.join(parts)}. The "
                          f"schema's columns are {', '.join(SCHEMA_COLUMNS)} (map other names with image_column=... "
                          "/ caption_column=...)", CorpusWarning, stacklevel=4)
        # Reset on every pass: iterating a streamed corpus twice must not double the counts or the file.
        self.report.total = self.report.kept = self.report.rejected = 0
        for counter in (self.report.reasons, self.report.unknown_edit_types, self.report.unknown_keys):
            counter.clear()
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

    def accept(self, row: dict[str, Any], index: int) -> dict[str, Any] | None:
        """Return the row normalised (images still encoded, paths resolved) if clean; else raise or record it."""
        self.report.total += 1
        self.report.unknown_keys.update(row.get(UNKNOWN_KEYS) or [])
        line = None
        try:
            if row.get(REJECTED):
                problem = json.loads(row[REJECTED])
                line = problem.get("line")
                raise CorpusError(problem["message"], problem["reason"])
            clean = check_row(row, index, decode=False, paths=self.paths)
            if self.decode_images:
                check_row(clean, index, decode=True)
            check_unique_id(row, index, self._seen_ids)
        except CorpusError as err:
            if self.on_error == "raise":
                raise
            self.report.rejected += 1
            self.report.reasons[err.reason] += 1
            if self._rejected_file is not None:
                record = {"index": index, "id": row.get("id"), "reason": err.reason, "message": str(err)}
                if line is not None:
                    record["line"] = line
                self._rejected_file.write(json.dumps(record, default=str) + "\n")
            return None
        for name in IMAGE_COLUMNS:
            before, after = row.get(name), clean.get(name)
            pairs = zip(before or [], after) if name != "image" else [(before, after)]
            for old, new in pairs:
                if image_path(old) is not None and self.paths.needs_rewrite(image_path(old), image_path(new)):
                    self.rewrite_paths = True
        unknown = unknown_edit_types(row)
        if unknown:
            self.report.unknown_edit_types.update(unknown)
            logger.debug("%s: unknown edit type(s) %s", describe_row(row, index), unknown)
        self.report.kept += 1
        return clean

    def finish(self) -> None:
        if self.report.unknown_keys:
            warnings.warn(unknown_keys_message(self.report.unknown_keys), CorpusWarning, stacklevel=3)
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


def _streamed_row(row: dict[str, Any], clean: dict[str, Any], names) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k in names}
    for name in IMAGE_COLUMNS:
        out[name] = clean[name]
    for name in LIST_COLUMNS:
        if name not in row:
            out[name] = missing_value(name)
    out.setdefault("id", None)
    return out


def _validated_rows(source: IterableDataset, checker: _RowChecker, names: tuple):
    """Yield the clean rows of ``source`` with their images still encoded (decoded once, on output)."""
    with checker:
        iterator = iter(source)
        index = 0
        while True:
            try:
                row = next(iterator)
            except StopIteration:
                return
            except CorpusError:
                raise
            except Exception as err:  # datasets or pyarrow failing to read the stream itself
                raise CorpusError(f"row {index}: the corpus cannot be read here ({type(err).__name__}: {err})",
                                  "unreadable") from err
            clean = checker.accept(row, index)
            if clean is not None:
                yield _streamed_row(row, clean, names)
            index += 1


def _streamed_features(features: Features | None) -> Features:
    if features is None:  # types unknown: the schema's columns only
        return corpus_features()
    out = target_features(Features({k: v for k, v in features.items() if k not in _INTERNAL}))
    for name, feature in corpus_features().items():
        out.setdefault(name, feature)
    return out


def _rewrite_paths(dataset: Dataset, paths: PathPolicy) -> Dataset:
    """Replace stored image paths by the resolved paths that were checked (one pass over the corpus)."""
    fmt = dataset.format
    rewritten = dataset.with_format("arrow").map(
        resolve_table_paths, batched=True, batch_size=_BATCH_ROWS, features=dataset.features,
        fn_kwargs={"policy": paths}, desc="Resolving image paths",
    )
    return rewritten.with_format(fmt["type"], columns=fmt["columns"], output_all_columns=fmt["output_all_columns"],
                                 **fmt["format_kwargs"])


def validate_counterfactual_dataset(
    dataset: Dataset | IterableDataset | DatasetDict | IterableDatasetDict,
    on_error: str = "raise",
    rejected_path: str | os.PathLike | None = None,
    decode_images: bool = True,
    *,
    root: str | os.PathLike | None = None,
    allow_outside_root: bool = False,
    paths: PathPolicy | None = None,
) -> tuple[Any, ValidationReport | dict[str, ValidationReport]]:
    """Check a corpus against the schema and every row with :func:`check_row` and :func:`check_unique_id`.

    Returns ``(clean_dataset, report)``: the corpus cast to :func:`counterfactual_features` (missing list columns
    added empty) with the bad rows dropped (``skip``), and a :class:`ValidationReport`. For a ``DatasetDict``
    both are per split (dicts keyed by split; the rejected file gets a ``.SPLIT`` suffix before its extension).
    For an ``IterableDataset`` the rows are checked lazily as they stream and the report fills while iterating.

    ``root`` confines image paths to a folder (docs/corpus.md, "Path safety"; relative paths are taken from the
    working directory, as ``datasets`` opens them); ``paths`` is the full policy (what the loader passes).
    Without either, paths are not confined: an in-memory corpus is the caller's own.

    Raises :class:`CorpusError` (``raise`` mode) at the first bad row, naming its index/id, the field and the
    reason; a column whose type a cast would distort raises in either mode. With ``decode_images`` each image
    is decoded once to prove it is readable; without, only missing images are caught (faster). Unknown edit
    types and keys outside the schema only warn (:class:`CorpusWarning`).
    """
    if paths is None:
        roots = (local_root(root),) if root is not None else ()
        paths = PathPolicy(None, roots, "the root", allow_outside_root)
    if isinstance(dataset, (DatasetDict, IterableDatasetDict)):
        cleaned, reports = {}, {}
        for split, part in dataset.items():
            path = None
            if rejected_path is not None:
                stem, ext = os.path.splitext(os.fspath(rejected_path))
                path = f"{stem}.{split}{ext or '.jsonl'}"
            cleaned[split], reports[split] = validate_counterfactual_dataset(
                part, on_error, path, decode_images, paths=paths
            )
        return type(dataset)(cleaned), reports

    unknown = unknown_names(dataset.column_names or []) if dataset.column_names is not None else []
    dataset = cast_to_schema(dataset)
    checker = _RowChecker(on_error, rejected_path, decode_images, paths, unknown)

    if isinstance(dataset, IterableDataset):
        features = dataset.features
        source = dataset.decode(False) if features is not None else dataset
        out_features = _streamed_features(features)
        clean = IterableDataset.from_generator(
            _validated_rows, features=out_features,
            gen_kwargs={"source": source, "checker": checker, "names": tuple(out_features)},
        )
        return clean, checker.report

    keep = array("q")  # kept row indices: 8 bytes a row, not a Python list
    with checker:
        # Arrow batches give images as encoded {"bytes", "path"} dicts, so check_row decodes each exactly once.
        index = 0
        batches = dataset.with_format("arrow").iter(batch_size=_BATCH_ROWS)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except Exception as err:  # a shard that pyarrow cannot read
                raise CorpusError(f"rows {index}..{index + _BATCH_ROWS - 1}: the corpus cannot be read here "
                                  f"({type(err).__name__}: {err})", "unreadable") from err
            for row in batch.to_pylist():
                if checker.accept(row, index) is not None:
                    keep.append(index)
                index += 1
    if checker.rewrite_paths:
        dataset = _rewrite_paths(dataset, paths)
    if len(keep) < len(dataset):
        dataset = dataset.select(np.frombuffer(keep, dtype=np.int64))
    internal = [c for c in _INTERNAL if c in dataset.column_names]
    if internal:
        dataset = dataset.remove_columns(internal)
    return dataset, checker.report
