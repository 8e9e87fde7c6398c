"""VL-CheckList (Zhao et al., 2022): object, attribute and relation probes, each a caption vs a changed caption.

Layouts (either; the images of each annotation file are looked for in every root that applies)::

    <root>/data/Object/**/*.json        # [[image path, {"POS": [str, ...], "NEG": [str, ...]}], ...]
    <root>/data/Attribute/**/*.json
    <root>/data/Relation/**/*.json
    -- the authors' own image layout (their DATASETS.md), with their corpus files --
    <root>/corpus/v1/**/*.yaml          # ANNO_PATH: data/...json, IMG_ROOT: vg/ | hake/ | swig/
    <root>/vg/VG_100K/2372476.jpg       # Visual Genome (also the images of the VAW files)
    <root>/hake/openimages/..., <root>/swig/...
    -- or ours --
    <root>/images/<image path>          # e.g. images/VG_100K/2376832.jpg, images/openimages/...

An annotation file's images are looked for under its yaml's IMG_ROOT (when a ``corpus/**/*.yaml`` names the file),
then ``<root>/images/``, then ``<root>/<source>/`` (``vg`` for the VG and VAW files, ``hake``, ``swig``, as the
authors' yaml files say), then ``<root>``.

Protocol (the authors' ``itc`` evaluation): an item is right when S(image, POS[0]) > S(image, NEG[0]), strictly;
only the first positive and first negative are used. Like the authors' sample configuration (MAX_NUM 2000) each
file is cut to its **first** 1,000 items with an image (``max_items_per_file``; None keeps all). Accuracy per file;
each split (object / attribute / relation) is the mean of its files' accuracies, and ``mean`` the mean of the three
splits. Beside ours, the authors' own aggregation (their ``radar.py`` over ``corpus.json``): ``radar/<category>``
for the 13 categories (large, medium, small, center, mid, margin, color, material, action_a, size, state, action_r,
spatial), each the mean over its sources (vg, vaw, swig, hake) of the mean over that source's files.
The authors skip items whose image is missing without a word; here that is an error unless
``missing_images="skip"``, and skipped items are counted in the results. The benchmark has no fixed item count.
"""

from __future__ import annotations

import glob
import os

import yaml

from ..items import ChoiceItem
from ..metrics import accuracy
from .base import Task, TaskData, TaskResult
from .choices import choice_results
from .files import Annotations

SPLITS = ("object", "attribute", "relation")
DEFAULT_MAX_ITEMS = 1000
LAYOUT = ("<root>/data/{Object,Attribute,Relation}/**/*.json ([image, {POS, NEG}] entries), images in <root>/images/ "
          "or in the authors' <root>/vg/, <root>/hake/, <root>/swig/ (with their corpus/v1/**/*.yaml)")

# The authors' radar categories (their corpus.json) -> source -> the annotation files (their yaml files' ANNO_PATH,
# relative to data/) whose accuracies it averages.
_OBJECT_SOURCES = {"vg": ("vg_{kind}/vg_obj_{c}", "vg_{kind}/vg_subj_{c}"),
                   "swig": tuple(f"swig_{{kind}}/swig_{role}/swig_{role}_{{c}}"
                                 for role in ("agent", "destination", "item", "tool")),
                   "hake": ("hake_{kind}/hake_obj_{c}",)}
RADAR: dict[str, dict[str, tuple[str, ...]]] = {
    **{c: {src: tuple(f"Object/Size/{p.format(kind='size', c=c)}.json" for p in paths)
           for src, paths in _OBJECT_SOURCES.items()} for c in ("large", "medium", "small")},
    **{c: {src: tuple(f"Object/Location/{p.format(kind='location', c=c)}.json" for p in paths)
           for src, paths in _OBJECT_SOURCES.items()} for c in ("center", "mid", "margin")},
    **{name: {src: (f"Attribute/{src}/{attribute}.json",) for src in ("vg", "vaw")}
       for name, attribute in (("color", "color"), ("material", "material"), ("action_a", "action"),
                               ("size", "size"), ("state", "state"))},
    "action_r": {"vg": ("Relation/vg/action.json",), "swig": ("Relation/swig_action.json",),
                 "hake": ("Relation/hake_action.json",)},
    "spatial": {"vg": ("Relation/vg/spatial.json",)},
}
SOURCE_FOLDERS = {"vg": "vg", "vaw": "vg", "hake": "hake", "swig": "swig"}  # the authors' IMG_ROOT per source


def _source(relative: str) -> str | None:
    """The image source of an annotation file (path relative to data/), from the authors' file names."""
    parts = relative.replace(os.sep, "/").lower().split("/")
    for part in parts:
        for source in SOURCE_FOLDERS:
            if part == source or part.startswith(source + "_"):
                return source
    return None


