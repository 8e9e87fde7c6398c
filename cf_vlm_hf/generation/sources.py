"""The builder's input: image-caption rows streamed, in a fixed order, from wherever a user keeps them.

`open_source` accepts:

- a ``datasets.Dataset`` (random access), an ``IterableDataset`` or a list of dicts (Python API);
- a JSONL, JSON or CSV/TSV file whose image fields are paths relative to it (or to ``image_root``); a COCO
  captions file (``{"images": [...], "annotations": [...]}``: one row per image, its first caption);
- a folder: an ImageFolder layout (``metadata.jsonl``/``metadata.csv`` with ``file_name``), images with ``.txt``
  caption files beside them, a ``save_to_disk`` folder, or parquet shards;
- a Hub dataset id, streamed with ``datasets.load_dataset(..., streaming=True)``.

Rows are yielded lazily with their image *not decoded* (a ``{"bytes", "path"}`` dict, a path or a PIL image),
so skipping rows (other processes' shards, shards already written) costs no decoding and memory stays bounded
whatever the input's size. A row's id is its ``id_column`` value, else its position in the input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..data import CorpusError, decode_image
from .source_files import IMAGE_SUFFIXES, coco_records, csv_records, folder_kind, jsonl_records, sidecar_records


@dataclass
class SourceRow:
    """One input row: ``index`` (position in the input), ``id``, the undecoded ``image``, ``caption``, an optional
    inpainting ``mask`` and the ``negative_captions`` the input already has."""

    index: int
    id: str
    image: Any
    caption: str
    mask: Any = None
    negative_captions: list[str] = field(default_factory=list)
    _decoded: Any = field(default=None, repr=False, compare=False)
    _mask: Any = field(default=None, repr=False, compare=False)

    def anchor(self):
        """The image decoded as RGB (once); `CorpusError` naming the row when it cannot be decoded."""
        if self._decoded is None:
            self._decoded = decode_image(self.image, f"row {self.index} (id {self.id!r}), field 'image'")
        return self._decoded

    def release(self) -> None:
        """Forget the decoded image and mask (the encoded ones stay)."""
        self._decoded = self._mask = None

    def mask_image(self):
        """The row's mask as a binary "L" image of the anchor's size (once), or None without a mask."""
        if self.mask is not None and self._mask is None:
            from .images.masks import mask_from_value

            self._mask = mask_from_value(self.mask, self.anchor().size, f"row {self.index} (id {self.id!r}), mask")
        return self._mask


@dataclass(frozen=True)
class Columns:
    """Which input columns hold what (``--image-column``, ``--caption-column``, ``--id-column``, ``--mask-column``)."""

    image: str = "image"
    caption: str = "caption"
    id: str = "id"
    mask: str | None = None


class RowSource:
    """A stream of input rows in a fixed order.

    Args:
        records: a function returning a fresh iterator of raw records (dicts, or whatever ``parse`` reads).
        parse: raw record -> dict (run only for the rows that are wanted).
        description: what the input is (for the dataset card).
        num_rows: how many rows there are, when known.
        root: the folder that relative image paths start from.
        columns: the column mapping.
    """

    def __init__(self, records: Callable[[], Iterable[Any]], description: str, num_rows: int | None = None,
                 root: str | None = None, columns: Columns = Columns(), parse: Callable[[Any, int], Mapping] | None
                 = None, random_access: Callable[[int], Mapping] | None = None):
        self.records, self.description, self.num_rows = records, description, num_rows
        self.root, self.columns = root, columns
        self.parse = parse or (lambda record, index: record)
        self.random_access = random_access

    def __len__(self) -> int:
        if self.num_rows is None:
            raise TypeError(f"the length of {self.description} is not known before it is read")
        return self.num_rows

    def iter_rows(self, wanted: Callable[[int], bool] = lambda index: True
                  ) -> Iterator[tuple[int, SourceRow | CorpusError | None]]:
        """``(index, row)`` for every input row in order: a `SourceRow`, the `CorpusError` saying why the row is
        unusable, or None for a row not ``wanted`` (not parsed)."""
        if self.random_access is not None and self.num_rows is not None:
            for index in range(self.num_rows):
                yield index, (self._checked(lambda: self.random_access(index), index) if wanted(index) else None)
            return
        for index, record in enumerate(self.records()):
            yield index, (self._checked(lambda: self.parse(record, index), index) if wanted(index) else None)

    def _checked(self, read: Callable[[], Mapping], index: int) -> SourceRow | CorpusError:
        try:
            return self.row(read(), index)
        except CorpusError as err:
            return err

    def row(self, record: Mapping, index: int) -> SourceRow:
        """A raw record as a `SourceRow`; `CorpusError` naming the row and the column when it cannot be one."""
        c = self.columns
        where = f"{self.description}, row {index}"
        if not isinstance(record, Mapping):
            raise CorpusError(f"{where}: expected a mapping of columns, got {type(record).__name__}", "invalid_row")
        row_id = record.get(c.id)
        row_id = str(index) if row_id is None else str(row_id)
        where += f" (id {row_id!r})"
        if c.image == "image" and "image" not in record and "file_name" in record:  # ImageFolder-style metadata
            c = Columns("file_name", c.caption, c.id, c.mask)
        for column, flag in ((c.image, "--image-column"), (c.caption, "--caption-column")):
            if column not in record:
                raise CorpusError(f"{where}: no column {column!r} (it has {sorted(record)}); name the right one with "
                                  f"{flag}", "missing_column")
        caption = record[c.caption]
        if isinstance(caption, (list, tuple)):  # several captions per image (COCO-style lists): the first one
            caption = next((t for t in caption if isinstance(t, str) and t.strip()), None)
        if not isinstance(caption, str) or not caption.strip():
            raise CorpusError(f"{where}, field {c.caption!r}: expected a non-empty caption string, got "
                              f"{record[c.caption]!r}", "empty_text" if isinstance(caption, str) else "not_a_string")
        negatives = record.get("negative_captions") or []
        if isinstance(negatives, str) or not all(isinstance(t, str) for t in negatives):
            raise CorpusError(f"{where}, field 'negative_captions': expected a list of strings", "not_a_list")
        mask = self._image_value(record.get(c.mask), f"{where}, field {c.mask!r}") if c.mask else None
        if c.mask and mask is None:
            raise CorpusError(f"{where}, field {c.mask!r}: the row has no mask", "missing_image")
        return SourceRow(index, row_id, self._image_value(record[c.image], f"{where}, field {c.image!r}"),
                         caption.strip(), mask, list(negatives))

    def _image_value(self, value: Any, where: str) -> Any:
        if value is None:
            raise CorpusError(f"{where}: image is missing (None)", "missing_image")
        path = value if isinstance(value, (str, os.PathLike)) else None
        if isinstance(value, Mapping) and value.get("bytes") is None and value.get("path"):
            path = value["path"]
        if path is None:
            return value
        path = os.fspath(path)
        if path.startswith(("http://", "https://")):
            raise CorpusError(f"{where}: the image is a URL ({path}); download the images first (e.g. with "
                              "img2dataset) and point --input at them", "missing_image")
        full = os.path.join(self.root, path) if self.root and not os.path.isabs(path) else path
        if not os.path.exists(full):
            raise CorpusError(f"{where}: image file not found: {full!r}", "missing_image")
        return {"bytes": None, "path": os.path.abspath(full)}


def _undecoded(dataset, columns: Columns):
    """``dataset`` with its Image columns cast to ``decode=False`` (rows then carry bytes, not PIL images)."""
    from datasets import Image

    features = getattr(dataset, "features", None) or {}
    for name in (columns.image, columns.mask):
        if name and isinstance(features.get(name), Image) and features[name].decode:
            dataset = dataset.cast_column(name, Image(decode=False))
    return dataset


def _check_columns(dataset, columns: Columns, description: str) -> None:
    names = getattr(dataset, "column_names", None)
    if not names:
        return
    for name, flag in ((columns.image, "--image-column"), (columns.caption, "--caption-column"),
                       (columns.mask, "--mask-column")):
        if name and name not in names:
            raise ValueError(f"{description} has no column {name!r} (it has {sorted(names)}); name the right one "
                             f"with {flag}")


def from_datasets(dataset, description: str, columns: Columns = Columns()) -> RowSource:
    """A `RowSource` over a ``datasets.Dataset`` (random access) or ``IterableDataset`` (streamed)."""
    from datasets import Dataset

    _check_columns(dataset, columns, description)
    dataset = _undecoded(dataset, columns)
    if isinstance(dataset, Dataset):
        return RowSource(lambda: iter(dataset), description, len(dataset), columns=columns,
                         random_access=lambda i: dataset[i])
    return RowSource(lambda: iter(dataset), description, None, columns=columns)


def open_source(source, split: str = "train", columns: Columns = Columns(), image_root: str | None = None,
                revision: str | None = None, token: str | None = None) -> RowSource:
    """The `RowSource` of ``source`` (see the module docstring for what it may be)."""
    from datasets import Dataset, IterableDataset

    if isinstance(source, (Dataset, IterableDataset)):
        return from_datasets(source, f"in-memory {type(source).__name__}", columns)
    if isinstance(source, list):
        rows = source
        return RowSource(lambda: iter(rows), "in-memory list", len(rows), root=image_root, columns=columns)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"cannot read rows from a {type(source).__name__}")
    path = os.fspath(source)
    if os.path.isfile(path):
        return _open_file(path, split, columns, image_root)
    if os.path.isdir(path):
        return _open_folder(path, split, columns, image_root)
    if os.path.isabs(path) or path.startswith((".", "~")) or path.count("/") > 1 or path.endswith(
            (".jsonl", ".json", ".csv", ".tsv", ".parquet")):
        raise FileNotFoundError(f"input {path!r} does not exist (and is not a Hub dataset id 'name' or 'owner/name')")
    from datasets import load_dataset

    stream = load_dataset(path, split=split, streaming=True, revision=revision, token=token)
    return from_datasets(stream, f"Hub dataset {path} (split {split})", columns)


def _open_file(path: str, split: str, columns: Columns, image_root: str | None) -> RowSource:
    root = image_root or os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".jsonl":
        lines = jsonl_records(path, count_only=True)
        return RowSource(lambda: jsonl_records(path), name, lines, root=root, columns=columns,
                         parse=lambda line, index: _parse_json_line(line, name, index))
    if suffix == ".json":
        with open(path, encoding="utf-8") as f:
            try:
                content = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f"{name}: not valid JSON ({err})") from err
        if isinstance(content, dict) and "images" in content and "annotations" in content:
            records = coco_records(content)
            return RowSource(lambda: iter(records), f"{name} (COCO captions)", len(records), root=root,
                             columns=Columns(image="file_name", caption="caption", id="id", mask=columns.mask))
        if not isinstance(content, list):
            raise ValueError(f"{name}: expected a JSON list of rows or a COCO captions file")
        return RowSource(lambda: iter(content), name, len(content), root=root, columns=columns)
    if suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        return RowSource(lambda: csv_records(path, delimiter), name, None, root=root, columns=columns)
    if suffix in (".parquet", ".arrow"):
        from datasets import load_dataset

        stream = load_dataset(suffix[1:], data_files=path, split="train", streaming=True)
        return from_datasets(stream, name, columns)
    raise ValueError(f"cannot read rows from {name}: use a .jsonl, .json, .csv, .tsv or .parquet file, a folder or "
                     "a Hub dataset id")


def _parse_json_line(line: str, name: str, index: int) -> Mapping:
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise CorpusError(f"{name}, row {index}: not valid JSON ({err})", "invalid_json") from err


def _open_folder(path: str, split: str, columns: Columns, image_root: str | None) -> RowSource:
    kind = folder_kind(path)
    name = os.path.basename(os.path.normpath(path)) or path
    if kind == "metadata.jsonl":
        metadata = os.path.join(path, kind)
        return RowSource(lambda: jsonl_records(metadata), f"{name}/{kind}", jsonl_records(metadata, count_only=True),
                         root=image_root or path, columns=_imagefolder(columns),
                         parse=lambda line, index: _parse_json_line(line, f"{name}/{kind}", index))
    if kind == "metadata.csv":
        metadata = os.path.join(path, kind)
        return RowSource(lambda: csv_records(metadata, ","), f"{name}/{kind}", None, root=image_root or path,
                         columns=_imagefolder(columns))
    if kind == "save_to_disk":
        from datasets import DatasetDict, load_from_disk

        loaded = load_from_disk(path)
        if isinstance(loaded, DatasetDict):
            if split not in loaded:
                raise ValueError(f"{path} has no split {split!r} (it has {sorted(loaded)}); choose one with --split")
            loaded = loaded[split]
        return from_datasets(loaded, f"{name} (split {split})", columns)
    if kind == "parquet":
        from datasets import load_dataset

        return from_datasets(load_dataset(path, split=split, streaming=True), f"{name} (split {split})", columns)
    if kind == "sidecars":
        records = sidecar_records(path)
        return RowSource(lambda: iter(records), f"{name} (images with .txt captions)", len(records), root=path,
                         columns=Columns(image="file_name", caption="caption", id="id", mask=columns.mask))
    raise ValueError(f"{path} holds neither a metadata.jsonl/metadata.csv, a saved dataset, parquet shards nor images "
                     f"({', '.join(IMAGE_SUFFIXES)}) with .txt captions")


def _imagefolder(columns: Columns) -> Columns:
    """ImageFolder metadata names the image ``file_name``; keep a user's own image column if they gave one."""
    image = "file_name" if columns.image == "image" else columns.image
    return Columns(image=image, caption=columns.caption, id=columns.id, mask=columns.mask)

