"""``pairwise``: bring your own image-text comparisons (JSON lines), or score a counterfactual corpus's pairs.

Format: a ``.jsonl`` file (or a folder of them, each file a subset), one object per image; paths are relative to
the file::

    {"id": "cat-1", "image": "photos/cat.jpg",
     "caption": "a cat on a red sofa",                 # or "captions": [...]: every caption of the image
     "negative_captions": ["a cat on a blue sofa"],    # captions that do not describe it
     "negative_images": ["photos/cat-blue-sofa.jpg"],  # images the captions do not describe
     "cf_images": ["photos/dog.jpg"], "cf_captions": ["a dog on a red sofa"],  # complete counterfactual pairs
     "group": "color"}                                 # optional label for a breakdown

Rows of our corpus schema are valid rows: ``cf_images`` / ``cf_captions`` are complete counterfactual pairs,
``edit_images`` are negative images of the caption, ``negative_captions`` negative captions. A corpus that is not a
JSONL file (a parquet folder, a ``save_to_disk`` folder, a Hub id) is read with ``load_counterfactual_dataset``.

Protocol (strict comparisons, a tie is wrong):

* ``text``: S(I, c) > S(I, n) for every caption c and negative caption n — accuracy over those comparisons;
* ``image``: S(I, c) > S(E, c) for every caption c and negative image E — accuracy over those comparisons;
* ``counterfactual/{text,image,group}``: each complete counterfactual pair (I', T') with (I, first caption) is a
  Winoground group: text = S(I,T) > S(I,T') and S(I',T') > S(I',T); image = S(I,T) > S(I',T) and
  S(I',T') > S(I,T'); group = both — accuracy over pairs;
* ``item``: the share of images for which every one of their comparisons and group scores is right.
"""

from __future__ import annotations

import glob
import os
from collections import defaultdict

from ..items import ImageRef, PairwiseItem
from ..metrics import accuracy
from .base import Task, TaskData, TaskResult
from .files import Annotations

CORPUS_NEGATIVE_IMAGES = "edit_images"
LAYOUT = "<root>/*.jsonl (image, caption(s), negative_captions, negative_images, cf_images + cf_captions), or a corpus"


