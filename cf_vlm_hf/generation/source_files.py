"""Reading the local file layouts of `sources.open_source`: JSONL, CSV, COCO captions, folders of images.

Each reader yields raw records lazily where the format allows (JSONL and CSV are read line by line); a COCO file
is one JSON document and is read whole (its records hold no pixels, only names and captions).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def jsonl_records(path: str, count_only: bool = False):
    """The non-blank lines of a JSONL file, unparsed (or, with ``count_only``, how many there are)."""
    if count_only:
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    return _lines(path)


def _lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line


def csv_records(path: str, delimiter: str) -> Iterator[dict]:
    """The rows of a CSV/TSV file with a header line, as dicts."""
    with open(path, encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f, delimiter=delimiter)


def coco_records(content: dict) -> list[dict]:
    """One record per image of a COCO captions file: ``id`` (the image id), ``file_name`` and its first caption
    (lowest annotation id); images without a caption are left out."""
    first: dict = {}
    for annotation in content["annotations"]:
        image_id = annotation.get("image_id")
        if image_id is None or not isinstance(annotation.get("caption"), str):
            continue
        if image_id not in first or annotation.get("id", 0) < first[image_id][0]:
            first[image_id] = (annotation.get("id", 0), annotation["caption"].strip())
    records = []
    for image in sorted(content["images"], key=lambda im: im["id"]):
        if image["id"] in first:
            records.append({"id": str(image["id"]), "file_name": image["file_name"], "caption": first[image["id"]][1]})
    return records


def folder_kind(path: str) -> str | None:
    """Which layout a folder has: "metadata.jsonl", "metadata.csv", "save_to_disk", "parquet", "sidecars" or None."""
    names = set(os.listdir(path))
    for name in ("metadata.jsonl", "metadata.csv"):
        if name in names:
            return name
    if {"dataset_info.json", "state.json"} & names or "dataset_dict.json" in names:
        return "save_to_disk"
    for root, _, files in os.walk(path):
        if any(f.endswith(".parquet") for f in files):
            return "parquet"
    if sidecar_records(path, limit=1):
        return "sidecars"
    return None


def sidecar_records(path: str, limit: int | None = None) -> list[dict]:
    """Images with a ``.txt`` caption of the same name beside them, sorted by relative path (the row id)."""
    records = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            caption_file = os.path.join(root, stem + ".txt")
            if suffix.lower() in IMAGE_SUFFIXES and os.path.isfile(caption_file):
                with open(caption_file, encoding="utf-8") as f:
                    caption = f.read().strip()
                relative = os.path.relpath(os.path.join(root, name), path)
                records.append({"id": relative, "file_name": relative, "caption": caption})
                if limit is not None and len(records) >= limit:
                    return records
    return records
