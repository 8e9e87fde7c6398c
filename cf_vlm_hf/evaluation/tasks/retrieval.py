"""Image-caption retrieval on a Karpathy-style split (COCO 5k, Flickr30k 1k): recall@1/5/10 both ways.

Layout: one or more annotation files in ``<root>``, each a dataset reported on its own (named by its file)::

    <root>/dataset_coco.json       # Karpathy & Fei-Fei: {"images": [{"filename", "filepath"?, "split",
                                   #   "sentences": [{"raw": ...}, ...]}, ...], "dataset": "coco"}
    <root>/<filepath>/<filename>   # images (e.g. <root>/val2014/COCO_val2014_...jpg), or <root>/images/<filename>
    -- or --
    <root>/coco_karpathy_test.json # BLIP's format: [{"image": relative path, "caption": [str, ...]}, ...]

Only the ``split`` entries (default "test") of a Karpathy file are read; a BLIP-format file is used whole.

Protocol: every caption of an image counts (COCO test: 5,000 images, 25,010 captions; Flickr30k: 1,000 / 5,000).
Image->text recall@K: an image is a hit when any of its captions ranks in the top K of all captions, averaged over
images; text->image recall@K: a caption is a hit when its image ranks in the top K, averaged over captions; ranks
count the wrong candidates scoring at least as high (ties count against). ``<name>/mean_recall``: the mean of the
six; ``mean_recall`` (the primary metric) its mean over the files read.
"""

from __future__ import annotations

import glob
import os

from ..items import RetrievalSet
from ..metrics import retrieval_recall
from .base import Task, TaskData, TaskResult
from .download import COCO_TERMS, COCO_VAL2014, Source, Sources
from .files import Annotations

OFFICIAL = {"coco": (5000, 25010), "flickr30k": (1000, 5000), "flickr": (1000, 5000)}
LAYOUT = "<root>/dataset_<name>.json (Karpathy format) or BLIP's <root>/<name>_test.json, images under <root>"


