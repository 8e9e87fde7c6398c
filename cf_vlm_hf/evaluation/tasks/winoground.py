"""Winoground (Thrush et al., CVPR 2022): two images, two captions with the same words in another order.

Sources, first found wins:

* ``<root>/examples.jsonl`` + ``<root>/images/<image_0>.png`` — the original release (``id``, ``caption_0``,
  ``caption_1``, ``image_0``, ``image_1`` names without extension, ``tag``, ``secondary_tag``, ``num_main_preds``,
  ``collapsed_tag``);
* parquet files under ``<root>`` (``<root>/data/test-*.parquet``, the Hub dataset's files) or a ``save_to_disk``
  folder: the Hub dataset's fields (``image_0``, ``image_1``, ``caption_0``, ``caption_1``, ...);
* no local folder: the Hub dataset ``facebook/winoground`` (gated: accept its terms and log in), through
  ``datasets.load_dataset``; offline, one line says what to do.

Protocol (the authors'): with s(C_i, I_j) the score of caption i on image j, text score = s(C0,I0) > s(C1,I0) and
s(C1,I1) > s(C0,I1); image score = s(C0,I0) > s(C0,I1) and s(C1,I1) > s(C1,I0); group score = both; strict
inequalities, averaged over the 400 examples (chance 25 / 25 / 16.7 %). Breakdowns by ``collapsed_tag``,
``num_main_preds`` and ``secondary_tag`` when the data carries them.
"""

from __future__ import annotations

import glob
import io
import os

import torch

from ..items import ImageRef, WinogroundItem
from ..metrics import accuracy, winoground_scores
from .base import Task, TaskData, TaskResult
from .download import Sources, announce
from .files import Annotations, sha256_file

TAG_FIELDS = ("collapsed_tag", "num_main_preds", "secondary_tag")
LAYOUT = ("<root>/examples.jsonl with images in <root>/images/, or the Hub dataset's parquet files under <root> "
          "(fields image_0, image_1, caption_0, caption_1)")


