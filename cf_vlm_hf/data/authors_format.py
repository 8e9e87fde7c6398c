"""Annotation files whose images are file paths: our JSONL schema and the CF-VLM authors' JSON/JSONL.

Both are read lazily, one record at a time, into rows of the corpus schema whose image fields are absolute
paths (``datasets`` reads the files when a row is decoded or saved). Paths are resolved against the
annotation file's folder and must stay inside it unless ``allow_outside_root``.

The authors' records look like::

    {"orig_input": "... <|vision_start|>images/a.png<|vision_end|>", "orig_output": "a red cube",
     "cf_samples": [{"cf_text": "a blue cube", "cf_image_path": "images/a_cf0.png"}]}

and become an anchor (image, caption) with complete counterfactual pairs and no minimal edits.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from .rows import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, CorpusError, describe_row, resolve_image_path

VISION_SPAN = re.compile(r"<\|vision_start\|>(.*?)<\|vision_end\|>", re.DOTALL)
SCHEMA_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS


def iter_records(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(index, record)`` from a JSONL file, or from a JSON file holding a list of records.

    Raises :class:`CorpusError` naming the line for a line that is not a JSON object.
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        first = ""
        while not first:
            char = f.read(1)
            if not char:
                return
            first = char.strip()
        f.seek(0)
        if first == "[":  # one JSON array; the format itself forces reading it whole
            for index, record in enumerate(json.load(f)):
                if not isinstance(record, dict):
                    raise CorpusError(f"{path}: record {index} is not a JSON object", "bad_annotation")
                yield index, record
            return
        index = 0
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise CorpusError(f"{path}, line {line_number}: not valid JSON ({err})", "bad_annotation") from err
            if not isinstance(record, dict):
                raise CorpusError(f"{path}, line {line_number}: not a JSON object", "bad_annotation")
            yield index, record
            index += 1


def is_authors_record(record: dict[str, Any]) -> bool:
    """Return whether a record is in the CF-VLM authors' format (it has ``orig_input``)."""
    return "orig_input" in record


def sniff_authors_format(path: str | os.PathLike) -> bool:
    """Return whether the annotation file's first record is in the authors' format."""
    for _, record in iter_records(path):
        return is_authors_record(record)
    return False


def _resolve(value: Any, root: str, where: str, allow_outside_root: bool) -> Any:
    # Only strings are paths; None and other values pass through for check_row to reject by name.
    if isinstance(value, str) and value:
        return resolve_image_path(value, root, where, allow_outside_root)
    return value


def _where(index: int, record: dict[str, Any], field: str) -> str:
    return f"{describe_row(record, index)}, field '{field}'"


def authors_record_to_row(
    record: dict[str, Any], index: int, root: str, allow_outside_root: bool = False
) -> dict[str, Any]:
    """Return one authors' record as a corpus row (image paths absolute, edit lists empty).

    A record with no ``<|vision_start|>PATH<|vision_end|>`` span gets ``image=None`` so that validation rejects
    it by name; a path outside ``root`` raises :class:`CorpusError`.
    """
    match = VISION_SPAN.search(record.get("orig_input") or "")
    anchor = match.group(1).strip() if match else None
    samples = record.get("cf_samples") or []
    row_id = record.get("id")
    return {
        "image": _resolve(anchor, root, _where(index, record, "image"), allow_outside_root),
        "caption": record.get("orig_output"),
        "cf_images": [
            _resolve(s.get("cf_image_path"), root, _where(index, record, f"cf_images[{k}]"), allow_outside_root)
            for k, s in enumerate(samples)
        ],
        "cf_captions": [s.get("cf_text") for s in samples],
        "edit_images": [],
        "edit_types": [],
        "edit_captions": [],
        "id": None if row_id is None else str(row_id),
    }


def schema_record_to_row(
    record: dict[str, Any], index: int, root: str, allow_outside_root: bool = False
) -> dict[str, Any]:
    """Return one record in our schema with its image paths made absolute.

    Only the schema's columns are kept; absent list columns become empty lists, absent ``edit_captions``/``id``
    become ``None``.
    """
    row = {name: record.get(name) for name in SCHEMA_COLUMNS}
    for name in ("cf_images", "cf_captions", "edit_images", "edit_types"):
        if name not in record:
            row[name] = []
    row["image"] = _resolve(row.get("image"), root, _where(index, record, "image"), allow_outside_root)
    for field in ("cf_images", "edit_images"):
        values = row.get(field)
        if isinstance(values, list):
            row[field] = [
                _resolve(v, root, _where(index, record, f"{field}[{k}]"), allow_outside_root)
                for k, v in enumerate(values)
            ]
    if row.get("id") is not None:
        row["id"] = str(row["id"])
    return row


def iter_annotation_rows(path: str | os.PathLike, allow_outside_root: bool = False) -> Iterator[dict[str, Any]]:
    """Yield the corpus rows of an annotation file (our JSONL schema or the authors' format, record by record).

    Used as a ``datasets`` generator; rows are not validated here beyond the path checks.
    """
    root = os.path.dirname(os.path.abspath(path))
    for index, record in iter_records(path):
        convert = authors_record_to_row if is_authors_record(record) else schema_record_to_row
        yield convert(record, index, root, allow_outside_root)
