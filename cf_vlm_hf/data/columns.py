"""The columns of a `datasets` corpus, checked before any cast: names, types, the missing ones, the unknown ones.

``datasets`` casts a column to the schema's type without asking: a list caption becomes the string
``"['a', 'list']"``, a number ``"3.0"``. So a column's type is checked first, and a type that a cast would
distort is a :class:`CorpusError` naming the first row and the field (every row of a typed column is affected, so
this is raised in ``skip`` mode too). Missing list columns are added empty (``edit_captions``: null, "none
given"); the required ones are ``image`` and ``caption``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from datasets import Dataset, Features, Image, IterableDataset, LargeList, List, Value

from .errors import ROW_INDEX, CorpusError, describe_row
from .rows import IMAGE_LIST_COLUMNS, LIST_COLUMNS, REQUIRED_COLUMNS, SCHEMA_COLUMNS, TEXT_LIST_COLUMNS
from .schema import corpus_features

INTERNAL_PREFIX = "__"  # columns the loader adds for its own use (``__index__``, ``__rejected__``, ...)
_STRINGS = ("string", "large_string", "null")
_BINARIES = ("binary", "large_binary")


def did_you_mean(name: str, known: Iterable[str] = SCHEMA_COLUMNS) -> str:
    """``" (did you mean 'cf_images'?)"`` for a near miss of a known name, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_names(names: Iterable[str]) -> list[str]:
    """The names outside the schema, in order (the loader's own ``__...`` columns excepted)."""
    return [n for n in names if n not in SCHEMA_COLUMNS and not str(n).startswith(INTERNAL_PREFIX)]


def rename_to_schema(dataset, image_column: str | None = None, caption_column: str | None = None):
    """Return ``dataset`` with ``image_column`` renamed ``image`` and ``caption_column`` renamed ``caption``.

    Raises :class:`CorpusError` when the named column is absent or the schema's name is already taken.
    """
    names = dataset.column_names
    names = list(names) if names is not None else None
    mapping = {}
    for source, target in ((image_column, "image"), (caption_column, "caption")):
        if source is None or source == target:
            continue
        if names is not None and source not in names:
            raise CorpusError(
                f"{target}_column={source!r} is not a column of the corpus{did_you_mean(source, names)}; it has "
                f"{sorted(names)}",
                "missing_column",
            )
        if names is not None and target in names:
            raise CorpusError(
                f"cannot use column {source!r} as {target!r}: the corpus already has a {target!r} column",
                "duplicate_column",
            )
        mapping[source] = target
    return dataset.rename_columns(mapping) if mapping else dataset


def _is_text(feature) -> bool:
    return isinstance(feature, Value) and feature.dtype in _STRINGS


def _is_image(feature) -> bool:
    if isinstance(feature, Image):
        return True
    if isinstance(feature, Value):
        return feature.dtype in _STRINGS + _BINARIES
    if isinstance(feature, dict):  # an Image struct read without its feature metadata
        return set(feature) <= {"bytes", "path"} and bool(feature)
    return False


def _list_item(feature):
    if isinstance(feature, (List, LargeList)):
        return feature.feature
    return None


def _describe(feature) -> str:
    if isinstance(feature, Value):
        return {"string": "a string", "large_string": "a string"}.get(feature.dtype, f"a {feature.dtype} value")
    if isinstance(feature, (List, LargeList)):
        return f"a list of {_describe(feature.feature).removeprefix('a ').removeprefix('an ')}s"
    if isinstance(feature, dict):
        return f"a struct with fields {sorted(feature)}"
    return f"a {type(feature).__name__}"