class Retrieval(Task):
    name = "retrieval"
    folder = "retrieval"
    summary = "image-caption retrieval (Karpathy split): image->text and text->image recall@1/5/10"
    primary_metric = "mean_recall"
    sources = Sources(
        licence="Karpathy test split: BLIP's file (github.com/salesforce/BLIP, BSD-3-Clause), the split of Karpathy & "
                f"Fei-Fei; {COCO_TERMS}",
        files=(Source("https://storage.googleapis.com/sfr-vision-language-research/datasets/coco_karpathy_test.json",
                      "coco_karpathy_test.json"), COCO_VAL2014),
        manual=(("Flickr30k: the images need a sign-up (https://forms.illinois.edu/sec/229675); put "
                 "flickr30k-images/ and https://storage.googleapis.com/sfr-vision-language-research/datasets/"
                 "flickr30k_test.json in {folder}"),),
    )
    protocol = {
        "metric": "recall@1/5/10 image->text (any of the image's captions) and text->image",
        "ties": "a tie with a wrong candidate counts against",
        "averaging": "image->text over images, text->image over captions (all captions of each image)",
        "exclusions": "Karpathy files: entries of other splits",
    }

    @classmethod
    def option_names(cls):
        return ("split",)

    @classmethod
    def has_layout(cls, folder: str) -> bool:
        return bool(glob.glob(os.path.join(folder, "dataset_*.json")) or glob.glob(os.path.join(folder, "*_test.json")))

    def load(self, data_dir=None) -> TaskData:
        root = self.root(data_dir)
        if root is None:
            raise self.missing_folder(data_dir, LAYOUT)
        paths = [root] if os.path.isfile(root) else sorted(glob.glob(os.path.join(root, "*.json")))
        if not paths:
            raise self.missing_folder(data_dir, LAYOUT)
        base = os.path.dirname(root) if os.path.isfile(root) else root
        split = self.options.get("split") or "test"
        subsets, files, notes, skipped = {}, {}, [], 0
        self._official: dict[str, tuple[int, int]] = {}
        for path in paths:
            name = os.path.splitext(os.path.basename(path))[0]
            ann = Annotations(self.name, path, (base, os.path.join(base, "images")), self.missing_images)
            content = ann.json()
            if isinstance(content, dict) and "images" in content:
                records, kind = self._karpathy(ann, content["images"], split), str(content.get("dataset", ""))
            elif isinstance(content, list):
                records, kind = self._blip(ann, content), ""
            else:
                raise ValueError(f"{self.name}: {path}: expected Karpathy's {{'images': [...]}} or BLIP's list of "
                                 "{image, caption}")
            images, captions, owner = [], [], []
            for image, texts in records:
                owner += [len(images)] * len(texts)
                captions += texts
                images.append(image)
            if not images:
                notes.append(f"{os.path.basename(path)}: no entries of split {split!r}")
                continue
            subsets[name] = [RetrievalSet(name, tuple(images), tuple(captions), tuple(owner))]
            files[path] = ann.sha256
            skipped += sum(ann.skipped.values())
            kind = kind or next((k for k in OFFICIAL if k in name.lower()), "")
            if kind in OFFICIAL and split == "test":
                self._official[name] = OFFICIAL[kind]
        if not subsets:
            raise self.missing_folder(data_dir, LAYOUT)
        return TaskData(self.name, subsets, root, files, {"image file not found": skipped} if skipped else {}, notes)

    def _karpathy(self, ann: Annotations, entries, split: str):
        records = []
        for index, entry in enumerate(entries):
            entry = ann.mapping(index, entry)
            if ann.text(index, entry, "split") != split and not (split == "train" and entry["split"] == "restval"):
                continue
            filename = ann.text(index, entry, "filename")
            relative = os.path.join(entry["filepath"], filename) if entry.get("filepath") else filename
            sentences = entry.get("sentences")
            if not isinstance(sentences, list) or not sentences:
                raise ann.error(index, "sentences", "expected a non-empty list of {raw: caption}")
            texts = [ann.text(f"{index}.sentences[{i}]", ann.mapping(index, s), "raw") for i, s in enumerate(sentences)]
            image = ann.image(index, "filename", relative)
            if image is not None:
                records.append((image, texts))
        return records

    def _blip(self, ann: Annotations, entries):
        records = []
        for index, entry in enumerate(entries):
            entry = ann.mapping(index, entry)
            if isinstance(entry.get("caption"), str):
                texts = [ann.text(index, entry, "caption")]
            else:
                texts = ann.texts(index, entry, "caption")
            image = ann.image(index, "image", ann.text(index, entry, "image"))
            if image is not None:
                records.append((image, texts))
        return records

    def subset_counts(self, data: TaskData) -> dict[str, int]:
        return {name: len(s.captions) for name, (s,) in data.subsets.items()}

    def provenance(self, data: TaskData) -> dict:
        out = super().provenance(data)
        official = getattr(self, "_official", {})
        out["images"] = {name: len(s.images) for name, (s,) in data.subsets.items()}
        if official:
            out["official_subset_counts"] = {n: {"images": i, "captions": c} for n, (i, c) in official.items()}
            differs = {n: {"ours": {"images": out["images"][n], "captions": out["subset_counts"][n]},
                           "official": {"images": i, "captions": c}}
                       for n, (i, c) in official.items() if (out["images"][n], out["subset_counts"][n]) != (i, c)}
            out["differs_from_official"] = differs or None
            out["official_item_count"] = sum(c for _, c in official.values())
        return out

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        metrics, headline = {}, []
        for name, (dataset,) in data.subsets.items():
            similarity = scorer.score_matrix(list(dataset.images), list(dataset.captions))
            metrics.update({f"{name}/{k}": v for k, v in retrieval_recall(similarity, dataset.caption_image).items()})
            metrics[f"{name}/images"], metrics[f"{name}/captions"] = len(dataset.images), len(dataset.captions)
            headline += [f"{name}/image_to_text/R@1", f"{name}/text_to_image/R@1", f"{name}/mean_recall"]
        metrics["mean_recall"] = sum(metrics[f"{name}/mean_recall"] for name in data.subsets) / len(data.subsets)
        return TaskResult(metrics, headline)