class Winoground(Task):
    name = "winoground"
    folder = "winoground"
    summary = "Winoground: text / image / group scores over 2x2 image-caption groups"
    official_counts = {"test": 400}
    hub_id = "facebook/winoground"
    primary_metric = "group"
    sources = Sources(
        licence="Winoground: research use only, under the licence agreement in the dataset's files (images: Getty "
                "Images); gated on the Hub: https://huggingface.co/datasets/facebook/winoground",
        hub="facebook/winoground",
    )
    protocol = {
        "metric": "text, image and group scores (Thrush et al. 2022)",
        "ties": "strict (a tie fails the inequality), as the authors define them",
        "averaging": "over examples (micro); breakdowns by collapsed_tag / num_main_preds / secondary_tag",
        "exclusions": "none",
    }

    @classmethod
    def option_names(cls):
        return ("token",)

    @classmethod
    def has_layout(cls, folder: str) -> bool:
        return (os.path.isfile(os.path.join(folder, "examples.jsonl")) or bool(glob.glob(os.path.join(folder, "data",
                "test-*.parquet"))) or os.path.isfile(os.path.join(folder, "dataset_info.json")))

    def load(self, data_dir=None) -> TaskData:
        root = self.root(data_dir)
        if root is not None and os.path.isfile(os.path.join(root, "examples.jsonl")):
            return self._load_release(root)
        if root is not None:
            parquet = sorted(glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True))
            if parquet:
                from datasets import load_dataset

                dataset = load_dataset("parquet", data_files=parquet, split="train")
                return self._from_dataset(dataset, root, {p: sha256_file(p) for p in parquet})
            if os.path.isfile(os.path.join(root, "dataset_info.json")) or glob.glob(os.path.join(root, "*", "*.arrow")):
                from datasets import load_from_disk

                dataset = load_from_disk(root)
                dataset = dataset["test"] if hasattr(dataset, "keys") else dataset
                return self._from_dataset(dataset, root, {p: sha256_file(p) for p in
                                                          glob.glob(os.path.join(root, "**", "*.arrow"),
                                                                    recursive=True)})
            raise self.missing_folder(data_dir, LAYOUT)
        return self._load_hub(data_dir)

    def _load_release(self, root: str) -> TaskData:
        ann = Annotations(self.name, os.path.join(root, "examples.jsonl"), (os.path.join(root, "images"),),
                          self.missing_images)
        items = []
        for line, record in ann.json_lines():
            record = ann.mapping(f"line {line}", record)
            entry = record.get("id", f"line {line}")
            captions = (ann.text(entry, record, "caption_0"), ann.text(entry, record, "caption_1"))
            images = []
            for field in ("image_0", "image_1"):
                name = ann.text(entry, record, field)
                images.append(ann.image(entry, field, name if os.path.splitext(name)[1] else name + ".png"))
            if None not in images:
                tags = {k: str(record[k]) for k in TAG_FIELDS if record.get(k) not in (None, "")}
                items.append(WinogroundItem(str(entry), tuple(images), captions, tags))
        exclusions = {"image file not found": sum(ann.skipped.values())} if ann.skipped else {}
        return TaskData(self.name, {"test": items}, root, {ann.path: ann.sha256}, exclusions)

    def _from_dataset(self, dataset, source: str, files: dict[str, str]) -> TaskData:
        missing = [c for c in ("image_0", "image_1", "caption_0", "caption_1") if c not in dataset.column_names]
        if missing:
            raise ValueError(f"{self.name}: {source}: the dataset lacks field(s) {missing}; it has "
                             f"{dataset.column_names}")
        text_columns = [c for c in dataset.column_names if not c.startswith("image_")]
        table = dataset.select_columns(text_columns).to_list()
        columns = {k: _undecoded(dataset.select_columns([f"image_{k}"]), f"image_{k}") for k in (0, 1)}
        items = []
        for index, record in enumerate(table):
            entry = record.get("id", index)
            for field in ("caption_0", "caption_1"):
                if not isinstance(record[field], str) or not record[field].strip():
                    raise ValueError(f"{self.name}: {source}, entry {entry!r}, field {field!r}: expected a non-empty "
                                     f"string, got {record[field]!r}")
            images = tuple(ImageRef(key=f"winoground/{source}/{entry}/{k}", loader=_row_image(columns[k], index, k))
                           for k in (0, 1))
            tags = {k: str(record[k]) for k in TAG_FIELDS if record.get(k) not in (None, "")}
            items.append(WinogroundItem(str(entry), images, (record["caption_0"], record["caption_1"]), tags))
        return TaskData(self.name, {"test": items}, source, files)

    def _load_hub(self, data_dir) -> TaskData:
        """The Hub dataset through ``datasets`` (into the benchmark cache with ``download=True``), with the user's
        token; when it cannot be read, one line with the exact steps."""
        if self.download:
            announce(self.name, self.sources, self.cache_folder())
        try:
            from datasets import load_dataset

            dataset = load_dataset(self.hub_id, split="test", token=self.options.get("token"),
                                   cache_dir=self.cache_folder() if self.download else None)
        except Exception as err:  # offline, gated, unreachable: one line that says what to do
            where = self.path or (os.path.join(data_dir, self.folder) if data_dir else "--data-dir DIR/winoground")
            raise FileNotFoundError(
                f"{self.name}: no local folder ({where}) and the Hub dataset {self.hub_id} could not be read "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). It is gated: 1) accept its "
                f"terms at https://huggingface.co/datasets/{self.hub_id} (logged in), 2) log in here (`hf auth login`, "
                "or HF_TOKEN, or --task-option winoground.token=hf_...), 3) run again online; or put a copy of its "
                "files in that folder (docs/evaluation.md)"
            ) from err
        files = {f["filename"]: sha256_file(f["filename"]) for f in dataset.cache_files if "filename" in f}
        return self._from_dataset(dataset, self.hub_id, files)

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        items = data.subsets["test"]
        pairs = [(item.images[j], item.captions[i]) for item in items for i in (0, 1) for j in (0, 1)]
        scores = scorer.score_pairs(pairs).double().reshape(len(items), 2, 2)  # [n, caption i, image j]
        wins = winoground_scores(scores)
        metrics = {name: accuracy(value) for name, value in wins.items()}
        metrics["count"] = len(items)
        for field in TAG_FIELDS:
            for tag in sorted({item.tags[field] for item in items if field in item.tags}):
                mask = torch.tensor([item.tags.get(field) == tag for item in items])
                for name, value in wins.items():
                    metrics[f"{field}={tag}/{name}"] = accuracy(value[mask])
                metrics[f"{field}={tag}/count"] = int(mask.sum())
        return TaskResult(metrics, ["text", "image", "group"])


def _undecoded(column, name: str):
    """One image column, its images left encoded (opened lazily by `_row_image`: decoded only when their pixels are
    used, in the pixel cache's worker threads)."""
    from datasets import Image

    feature = column.features[name]
    return column.cast_column(name, Image(decode=False)) if isinstance(feature, Image) and feature.decode else column


def _row_image(column, index: int, k: int):
    def load():
        value = column[index][f"image_{k}"]
        if isinstance(value, dict):  # an undecoded datasets Image: {"bytes", "path"}
            from PIL import Image

            data = value.get("bytes")
            if not data:
                with open(value["path"], "rb") as f:
                    data = f.read()
            return Image.open(io.BytesIO(data))
        return value

    return load
