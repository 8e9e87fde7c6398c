"""Reading benchmark annotation files: JSON / JSON lines / CSV, fields checked, errors naming the entry and field.

Every loader reads through :class:`Annotations`, so a malformed file always fails the same way: a ValueError
``"<task>: <file>, entry <id>, field '<name>': <what is wrong>"`` (a FileNotFoundError for an image that is not on
disk), raised before any model runs. File hashes (sha256 of the bytes) go into the results' provenance.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..items import ImageRef


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Annotations:
    """One annotation file of a task: reading it, checking its entries' fields, resolving their images.

    Args:
        task: the task's name (errors start with it).
        path: the annotation file.
        image_roots: folders image paths are relative to, tried in order.
        missing_images: "error" (a missing image file is an error naming the entry) or "skip" (the entry is left out
            and counted in ``skipped``).
    """

    def __init__(self, task: str, path: str, image_roots: tuple[str, ...] = (), missing_images: str = "error"):
        self.task, self.path = task, path
        self.image_roots = image_roots
        self.missing_images = missing_images
        self.skipped: Counter = Counter()
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{task}: annotation file not found: {path}")

    @property
    def sha256(self) -> str:
        return sha256_file(self.path)

    def where(self, entry: Any, field: str | None = None) -> str:
        text = f"{self.task}: {self.path}, entry {entry!r}"
        return text + (f", field {field!r}" if field is not None else "")

    def error(self, entry: Any, field: str | None, message: str) -> ValueError:
        return ValueError(f"{self.where(entry, field)}: {message}")

    def json(self) -> Any:
        with open(self.path, encoding="utf-8") as f:
            try:
                return json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f"{self.task}: {self.path}: not valid JSON ({err})") from err

    def json_lines(self) -> list[tuple[int, Any]]:
        """(line number, record) of a JSON-lines file; a file holding one JSON array is read as its elements."""
        with open(self.path, encoding="utf-8") as f:
            text = f.read()
        if text.lstrip().startswith("["):
            return list(enumerate(self.json(), start=1))
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{self.task}: {self.path}, line {number}: not valid JSON ({err})") from err
        return records

    def csv_rows(self, required: tuple[str, ...] = ()) -> list[dict[str, str]]:
        with open(self.path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{self.task}: {self.path}: missing column(s) {missing}; it has {reader.fieldnames}")
            return list(reader)

    def mapping(self, entry: Any, value: Any) -> Mapping:
        if not isinstance(value, Mapping):
            raise self.error(entry, None, f"expected an object with fields, got {type(value).__name__}")
        return value

    def text(self, entry: Any, record: Mapping, field: str) -> str:
        """``record[field]`` as a non-empty string."""
        if field not in record:
            raise self.error(entry, field, "missing")
        value = record[field]
        if not isinstance(value, str):
            raise self.error(entry, field, f"expected a string, got {type(value).__name__}")
        if not value.strip():
            raise self.error(entry, field, "empty")
        return value

    def texts(self, entry: Any, record: Mapping, field: str, required: bool = True) -> list[str]:
        """``record[field]`` as a list of non-empty strings (absent: [] unless ``required``)."""
        if field not in record or record[field] is None:
            if required:
                raise self.error(entry, field, "missing")
            return []
        value = record[field]
        if isinstance(value, str) or not isinstance(value, list):
            raise self.error(entry, field, f"expected a list of strings, got {type(value).__name__}")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.error(entry, f"{field}[{i}]", "expected a non-empty string")
        return list(value)

    def number(self, entry: Any, record: Mapping, field: str) -> float:
        if field not in record:
            raise self.error(entry, field, "missing")
        value = record[field]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(entry, field, f"expected a number, got {type(value).__name__}")
        return float(value)

    def image(self, entry: Any, field: str, relative: Any, box=None) -> ImageRef | None:
        """The image at ``relative`` (under the first image root holding it); None when skipped as missing."""
        if not isinstance(relative, str) or not relative.strip():
            raise self.error(entry, field, f"expected an image path, got {relative!r}")
        roots = self.image_roots or (os.path.dirname(self.path),)
        for root in roots:
            path = os.path.join(root, relative)
            if os.path.isfile(path):
                return ImageRef.from_file(path, box)
        if self.missing_images == "skip":
            self.skipped["image file not found"] += 1
            return None
        raise FileNotFoundError(
            f"{self.where(entry, field)}: image file not found: {relative!r} (looked in {', '.join(roots)}; pass "
            "missing_images='skip' / --skip-missing-images to leave such entries out, counted in the results)"
        )
