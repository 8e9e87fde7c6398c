"""Annotation files whose images are paths: our JSONL/JSON schema, ImageFolder's ``metadata.jsonl``, the authors'.

A file is read record by record into rows of the corpus schema (a ``datasets`` generator). Each record is checked
with :func:`~cf_vlm_hf.data.rows.check_row` *before* ``datasets`` sees it, since its cast would turn a list caption
into the string ``"['a', 'list']"``. A record that fails (or a line that is not JSON) becomes a placeholder row
whose ``__rejected__`` column holds the error: validation then raises it (``on_error="raise"``) or drops the row
and lists it with its line number (``"skip"``). Keys outside the schema are dropped and listed in
``__unknown_keys__``, which validation counts in one warning.

Record keys: those of the schema (docs/corpus.md), renamed first by ``image_column``/``caption_column``. In an
ImageFolder ``metadata.jsonl``, ``file_name`` is the ``image`` and ``X_file_name``/``X_file_names`` is ``X``
(``cf_images_file_names`` -> ``cf_images``), as in ``datasets``' ImageFolder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, IterableDataset, List, Value
from datasets.exceptions import DatasetGenerationError

from .authors_format import authors_record_to_row, is_authors_record
from .errors import CorpusError, describe_row
from .paths import PathPolicy
from .rows import SCHEMA_COLUMNS, check_row, missing_image_message, type_name
from .schema import corpus_features

REJECTED = "__rejected__"
UNKNOWN_KEYS = "__unknown_keys__"
ANNOTATION_SUFFIXES = (".json", ".jsonl")


def annotation_features() -> Features:
    """The corpus schema plus the two columns validation reads and drops (:data:`REJECTED`, :data:`UNKNOWN_KEYS`)."""
    features = corpus_features()
    features[REJECTED] = Value("string")
    features[UNKNOWN_KEYS] = List(Value("string"))
    return features


def iter_records(path: str | os.PathLike) -> Iterator[tuple[int, int | None, dict | CorpusError]]:
    """Yield ``(index, line_number, record)`` from a JSONL file, or from a JSON file holding a list of records.

    A line that is not a JSON object (or not UTF-8 text) is yielded as a :class:`CorpusError` naming the file and
    line (reason ``"bad_json"``) in place of its record, so that a reader can skip it. A JSON list file is parsed
    whole: a syntax error in it is raised, since no record of it can be trusted. A UTF-8 byte order mark is allowed.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        f.seek(0)
        if head.startswith(b"["):  # one JSON array; the format itself forces reading it whole
            try:
                records = json.loads(f.read().decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise CorpusError(f"{path}: not valid JSON ({err}); a JSON list file is read whole, so skip mode "
                                  "cannot drop one bad record of it (write JSONL, one record a line)",
                                  "bad_json") from err
            for index, record in enumerate(records if isinstance(records, list) else [records]):
                if not isinstance(record, dict):
                    record = CorpusError(f"row {index}: {path}, record {index}: not a JSON object", "bad_json")
                yield index, None, record
            return
        index = 0
        for line_number, raw in enumerate(f, start=1):
            record = _parse_line(raw, line_number == 1, f"row {index}: {path}, line {line_number}")
            if record is None:
                continue
            yield index, line_number, record
            index += 1


def _parse_line(raw: bytes, first: bool, where: str) -> dict | CorpusError | None:
    """One JSONL line as a record, a CorpusError for a bad one, None for a blank one."""
    try:
        line = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as err:
        return CorpusError(f"{where}: not UTF-8 text ({err})", "bad_json")
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return CorpusError(f"{where}: not valid JSON ({err})", "bad_json")
    if not isinstance(record, dict):
        return CorpusError(f"{where}: not a JSON object", "bad_json")
    return record


def sniff_authors_format(path: str | os.PathLike) -> bool:
    """Return whether the annotation file's first record is in the CF-VLM authors' format."""
    for _, _, record in iter_records(path):
        return isinstance(record, dict) and is_authors_record(record)
    return False


def _image_folder_key(key: str) -> str:
    if key == "file_name":
        return "image"
    for suffix in ("_file_names", "_file_name"):
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def schema_record_to_row(
    record: dict[str, Any],
    index: int,
    image_column: str | None = None,
    caption_column: str | None = None,
    image_folder: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """Return ``(row, unknown_keys)`` for a record in our schema (keys renamed; paths as written, unchecked)."""
    renames = {}
    if image_folder:
        renames.update({key: _image_folder_key(key) for key in record})
    for source, target in ((image_column, "image"), (caption_column, "caption")):
        if source is not None and source != target:
            renames[source] = target
    row: dict[str, Any] = {}
    for key, value in record.items():
        name = renames.get(key, key)
        if name in row:
            raise CorpusError(f"{describe_row(record, index)}: both {key!r} and another key give field {name!r}",
                              "duplicate_column")
        row[name] = value
    unknown = [key for key in row if key not in SCHEMA_COLUMNS]
    if "image" not in row:
        message = missing_image_message(row, describe_row(record, index))
        raise CorpusError(f"{message}; note: {unknown_keys_note(unknown)}" if unknown else message, "missing_column")
    if row.get("id") is not None:
        if isinstance(row["id"], (dict, list, bool)):
            raise CorpusError(f"{describe_row(record, index)}, field 'id': expected a string or number, got "
                              f"{type_name(row['id'])}", "not_a_string")
        row["id"] = str(row["id"])
    return {name: row[name] for name in SCHEMA_COLUMNS if name in row}, unknown


def unknown_keys_note(keys: list[str]) -> str:
    """``"key 'cf_image' is not in the schema (did you mean 'cf_images'?)"``"""
    from .columns import did_you_mean

    parts = [f"{key!r}{did_you_mean(key)}" for key in keys]
    return f"key{'s' if len(keys) > 1 else ''} {', '.join(parts)} {'are' if len(keys) > 1 else 'is'} not in the schema"


def _placeholder(record: Any, error: CorpusError, line: int | None, unknown: list[str]) -> dict[str, Any]:
    row_id = record.get("id") if isinstance(record, dict) else None
    row = {name: None for name in SCHEMA_COLUMNS}
    row.update(cf_images=[], cf_captions=[], edit_images=[], edit_types=[], negative_captions=[])
    row["id"] = None if row_id is None or isinstance(row_id, (dict, list)) else str(row_id)
    row[REJECTED] = json.dumps({"reason": error.reason, "message": str(error), "line": line})
    row[UNKNOWN_KEYS] = unknown
    return row


def iter_annotation_rows(
    path: str,
    policy: dict[str, Any],
    image_column: str | None = None,
    caption_column: str | None = None,
    image_folder: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield one row of :func:`annotation_features` per record of the file (a placeholder for a bad one).

    ``policy`` holds the :class:`~cf_vlm_hf.data.paths.PathPolicy` fields (plain values, for ``datasets``'
    fingerprinting): relative paths are taken from the file's folder.
    """
    paths = PathPolicy(**policy)
    for index, line, record in iter_records(path):
        unknown: list[str] = []
        try:
            if isinstance(record, CorpusError):
                raise record
            if is_authors_record(record):
                row = authors_record_to_row(record, index)
            else:
                row, unknown = schema_record_to_row(record, index, image_column, caption_column, image_folder)
            row = check_row(row, index, decode=False, paths=paths)
        except CorpusError as err:
            if unknown:  # a typo'd key is the likely cause: say so in the error itself
                err = CorpusError(f"{err}; note: {unknown_keys_note(unknown)}", err.reason)
            yield _placeholder(record, err, line, unknown)
            continue
        out = {name: row.get(name) for name in SCHEMA_COLUMNS}
        out[REJECTED] = None
        out[UNKNOWN_KEYS] = unknown
        yield out


def _source_digest() -> str:
    digest = hashlib.sha256()
    for name in ("annotations.py", "authors_format.py", "rows.py", "paths.py", "schema.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def load_annotation_file(
    path: str,
    policy: PathPolicy,
    streaming: bool = False,
    image_column: str | None = None,
    caption_column: str | None = None,
    image_folder: bool = False,
    cache_dir: str | None = None,
) -> Dataset | IterableDataset:
    """Return the file's rows as a Dataset (or IterableDataset) of :func:`annotation_features`, not yet validated."""
    features = annotation_features()
    gen_kwargs = {
        "path": os.path.abspath(path),
        "policy": {"base": policy.base, "roots": tuple(policy.roots), "label": policy.label,
                   "allow_outside_root": policy.allow_outside_root},
        "image_column": image_column,
        "caption_column": caption_column,
        "image_folder": image_folder,
    }
    if streaming:
        return IterableDataset.from_generator(iter_annotation_rows, features=features, gen_kwargs=gen_kwargs)
    stat = os.stat(path)
    # The cache key must change when the file, the options or this reader do; datasets cannot tell by itself.
    key = json.dumps([gen_kwargs, stat.st_mtime_ns, stat.st_size, repr(features), _source_digest()], default=str)
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:32]
    try:
        return Dataset.from_generator(
            iter_annotation_rows, features=features, gen_kwargs=gen_kwargs, fingerprint=fingerprint,
            cache_dir=cache_dir,
        )
    except DatasetGenerationError as err:
        # datasets wraps errors raised inside the generator; surface ours (a JSON list that does not parse) as is.
        cause = err.__cause__ or err.__context__
        while cause is not None and not isinstance(cause, CorpusError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise
