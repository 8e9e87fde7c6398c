"""VL-CheckList (Zhao et al., 2022): object, attribute and relation probes, each a caption vs a changed caption.

Layout (the authors' ``data/`` folder, with the images of its sources)::

    <root>/data/Object/**/*.json        # [[image path, {"POS": [str, ...], "NEG": [str, ...]}], ...]
    <root>/data/Attribute/**/*.json
    <root>/data/Relation/**/*.json
    <root>/images/<image path>           # e.g. images/VG_100K/2376832.jpg, images/hake/..., images/swig/...

Protocol (the authors' ``itc`` evaluation): an item is right when S(image, POS[0]) > S(image, NEG[0]), strictly;
only the first positive and first negative are used. Like the authors' sample configuration (MAX_NUM 2000) each
file is cut to its **first** 1,000 items (``max_items_per_file``; None keeps all). Accuracy per file; each split
(object / attribute / relation) is the mean of its files' accuracies, and ``mean`` the mean of the three splits.
The authors skip items whose image is missing without a word; here that is an error unless
``missing_images="skip"``, and skipped items are counted in the results. The benchmark has no fixed item count.
"""

from __future__ import annotations

import glob
import os

from ..items import ChoiceItem
from ..metrics import accuracy
from .base import Task, TaskData, TaskResult
from .choices import choice_results
from .files import Annotations

SPLITS = ("object", "attribute", "relation")
DEFAULT_MAX_ITEMS = 1000
LAYOUT = "<root>/data/{Object,Attribute,Relation}/**/*.json ([image, {POS, NEG}] entries), images in <root>/images/"


class VLCheckList(Task):
    name = "vl-checklist"
    folder = "vl-checklist"
    summary = "VL-CheckList: object / attribute / relation probes (ITC accuracy)"
    protocol = {
        "metric": "ITC accuracy: S(image, POS[0]) > S(image, NEG[0])",
        "ties": "strict (a tie is wrong), as the authors' evaluate.py",
        "averaging": "per file; split = mean of its files; mean = mean of the three splits",
        "exclusions": "each file cut to its first 1,000 items (the authors' sample MAX_NUM 2000 / 2)",
    }

    @classmethod
    def option_names(cls):
        return ("max_items_per_file",)

    def load(self, data_dir=None) -> TaskData:
        root = self.root(data_dir)
        if root is None:
            raise self.missing_folder(data_dir, LAYOUT)
        data = os.path.join(root, "data") if os.path.isdir(os.path.join(root, "data")) else root
        limit = self.options.get("max_items_per_file", DEFAULT_MAX_ITEMS)
        subsets, files, notes, skipped, cut = {}, {}, [], 0, 0
        for folder in sorted(os.listdir(data)):
            split = folder.lower()
            if split not in SPLITS or not os.path.isdir(os.path.join(data, folder)):
                continue
            for path in sorted(glob.glob(os.path.join(data, folder, "**", "*.json"), recursive=True)):
                ann = Annotations(self.name, path, (os.path.join(root, "images"), root), self.missing_images)
                content = ann.json()
                if not isinstance(content, list):
                    raise ValueError(f"{self.name}: {path}: expected a list of [image, {{POS, NEG}}] entries, got "
                                     f"{type(content).__name__}")
                name = f"{split}/{os.path.splitext(os.path.relpath(path, os.path.join(data, folder)))[0]}"
                if limit is not None and len(content) > limit:
                    cut += len(content) - limit
                    content = content[:limit]
                items = []
                for index, entry in enumerate(content):
                    if not isinstance(entry, list) or len(entry) != 2:
                        raise ann.error(index, None, "expected [image path, {'POS': [...], 'NEG': [...]}]")
                    texts = ann.mapping(index, entry[1])
                    positive, negative = ann.texts(index, texts, "POS"), ann.texts(index, texts, "NEG")
                    if not positive or not negative:
                        raise ann.error(index, "POS" if not positive else "NEG", "empty list")
                    image = ann.image(index, "image", entry[0])
                    if image is not None:
                        items.append(ChoiceItem(f"{name}/{index}", image, (positive[0], negative[0]), 0, split))
                if items:
                    subsets[name] = items
                files[path] = ann.sha256
                skipped += sum(ann.skipped.values())
        if not subsets:
            raise self.missing_folder(data_dir, LAYOUT)
        missing = [s for s in SPLITS if not any(name.startswith(s + "/") for name in subsets)]
        if missing:
            notes.append(f"no annotation files for split(s) {missing}")
        exclusions = {}
        if cut:
            exclusions[f"beyond the first {limit} items of a file"] = cut
        if skipped:
            exclusions["image file not found"] = skipped
        return TaskData(self.name, subsets, root, files, exclusions, notes)

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        items = [item for subset in data.subsets.values() for item in subset]
        correct = dict(zip((item.id for item in items), choice_results(scorer, items)))
        metrics = {}
        for name, subset in data.subsets.items():
            metrics[f"{name}/accuracy"] = accuracy([correct[item.id] for item in subset])
            metrics[f"{name}/count"] = len(subset)
        for split in SPLITS:
            values = [v for k, v in metrics.items() if k.startswith(split + "/") and k.endswith("/accuracy")]
            if values:
                metrics[split] = sum(values) / len(values)
        present = [metrics[s] for s in SPLITS if s in metrics]
        metrics["mean"] = sum(present) / len(present)
        return TaskResult(metrics, [s for s in SPLITS if s in metrics] + ["mean"])