def column_type_error(name: str, feature) -> str | None:
    """What is wrong with a schema column's type (``"expected a string, got a float64 value"``), or None."""
    if isinstance(feature, Value) and feature.dtype == "null":
        return None  # all null: each row is judged on its own
    if name == "caption":
        return None if _is_text(feature) else f"expected a string, got {_describe(feature)}"
    if name == "image":
        return None if _is_image(feature) else f"expected an image (Image, path or bytes), got {_describe(feature)}"
    if name == "id":
        ok = isinstance(feature, Value) and feature.dtype not in _BINARIES
        return None if ok else f"expected a string or number, got {_describe(feature)}"
    if name in LIST_COLUMNS:
        item = _list_item(feature)
        if item is None:
            return f"must be a list, got {_describe(feature)}"
        if isinstance(item, Value) and item.dtype == "null":
            return None
        if name in IMAGE_LIST_COLUMNS and not _is_image(item):
            return f"must be a list of images, got {_describe(feature)}"
        if name in TEXT_LIST_COLUMNS and not _is_text(item):
            return f"must be a list of strings, got {_describe(feature)}"
    return None


def first_row_name(dataset) -> str:
    """How an error about a whole column names a row: the first one (its index and id)."""
    row = None
    try:
        if isinstance(dataset, Dataset):
            row = dataset.select_columns([c for c in ("id", ROW_INDEX) if c in dataset.column_names])[:1]
            row = {k: v[0] for k, v in row.items() if v}
    except (IndexError, KeyError, ValueError):
        row = None
    return describe_row(row or {}, 0)


def check_column_types(dataset) -> None:
    """Raise :class:`CorpusError` (reason ``"wrong_type"``) for a schema column whose type a cast would distort."""
    features = dataset.features
    if features is None:
        return
    for name in SCHEMA_COLUMNS:
        if name in features:
            problem = column_type_error(name, features[name])
            if problem:
                raise CorpusError(
                    f"{first_row_name(dataset)}, field {name!r}: {problem} (the column has this type, so every row "
                    "of the corpus is affected)",
                    "wrong_type",
                )


def check_required(column_names) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in column_names]
    if missing:
        raise CorpusError(
            f"corpus lacks required column(s) {missing}; it has {sorted(column_names)} (name other columns with "
            "image_column=... / caption_column=...)",
            "missing_column",
        )


def missing_list_columns(column_names) -> list[str]:
    return [name for name in LIST_COLUMNS if name not in column_names]


def fill_missing_columns(dataset: Dataset) -> Dataset:
    """Add each missing list column to a ``Dataset``: empty lists (``edit_captions``: nulls, "none given")."""
    schema = corpus_features()
    for name in missing_list_columns(dataset.column_names):
        value = None if name == "edit_captions" else []
        dataset = dataset.add_column(name, [value] * len(dataset), feature=schema[name])
    return dataset


def missing_value(name: str):
    """The value a missing list column stands for in one row."""
    return None if name == "edit_captions" else []


def target_features(features: Features) -> Features:
    """``features`` with every schema column given its schema type (other columns kept as they are)."""
    wanted = corpus_features()
    return Features({name: wanted.get(name, feature) for name, feature in features.items()})


def cast_to_schema(dataset: Dataset | IterableDataset) -> Dataset | IterableDataset:
    """Return ``dataset`` with its columns checked and cast to :func:`counterfactual_features` (extra columns kept).

    The required columns must be present (:class:`CorpusError` naming those missing); a column of a type a cast
    would distort is refused (:func:`check_column_types`); a ``Dataset`` gets its missing list columns added
    (an ``IterableDataset`` gets them row by row, when validated). Nothing is rewritten when the types match.
    """
    features = dataset.features
    if features is None:  # a streamed corpus whose types are not known yet: each row is checked as it comes
        return dataset
    check_required(list(features))
    check_column_types(dataset)
    if isinstance(dataset, Dataset):
        dataset = fill_missing_columns(dataset)
        features = dataset.features
    target = target_features(features)
    if features == target:
        return dataset
    try:
        return dataset.cast(target)
    except (TypeError, ValueError) as err:
        bad = [n for n, f in target.items() if features[n] != f]
        message = f"corpus column(s) {bad} cannot be cast to the corpus schema: {err}"
        raise CorpusError(message, "schema_mismatch") from err
