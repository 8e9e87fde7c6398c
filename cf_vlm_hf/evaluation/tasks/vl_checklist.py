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
from .download import Source, Sources
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

# The authors' data/ files at a fixed commit of github.com/om-ai-lab/VL-CheckList -> SHA-256 (None: recorded at the
# first fetch). Images: Visual Genome's two zips (VG_100K/, VG_100K_2/; VAW uses them too) and SWiG's, as their
# DATASETS.md says; HAKE's come from several sources and are fetched by hand.
COMMIT = "6f8d6a3281c401b89e4e154f46c6974ec2df3a82"
FILES = {
    "Attribute/vaw/action.json": "aa9b2e4348a83bfae9593eb3edd713b451d14ae041f1f553a05bc3ab22670358",
    "Attribute/vaw/color.json": None,
    "Attribute/vaw/material.json": "e182bff14fa4f7e3cd212b46efa1d63ee25b7b91b05eece1cab3bb8ba65de2e9",
    "Attribute/vaw/size.json": "847850ec3533a5425872ce349c5f6eda3377e71ba3fe124a6327fe0a8ee8a986",
    "Attribute/vaw/state.json": "09ea607e33d7ca62014eec46ffd18a70c34d9f3bbe6a46d8cbb70fa93b2b7681",
    "Attribute/vg/action.json": "a20b1ee682ab2fb62978cca3a95fc27aa6b35f9238ca7c8847f74671c40db7ba",
    "Attribute/vg/color.json": "93e5d316cfc964c7b4bce2182c9916533ec3aa6e006830859af7c0d2de9f76c7",
    "Attribute/vg/material.json": "b2c1e312cba0a8efdc5113dd451e21f7fd9d0e96a222a5406ffa8dd67b30d094",
    "Attribute/vg/size.json": "0a2a929d9dce990cfd4b05299e2d2a7fe59b5c679a3e7f52419a5375ea42f24b",
    "Attribute/vg/state.json": "d13bc1292de364cd787fc651f4abc0ffaafe9fbf09ec8ce25af76bb349415a2e",
    "Object/Location/hake_location/hake_obj_center.json": None,
    "Object/Location/hake_location/hake_obj_margin.json":
        "366036209fa04e6b19e446873a443cd53bf31a4fb1c67500e1a9239d38a670b6",
    "Object/Location/hake_location/hake_obj_mid.json": None,
    "Object/Location/swig_location/swig_agent/swig_agent_center.json": None,
    "Object/Location/swig_location/swig_agent/swig_agent_margin.json":
        "44e5e84b2b918dd598a3120681d39f7e32b6bfa768b00c8f21bba13edefd0cd7",
    "Object/Location/swig_location/swig_agent/swig_agent_mid.json":
        "bb9e2b4eda57ec58fd4abb69150a65f4516b63b88d2e7b9aa6965aaf02d422a6",
    "Object/Location/swig_location/swig_destination/swig_destination_center.json":
        "b5b49b88aca88b15452791297f709c1d960acad393bd609b399eff7d095e65fe",
    "Object/Location/swig_location/swig_destination/swig_destination_margin.json":
        "e4800a02f7b29a3518b2d0b42466fda895cf2f3b18051d6c0be2aca080f78023",
    "Object/Location/swig_location/swig_destination/swig_destination_mid.json":
        "f683618a16ae3ba25540a5bd6d9b32bdfedd1f2cf87d930be7527b823ac18f90",
    "Object/Location/swig_location/swig_item/swig_item_center.json":
        "c3773948b258fc400e215a5d0b5f3f503cb0d2517b8a913559a1f6a9690489e2",
    "Object/Location/swig_location/swig_item/swig_item_margin.json":
        "375aaf489b71d15332faf362c49524c3073209e586768ad5091cbeaabdd853af",
    "Object/Location/swig_location/swig_item/swig_item_mid.json":
        "1a2e16a2d0bb56e3b1f3954316d2843df27680500e488dba1836f5863b1d472b",
    "Object/Location/swig_location/swig_tool/swig_tool_center.json":
        "b5401f571d1ad9fe78aff41a3aa4096fbabca7d6cfdda1c8ec0537dd60235b30",
    "Object/Location/swig_location/swig_tool/swig_tool_margin.json":
        "e53ea11ab37cd4dd09e02c43d6dc2226d13384d2511a1e543117183d01dec7e7",
    "Object/Location/swig_location/swig_tool/swig_tool_mid.json":
        "899495a517c022e5ba1e6e6654f934d181d25d412203728d9bca02c1c4b0957d",
    "Object/Location/vg_location/vg_obj_center.json": None,
    "Object/Location/vg_location/vg_obj_margin.json":
        "14c00f0b84f8709ee1b04b70e18bfff9b8c6ea650af6047e6523906634ca1e3c",
    "Object/Location/vg_location/vg_obj_mid.json": None,
    "Object/Location/vg_location/vg_subj_center.json":
        "9d69a2d46d405a5ff62dbc000349f3614f76e1945c8b684f2b850c13a2d8cd1f",
    "Object/Location/vg_location/vg_subj_margin.json":
        "8c188d5533eb1f1108ad9ea2a743177c3b24d46d5361f6c94af2cf4d7d299332",
    "Object/Location/vg_location/vg_subj_mid.json": "f215e8cff68e688ed7bcd8ca8b6a9a12f7e1edf38aec6bb59846ed745bf8b6e4",
    "Object/Size/hake_size/hake_obj_large.json": None,
    "Object/Size/hake_size/hake_obj_medium.json": "ecbe2fdf963138364dd16afb1e0bad6b14c189a3229373e0905b35432d32730f",
    "Object/Size/hake_size/hake_obj_small.json": "1f06d35ebf3db0f5c886ea4ec502c376faed3d425f4211804c8dd89cc0de2221",
    "Object/Size/swig_size/swig_agent/swig_agent_large.json": None,
    "Object/Size/swig_size/swig_agent/swig_agent_medium.json":
        "b4147d44dd4a16c5a580d8c1e5d2a9a8f7adb3a74838e88c2b169ef805fdec63",
    "Object/Size/swig_size/swig_agent/swig_agent_small.json":
        "595f454c422eb64e41e07afc27dd966fc5a8d65865f9aa4bc67402a1ba2d3e33",
    "Object/Size/swig_size/swig_destination/swig_destination_large.json":
        "fa3c1e0a6c418868e326ddaa218caa888d46f4b6de9f6475ea5c19e40056e27c",
    "Object/Size/swig_size/swig_destination/swig_destination_medium.json":
        "4b404a3a1c37f077bcd37aa9cc50a5f4943cdc258ae20cc76fed21ec2d077f2f",
    "Object/Size/swig_size/swig_destination/swig_destination_small.json":
        "81d7f531e9516bb469e0c251fc078f7557c1ceb3a8fab6b01d479fa5c6ccda1c",
    "Object/Size/swig_size/swig_item/swig_item_large.json":
        "efb6c7bcce85d6540bd042368144670a6f72471f009b8a0a3fcb4d8763b4fb6e",
    "Object/Size/swig_size/swig_item/swig_item_medium.json":
        "bc6898e3fdd0a0c75b33a734022f153fead0dacacb3160c3ec17f47f16397fe8",
    "Object/Size/swig_size/swig_item/swig_item_small.json":
        "33d9d4b827385faf6bee8237330df5561348e266b29d031c00b28820a4c81a40",
    "Object/Size/swig_size/swig_place/swig_place_large.json":
        "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    "Object/Size/swig_size/swig_place/swig_place_medium.json":
        "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    "Object/Size/swig_size/swig_place/swig_place_small.json":
        "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    "Object/Size/swig_size/swig_tool/swig_tool_large.json":
        "6e50360bcbd3aadade6073b0ca67e07e8d64a56426d059e732475af88444d146",
    "Object/Size/swig_size/swig_tool/swig_tool_medium.json":
        "05ad7953ddb0ce563ece3f36f83a62ca22d90c256cc82a70c44c876260baa8e7",
    "Object/Size/swig_size/swig_tool/swig_tool_small.json":
        "55fa1b2ee3c9c33cf21ba7e84421c551bc19cab1768440f3600a70564802d77a",
    "Object/Size/vg_size/vg_obj_large.json": None,
    "Object/Size/vg_size/vg_obj_medium.json": "cc08adb0c267f8e4cce7a75c5ff91f585ced1510fb6893a4c6dc52cebe713d4d",
    "Object/Size/vg_size/vg_obj_small.json": "a2aa7820542f7b3bf2117d570e7fd0a8deb3235d91d01488d49038a19a485fd7",
    "Object/Size/vg_size/vg_subj_large.json": "b491242d2e4405155d826b22b48d83bb42100fa16ac4b0b05d70a3a9f1d14311",
    "Object/Size/vg_size/vg_subj_medium.json": "111c66edc702fcf494dd34ef72191d9557b91c32afc079a9b2d97cf4bc512259",
    "Object/Size/vg_size/vg_subj_small.json": "37e35926c4689592c44cd7f659c4deff011432b211c4736108e1fd0feabec464",
    "Relation/hake_action.json": None,
    "Relation/swig_action.json": "ed3a65cb815c1fb0947b337bbfc95bbcf517fa0124ce7cb9bd4d915de02eb4f4",
    "Relation/vg/action.json": "2722201353c885670315f935d53cb4e08f462e629c3f88c73da9a286ea66d7a1",
    "Relation/vg/spatial.json": "2582095a4b8515048ba2e33d37d2bffc109e6734924b47bf977236b7f9b72303",
}
VG_ZIPS = ("https://cs.stanford.edu/people/rak248/VG_100K_2/images.zip",
           "https://cs.stanford.edu/people/rak248/VG_100K_2/images2.zip")
SOURCES = Sources(
    licence="VL-CheckList annotations: github.com/om-ai-lab/VL-CheckList (its package: free for non-commercial use); "
            "Visual Genome / VAW images: CC BY 4.0; SWiG images (imSitu): research use (github.com/allenai/swig); "
            "HAKE images: the terms of each of its sources",
    files=(*(Source(f"https://raw.githubusercontent.com/om-ai-lab/VL-CheckList/{COMMIT}/data/{relative}",
                    f"data/{relative}", digest) for relative, digest in FILES.items()),
           *(Source(url, "vg", unpack=True, shared="visual-genome") for url in VG_ZIPS),
           Source("https://swig-data-weights.s3.us-east-2.amazonaws.com/images_512.zip", "swig", unpack=True,
                  strip="images_512/")),
    manual=(("HAKE images (the hake_* files) come from several sources with their own terms: follow "
             "https://github.com/DirtyHarryLYL/HAKE/tree/master/Images#download-images-for-hake and put them in "
             "{folder}/hake/ as VL-CheckList's DATASETS.md shows; until then pass --skip-missing-images (their "
             "entries are left out and counted)"),),
)


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
    sources = SOURCES
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