def read_corpus_yaml(root: str) -> dict[str, str]:
    """The authors' ``corpus/**/*.yaml`` files under ``root``: annotation file (absolute) -> image root (absolute)."""
    roots = {}
    for path in sorted(glob.glob(os.path.join(root, "corpus", "**", "*.yaml"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            try:
                config = yaml.safe_load(f)
            except yaml.YAMLError as err:
                raise ValueError(f"vl-checklist: {path}: not valid YAML ({err})") from err
        if not isinstance(config, dict) or not config.get("ANNO_PATH") or not config.get("IMG_ROOT"):
            raise ValueError(f"vl-checklist: {path}: expected the fields ANNO_PATH and IMG_ROOT, got {config!r}")
        annotation = os.path.normpath(os.path.join(root, str(config["ANNO_PATH"])))
        roots[annotation] = os.path.normpath(os.path.join(root, str(config["IMG_ROOT"])))
    return roots


class VLCheckList(Task):
    name = "vl-checklist"
    folder = "vl-checklist"
    summary = "VL-CheckList: object / attribute / relation probes (ITC accuracy)"
    primary_metric = "mean"
    protocol = {
        "metric": "ITC accuracy: S(image, POS[0]) > S(image, NEG[0])",
        "ties": "strict (a tie is wrong), as the authors' evaluate.py",
        "averaging": "per file; split = mean of its files; mean = mean of the three splits. radar/<category>: the "
                     "authors' radar.py (mean over sources of the mean over the source's files, corpus.json)",
        "exclusions": "each file cut to its first 1,000 items with an image (the authors' sample MAX_NUM 2000 / 2)",
    }

    @classmethod
    def option_names(cls):
        return ("max_items_per_file",)

    @classmethod
    def has_layout(cls, folder: str) -> bool:
        base = os.path.join(folder, "data") if os.path.isdir(os.path.join(folder, "data")) else folder
        return any(os.path.isdir(os.path.join(base, split.capitalize())) for split in SPLITS)

    def load(self, data_dir=None) -> TaskData:
        root = self.root(data_dir)
        if root is None:
            raise self.missing_folder(data_dir, LAYOUT)
        data = os.path.join(root, "data") if os.path.isdir(os.path.join(root, "data")) else root
        yaml_roots = read_corpus_yaml(root)
        limit = self.options.get("max_items_per_file", DEFAULT_MAX_ITEMS)
        subsets, files, notes, skipped, cut = {}, {}, [], 0, 0
        for folder in sorted(os.listdir(data)):
            split = folder.lower()
            if split not in SPLITS or not os.path.isdir(os.path.join(data, folder)):
                continue
            for path in sorted(glob.glob(os.path.join(data, folder, "**", "*.json"), recursive=True)):
                relative = os.path.relpath(path, data)
                source = _source(relative)
                roots = [yaml_roots.get(os.path.normpath(path)), os.path.join(root, "images"),
                         os.path.join(root, SOURCE_FOLDERS[source]) if source else None, root]
                ann = Annotations(self.name, path, tuple(dict.fromkeys(r for r in roots if r)), self.missing_images)
                content = ann.json()
                if not isinstance(content, list):
                    raise ValueError(f"{self.name}: {path}: expected a list of [image, {{POS, NEG}}] entries, got "
                                     f"{type(content).__name__}")
                name = f"{split}/{os.path.splitext(os.path.relpath(path, os.path.join(data, folder)))[0]}"
                items, read = [], 0
                for index, entry in enumerate(content):
                    if limit is not None and len(items) >= limit:
                        break
                    read += 1
                    if not isinstance(entry, list) or len(entry) != 2:
                        raise ann.error(index, None, "expected [image path, {'POS': [...], 'NEG': [...]}]")
                    texts = ann.mapping(index, entry[1])
                    positive, negative = ann.texts(index, texts, "POS"), ann.texts(index, texts, "NEG")
                    if not positive or not negative:
                        raise ann.error(index, "POS" if not positive else "NEG", "empty list")
                    image = ann.image(index, "image", entry[0])
                    if image is not None:
                        items.append(ChoiceItem(f"{name}/{index}", image, (positive[0], negative[0]), 0, split))
                cut += len(content) - read
                if items:
                    subsets[name] = items
                files[path] = ann.sha256
                skipped += sum(ann.skipped.values())
        if not subsets:
            if skipped:
                raise self.nothing_left(root, skipped, "each file's yaml IMG_ROOT, <root>/images/, <root>/vg/, "
                                                       "<root>/hake/, <root>/swig/ and <root>")
            raise self.missing_folder(data_dir, LAYOUT)
        missing = [s for s in SPLITS if not any(name.startswith(s + "/") for name in subsets)]
        if missing:
            notes.append(f"no annotation files for split(s) {missing}")
        if yaml_roots:
            notes.append(f"image roots from the authors' {len(yaml_roots)} corpus yaml files")
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
        metrics.update(radar_categories(metrics, list(data.subsets)))
        return TaskResult(metrics, [s for s in SPLITS if s in metrics] + ["mean"])


def radar_categories(metrics: dict[str, float], subsets: list[str]) -> dict[str, float]:
    """The authors' radar aggregation: ``radar/<category>`` = mean over its sources of the mean over the source's
    files, from the per-file accuracies (``<subset>/accuracy``) of the files the authors' corpus names; a category or
    source none of whose files was read is left out.

    A subset ``object/Size/vg_size/vg_obj_large`` is the file ``data/Object/Size/vg_size/vg_obj_large.json``.
    """
    accuracy_of = {}
    for name in subsets:
        split, _, rest = name.partition("/")
        accuracy_of[f"{split.capitalize()}/{rest}.json"] = metrics[f"{name}/accuracy"]
    out = {}
    for category, sources in RADAR.items():
        means = []
        for paths in sources.values():
            values = [accuracy_of[p] for p in paths if p in accuracy_of]
            if values:
                means.append(sum(values) / len(values))
        if means:
            out[f"radar/{category}"] = sum(means) / len(means)
    return out
