"""Zero-shot classification on an image folder of classes: what a fine-tune cost in general ability.

Layout (one dataset, or several side by side)::

    <root>/<class name>/*.jpg|*.png|...        # one folder per class (folder names sorted = class order)
    <root>/classnames.txt                      # optional: one readable name per line, in folder order
    <root>/templates.txt                       # optional: one prompt per line, "{}" = the class name
    -- or --
    <root>/<dataset>/<class name>/*.jpg ...    # several datasets, each reported on its own

Protocol: each class is scored with every prompt; a dual encoder uses the usual prompt ensemble (class embedding =
the normalised mean of its normalised prompt embeddings), a generative VLM the mean over prompts of its S(image,
prompt) (limited by the scorer's ``max_matrix_pairs``). Default prompt: "a photo of a {}.". Metrics: top-1,
top-5 (when there are more than 5 classes) and the mean per-class recall, over every image (micro); ``mean/top1``
(the primary metric) averages top-1 over the datasets.
"""

from __future__ import annotations

import os

from ..items import ClassificationSet, ImageRef
from ..metrics import topk_accuracy
from .base import Task, TaskData, TaskResult
from .files import sha256_file

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DEFAULT_TEMPLATES = ("a photo of a {}.",)
LAYOUT = "<root>/<class name>/<images> (optional classnames.txt, templates.txt), or <root>/<dataset>/<class>/..."


def _images_in(folder: str) -> list[str]:
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS)
                  and os.path.isfile(os.path.join(folder, f)))


def _lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


class ZeroShot(Task):
    name = "zero-shot"
    folder = "zero-shot"
    summary = "zero-shot classification on image folders: top-1 / top-5 with prompt templates"
    primary_metric = "mean/top1"
    protocol = {
        "metric": "top-1 / top-5 accuracy, mean per-class recall",
        "prompts": "templates.txt or 'a photo of a {}.'; dual encoders: prompt-ensemble embedding; generative: "
                   "mean S over prompts",
        "ties": "a tie with another class counts against the true class",
        "averaging": "over images (micro); mean per-class recall over classes",
        "exclusions": "none",
    }

    @classmethod
    def option_names(cls):
        return ("templates",)

    def load(self, data_dir=None) -> TaskData:
        root = self.root(data_dir)
        if root is None:
            raise self.missing_folder(data_dir, LAYOUT)
        folders = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        if not folders:
            raise self.missing_folder(data_dir, LAYOUT)
        is_class_folder = any(_images_in(os.path.join(root, d)) for d in folders)
        datasets = {os.path.basename(root): root} if is_class_folder else {d: os.path.join(root, d) for d in folders}
        subsets, files = {}, {}
        for name, folder in datasets.items():
            subsets[name] = [self._read(name, folder, files)]
        return TaskData(self.name, subsets, root, files)

    def _read(self, name: str, folder: str, files: dict) -> ClassificationSet:
        classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
        if len(classes) < 2:
            raise ValueError(f"{self.name}: {folder}: expected one folder per class (at least 2), found {classes}")
        classnames = [c.replace("_", " ") for c in classes]
        names_file = os.path.join(folder, "classnames.txt")
        if os.path.isfile(names_file):
            classnames = _lines(names_file)
            files[names_file] = sha256_file(names_file)
            if len(classnames) != len(classes):
                raise ValueError(f"{self.name}: {names_file}: {len(classnames)} names for {len(classes)} class "
                                 f"folders ({classes})")
        templates = list(self.options.get("templates") or DEFAULT_TEMPLATES)
        templates_file = os.path.join(folder, "templates.txt")
        if not self.options.get("templates") and os.path.isfile(templates_file):
            templates = _lines(templates_file)
            files[templates_file] = sha256_file(templates_file)
        for number, template in enumerate(templates, start=1):
            if "{}" not in template and "{c}" not in template:
                raise ValueError(f"{self.name}: template {number} ({template!r}) has no '{{}}' for the class name")
        images, labels = [], []
        for label, class_folder in enumerate(classes):
            found = _images_in(os.path.join(folder, class_folder))
            if not found:
                raise ValueError(f"{self.name}: {os.path.join(folder, class_folder)}: class folder without images")
            images += [ImageRef.from_file(os.path.join(folder, class_folder, f)) for f in found]
            labels += [label] * len(found)
        return ClassificationSet(name, tuple(images), tuple(labels), tuple(classnames), tuple(templates))

    def subset_counts(self, data: TaskData) -> dict[str, int]:
        return {name: len(dataset.images) for name, (dataset,) in data.subsets.items()}

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        metrics, headline = {}, []
        for name, (dataset,) in data.subsets.items():
            prompts = [[t.replace("{c}", "{}").format(c) for t in dataset.templates] for c in dataset.classnames]
            scores = scorer.template_scores(list(dataset.images), prompts)
            values = topk_accuracy(scores, dataset.labels, ks=(1, 5) if len(dataset.classnames) > 5 else (1,))
            metrics.update({f"{name}/{k}": v for k, v in values.items()})
            metrics[f"{name}/count"] = len(dataset.images)
            headline += [f"{name}/{k}" for k in ("top1", "top5") if f"{name}/{k}" in metrics]
        metrics["mean/top1"] = sum(metrics[f"{name}/top1"] for name in data.subsets) / len(data.subsets)
        return TaskResult(metrics, headline)