class Pairwise(Task):
    name = "pairwise"
    folder = "pairwise"
    summary = "bring-your-own pairwise comparisons (negative captions / images, counterfactual pairs), or a corpus"
    protocol = {
        "metric": "text: S(I,c) > S(I,negative caption); image: S(I,c) > S(negative image,c); counterfactual pairs: "
                  "Winoground text / image / group; item: all of an image's comparisons right",
        "ties": "strict (a tie is wrong)",
        "averaging": "text / image / counterfactual over comparisons (micro); item over images",
        "exclusions": "none",
    }

    @classmethod
    def option_names(cls):
        return ("split",)

    def load(self, data_dir=None) -> TaskData:
        source = os.path.expanduser(self.path) if self.path else None
        if source is None and data_dir and os.path.exists(os.path.join(os.path.expanduser(data_dir), self.folder)):
            source = os.path.join(os.path.expanduser(data_dir), self.folder)
        if source is None:
            raise self.missing_folder(data_dir, LAYOUT)
        paths = [source] if source.endswith((".jsonl", ".json")) and os.path.isfile(source) else \
            sorted(glob.glob(os.path.join(source, "*.jsonl"))) if os.path.isdir(source) else []
        if not paths:  # a corpus in another form, or a Hub id
            return self._from_corpus(source)
        subsets, files, skipped = {}, {}, 0
        for path in paths:
            ann = Annotations(self.name, path, (os.path.dirname(os.path.abspath(path)),), self.missing_images)
            subset = os.path.splitext(os.path.basename(path))[0]
            items = []
            for line, record in ann.json_lines():
                item = self._item(ann, subset, line, ann.mapping(f"line {line}", record))
                if item is not None:
                    items.append(item)
            subsets[subset], files[path] = items, ann.sha256
            skipped += sum(ann.skipped.values())
        return TaskData(self.name, subsets, source, files, {"entries with an image not found": skipped} if skipped
                        else {})

    def _item(self, ann: Annotations, subset: str, line: int, record) -> PairwiseItem | None:
        entry = record.get("id", f"line {line}")
        if "captions" in record:
            captions = ann.texts(entry, record, "captions")
            if not captions:
                raise ann.error(entry, "captions", "empty list")
        else:
            captions = [ann.text(entry, record, "caption")]
        negatives = ann.texts(entry, record, "negative_captions", required=False)
        cf_captions = ann.texts(entry, record, "cf_captions", required=False)
        cf_paths = self._paths(ann, entry, record, "cf_images")
        if len(cf_paths) != len(cf_captions):
            raise ann.error(entry, "cf_captions", f"{len(cf_captions)} captions for {len(cf_paths)} cf_images")
        image_fields = [(field, p) for field in ("negative_images", CORPUS_NEGATIVE_IMAGES)
                        for p in self._paths(ann, entry, record, field)]
        if not (negatives or image_fields or cf_paths):
            raise ann.error(entry, None, "nothing to compare the image with: give negative_captions, "
                                         "negative_images or cf_images + cf_captions")
        image = ann.image(entry, "image", record.get("image"))
        negative_images = [ann.image(entry, field, p) for field, p in image_fields]
        cf_images = [ann.image(entry, "cf_images", p) for p in cf_paths]
        if image is None or None in negative_images or None in cf_images:
            return None
        group = record.get("group")
        return PairwiseItem(f"{subset}/{entry}", image, tuple(captions), tuple(negatives), tuple(negative_images),
                            tuple(zip(cf_images, cf_captions)), str(group) if group is not None else "")

    @staticmethod
    def _paths(ann: Annotations, entry, record, field: str) -> list[str]:
        value = record.get(field)
        if value is None:
            return []
        if isinstance(value, str) or not isinstance(value, list):
            raise ann.error(entry, field, f"expected a list of image paths, got {type(value).__name__}")
        return value

    def _from_corpus(self, source: str) -> TaskData:
        from datasets import DatasetDict

        from ...data import check_row, load_counterfactual_dataset

        loaded = load_counterfactual_dataset(source, split=self.options.get("split"))
        splits = dict(loaded) if isinstance(loaded, DatasetDict) else {str(loaded.split or "train"): loaded}
        subsets = {}
        for split, rows in splits.items():
            items = []
            for index in range(len(rows)):
                row = check_row(rows[index], index)
                key = f"pairwise/{source}/{split}/{index}"
                image = ImageRef.from_image(f"{key}/image", row["image"])
                cf = tuple((ImageRef.from_image(f"{key}/cf/{k}", im), text)
                           for k, (im, text) in enumerate(zip(row["cf_images"], row["cf_captions"])))
                edits = tuple(ImageRef.from_image(f"{key}/edit/{j}", im) for j, im in enumerate(row["edit_images"]))
                items.append(PairwiseItem(str(row.get("id") or f"{split}/{index}"), image, (row["caption"],),
                                          tuple(row.get("negative_captions") or ()), edits, cf))
            subsets[split] = items
        from .corpus import local_data_files

        return TaskData(self.name, subsets, source, local_data_files(source))

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        items = [item for subset in data.subsets.values() for item in subset]
        pairs, index = [], {}

        def want(image: ImageRef, text: str) -> None:
            if (image.key, text) not in index:
                index[(image.key, text)] = len(pairs)
                pairs.append((image, text))

        for item in items:
            for text in (*item.captions, *item.negative_captions):
                want(item.image, text)
            for negative in item.negative_images:
                for caption in item.captions:
                    want(negative, caption)
            for cf_image, cf_text in item.counterfactual_pairs:
                want(item.image, cf_text), want(cf_image, cf_text), want(cf_image, item.captions[0])
        flat = scorer.score_pairs(pairs).double().tolist()

        def s(image: ImageRef, text: str) -> float:
            return flat[index[(image.key, text)]]

        wins, per_group = defaultdict(list), defaultdict(list)
        for item in items:
            own = []
            text = [s(item.image, c) > s(item.image, n) for c in item.captions for n in item.negative_captions]
            image = [s(item.image, c) > s(e, c) for e in item.negative_images for c in item.captions]
            wins["text"] += text
            wins["image"] += image
            own += text + image
            t0 = item.captions[0]
            for cf_image, cf_text in item.counterfactual_pairs:
                text_ok = s(item.image, t0) > s(item.image, cf_text) and s(cf_image, cf_text) > s(cf_image, t0)
                image_ok = s(item.image, t0) > s(cf_image, t0) and s(cf_image, cf_text) > s(item.image, cf_text)
                wins["counterfactual/text"].append(text_ok)
                wins["counterfactual/image"].append(image_ok)
                wins["counterfactual/group"].append(text_ok and image_ok)
                own.append(text_ok and image_ok)
            wins["item"].append(all(own))
            if item.group:
                per_group[item.group].append(all(own))
        metrics, headline = {}, []
        for name in ("text", "image", "counterfactual/text", "counterfactual/image", "counterfactual/group", "item"):
            if wins[name]:
                metrics[name], metrics[f"{name}/count"] = accuracy(wins[name]), len(wins[name])
                headline.append(name)
        for group, values in sorted(per_group.items()):
            metrics[f"group={group}/item"], metrics[f"group={group}/count"] = accuracy(values), len(values)
        return TaskResult(metrics, headline)
