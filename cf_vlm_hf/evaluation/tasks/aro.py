"""ARO (Yuksekgonul et al., ICLR 2023): VG-Relation, VG-Attribution, COCO-Order and Flickr30k-Order.

Layout (the authors' files)::

    <root>/visual_genome_relation.json      # [{image_path, bbox_x, bbox_y, bbox_w, bbox_h, true_caption,
    <root>/visual_genome_attribution.json   #   false_caption, relation_name | attributes: [a, b]}, ...]
    <root>/images/                          # vgr_vga_images.zip, unpacked
    <root>/coco_order.json                  # prepared cases [{image, caption_options: [true, 4 perturbed]}], or
    <root>/coco/coco_karpathy_test.json     #   BLIP's Karpathy test file (cases built here, needs spaCy)
    <root>/coco/val2014/...                 # images, paths relative to <root>/coco/
    <root>/flickr30k_order.json | <root>/flickr30k/flickr30k_test.json, images under <root>/flickr30k/

Subsets whose files are absent are left out (the results say so).

Protocol:

* VG-Relation / VG-Attribution: the image cropped to the item's box; right when S(true_caption) > S(false_caption)
  (the authors' ``argmax == 1`` over [false, true]: a tie is wrong either way). **Macro** accuracy: the mean over
  relations (attribute pairs ``"a_b"``) of their accuracy. VG-Relation's headline leaves out the relations the
  authors call symmetric and those with fewer than 25 items (the paper's numbers, as the authors explain in their
  issues #37 and #8); ``macro_notebook`` leaves out only the symmetric ones (their notebook), ``micro`` pools every
  item. VG-Attribution leaves out attribute pairs with fewer than 25 items (their ``evaluate_scores``).
* COCO-Order / Flickr30k-Order: precision@1, the true caption (option 0) must beat its four perturbations. Strict
  by default; the authors' ``argmax == 0`` counts a tie as right (``ties="first"`` reproduces it).

``mean`` (the task's primary metric, ours): the mean of the subsets' headline numbers above, over the subsets read.
"""

from __future__ import annotations

import os
from dataclasses import replace

from ..items import ChoiceItem
from ..metrics import accuracy, macro_accuracy
from .aro_order import build_order_cases, spacy_tagger
from .base import Task, TaskData, TaskResult
from .choices import choice_results
from .download import COCO_TERMS, COCO_VAL2014, Source, Sources
from .files import Annotations

# The relations the authors' notebook ("Replicate ARO!") leaves out of VG-Relation's macro accuracy as symmetric.
SYMMETRIC_RELATIONS = frozenset([
    "adjusting", "attached to", "between", "bigger than", "biting", "boarding", "brushing", "chewing", "cleaning",
    "climbing", "close to", "coming from", "coming out of", "contain", "crossing", "dragging", "draped over",
    "drinking", "drinking from", "driving", "driving down", "driving on", "eating from", "eating in", "enclosing",
    "exiting", "facing", "filled with", "floating in", "floating on", "flying", "flying above", "flying in",
    "flying over", "flying through", "full of", "going down", "going into", "going through", "grazing in",
    "growing in", "growing on", "guiding", "hanging from", "hanging in", "hanging off", "hanging over", "higher than",
    "holding onto", "hugging", "in between", "jumping off", "jumping on", "jumping over", "kept in", "larger than",
    "leading", "leaning over", "leaving", "licking", "longer than", "looking in", "looking into", "looking out",
    "looking over", "looking through", "lying next to", "lying on top of", "making", "mixed with", "mounted on",
    "moving", "on the back of", "on the edge of", "on the front of", "on the other side of", "opening", "painted on",
    "parked at", "parked beside", "parked by", "parked in", "parked in front of", "parked near", "parked next to",
    "perched on", "petting", "piled on", "playing", "playing in", "playing on", "playing with", "pouring",
    "reaching for", "reading", "reflected on", "riding on", "running in", "running on", "running through",
    "seen through", "sitting behind", "sitting beside", "sitting by", "sitting in front of", "sitting near",
    "sitting next to", "sitting under", "skiing down", "skiing on", "sleeping in", "sleeping on", "smiling at",
    "sniffing", "splashing", "sprinkled on", "stacked on", "standing against", "standing around", "standing behind",
    "standing beside", "standing in front of", "standing near", "standing next to", "staring at", "stuck in",
    "surrounding", "swimming in", "swinging", "talking to", "topped with", "touching", "traveling down",
    "traveling on", "tying", "typing on", "underneath", "wading in", "waiting for", "walking across", "walking by",
    "walking down", "walking next to", "walking through", "working in", "working on", "worn on", "wrapped around",
    "wrapped in", "by", "of", "near", "next to", "with", "beside", "on the side of", "around",
])
MIN_GROUP_ITEMS = 25
OFFICIAL_COUNTS = {"vg_relation": 23937, "vg_attribution": 28748, "coco_order": 25010, "flickr30k_order": 5000}
VG_FILES = {"vg_relation": "visual_genome_relation.json", "vg_attribution": "visual_genome_attribution.json"}
ORDER_FILES = {"coco_order": ("coco", "coco_karpathy_test.json"),
               "flickr30k_order": ("flickr30k", "flickr30k_test.json")}
# Where the authors' dataset_zoo (github.com/mertyg/vision-language-models-are-bows) fetches ARO: Google Drive files
# for VG-R / VG-A, BLIP's Karpathy test files for the Order tasks (COCO val2014 images; Flickr30k needs a form).
DRIVE = "https://drive.usercontent.google.com/download?export=download&confirm=t&id="
BLIP = "https://storage.googleapis.com/sfr-vision-language-research/datasets/"
LAYOUT = ("<root>/visual_genome_relation.json, <root>/visual_genome_attribution.json and <root>/images/; "
          "<root>/coco_order.json or <root>/coco/coco_karpathy_test.json; the same for flickr30k")


class ARO(Task):
    name = "aro"
    folder = "aro"
    summary = "ARO: VG-Relation, VG-Attribution (macro accuracy), COCO-Order, Flickr30k-Order (precision@1)"
    official_counts = OFFICIAL_COUNTS
    primary_metric = "mean"
    sources = Sources(
        licence="ARO code and files: MIT (github.com/mertyg/vision-language-models-are-bows); VG-R / VG-A images: "
                f"Visual Genome / GQA, CC BY 4.0; Karpathy test split: BLIP's file (BSD-3-Clause); {COCO_TERMS}",
        files=(Source(f"{DRIVE}1kX2iCHEv0CADL8dSO1nMdW-V0NqIAiP3", "visual_genome_relation.json"),
               Source(f"{DRIVE}13tWvOrNOLHxl3Rm9cR3geAdHx2qR3-Tw", "visual_genome_attribution.json"),
               Source(f"{DRIVE}1qaPlrwhGNMrR3a11iopZUT_GPP_LrgP9", "images", unpack=True, strip="images/"),
               Source(f"{BLIP}coco_karpathy_test.json", "coco/coco_karpathy_test.json"),
               replace(COCO_VAL2014, path="coco/val2014")),
        manual=(("Flickr30k-Order: the Flickr30k images need a sign-up (https://forms.illinois.edu/sec/229675); "
                 "put flickr30k-images/ in {folder}/flickr30k/ and "
                 f"{BLIP}flickr30k_test.json in {{folder}}/flickr30k/"),
                ("COCO-Order cases are built from the Karpathy test file with spaCy (pip install spacy && python -m "
                 "spacy download en_core_web_sm)")),
    )
    protocol = {
        "metric": "VG-R / VG-A: accuracy of S(true) > S(false) on the box crop; Order: precision@1 of the true "
                  "caption among 5 options",
        "ties": "strict (a tie is wrong); the authors' Order code counts a tie as right (ties='first')",
        "averaging": "VG-R / VG-A macro over relations / attribute pairs; Order: over items",
        "exclusions": "VG-R headline: the authors' symmetric relations and relations with < 25 items; VG-A: "
                      "attribute pairs with < 25 items",
    }

    @classmethod
    def option_names(cls):
        return ("ties", "order_seed")

    @classmethod
    def has_layout(cls, folder: str) -> bool:
        names = [*VG_FILES.values(), *(f"{subset}.json" for subset in ORDER_FILES),
                 *(os.path.join(*parts) for parts in ORDER_FILES.values())]
        return any(os.path.isfile(os.path.join(folder, name)) for name in names)

    def load(self, data_dir=None) -> TaskData:
        root = self.root(data_dir)
        if root is None:
            raise self.missing_folder(data_dir, LAYOUT)
        subsets, files, notes, skipped = {}, {}, [], 0
        for subset, filename in VG_FILES.items():
            path = os.path.join(root, filename)
            if not os.path.isfile(path):
                notes.append(f"{filename} not found: {subset} left out")
                continue
            ann = Annotations(self.name, path, (os.path.join(root, "images"),), self.missing_images)
            subsets[subset], files[path] = self._visual_genome(ann, subset), ann.sha256
            skipped += sum(ann.skipped.values())
        for subset, (folder, karpathy) in ORDER_FILES.items():
            prepared, source = os.path.join(root, f"{subset}.json"), os.path.join(root, folder, karpathy)
            path = prepared if os.path.isfile(prepared) else source if os.path.isfile(source) else None
            if path is None:
                notes.append(f"{subset}.json and {folder}/{karpathy} not found: {subset} left out")
                continue
            ann = Annotations(self.name, path, (os.path.join(root, folder), root), self.missing_images)
            subsets[subset], files[path] = self._order(ann, subset, built=path == source, notes=notes), ann.sha256
            skipped += sum(ann.skipped.values())
        if not subsets:
            raise self.missing_folder(data_dir, LAYOUT)
        return TaskData(self.name, subsets, root, files, {"image file not found": skipped} if skipped else {}, notes)

    def _visual_genome(self, ann: Annotations, subset: str) -> list[ChoiceItem]:
        content = ann.json()
        if not isinstance(content, list):
            raise ValueError(f"{self.name}: {ann.path}: expected a list of entries, got {type(content).__name__}")
        items = []
        for index, entry in enumerate(content):
            entry = ann.mapping(index, entry)
            if subset == "vg_relation":
                group = ann.text(index, entry, "relation_name")
            else:
                attributes = ann.texts(index, entry, "attributes")
                if len(attributes) != 2:
                    raise ann.error(index, "attributes", f"expected 2 attributes, got {len(attributes)}")
                group = f"{attributes[0]}_{attributes[1]}"
            x, y = ann.number(index, entry, "bbox_x"), ann.number(index, entry, "bbox_y")
            w, h = ann.number(index, entry, "bbox_w"), ann.number(index, entry, "bbox_h")
            if w <= 0 or h <= 0:
                raise ann.error(index, "bbox_w" if w <= 0 else "bbox_h", f"box of size {w:g} x {h:g}")
            true, false = ann.text(index, entry, "true_caption"), ann.text(index, entry, "false_caption")
            image = ann.image(index, "image_path", ann.text(index, entry, "image_path"), box=(x, y, x + w, y + h))
            if image is not None:
                items.append(ChoiceItem(f"{subset}/{index}", image, (false, true), 1, group))
        return items

    def _order(self, ann: Annotations, subset: str, built: bool, notes: list) -> list[ChoiceItem]:
        content = ann.json()
        if not isinstance(content, list):
            raise ValueError(f"{self.name}: {ann.path}: expected a list of entries, got {type(content).__name__}")
        if built:
            for index, record in enumerate(content):
                ann.texts(index, ann.mapping(index, record), "caption")
                ann.text(index, record, "image")
            seed = self.options.get("order_seed", 1)
            content = build_order_cases(content, spacy_tagger(), seed=seed)
            notes.append(f"{subset}: perturbed captions built here with seed {seed} (not the authors' draws)")
        items = []
        for index, case in enumerate(content):
            case = ann.mapping(index, case)
            options = ann.texts(index, case, "caption_options")
            if len(options) < 2:
                raise ann.error(index, "caption_options", f"expected the true caption and its perturbations, got "
                                                          f"{len(options)} option(s)")
            image = ann.image(index, "image", ann.text(index, case, "image"))
            if image is not None:
                items.append(ChoiceItem(f"{subset}/{index}", image, tuple(options), 0, subset))
        return items

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        ties = self.options.get("ties") or "strict"
        metrics, headline = {}, []
        for subset, items in data.subsets.items():
            # VG-R / VG-A put the true caption second: argmax == 1 and strict > agree, ties are wrong either way.
            correct = choice_results(scorer, items, ties if subset.endswith("_order") else "strict")
            groups = [item.group for item in items]
            metrics[f"{subset}/count"] = len(items)
            metrics[f"{subset}/micro"] = accuracy(correct)
            if subset == "vg_relation":
                metrics[f"{subset}/macro"], kept = macro_accuracy(correct, groups, MIN_GROUP_ITEMS, SYMMETRIC_RELATIONS)
                metrics[f"{subset}/macro_notebook"], _ = macro_accuracy(correct, groups, 0, SYMMETRIC_RELATIONS)
                metrics[f"{subset}/relations_kept"] = len(kept)
                headline.append(f"{subset}/macro")
            elif subset == "vg_attribution":
                metrics[f"{subset}/macro"], kept = macro_accuracy(correct, groups, MIN_GROUP_ITEMS)
                metrics[f"{subset}/attribute_pairs_kept"] = len(kept)
                headline.append(f"{subset}/macro")
            else:
                metrics[f"{subset}/precision@1"] = metrics.pop(f"{subset}/micro")
                headline.append(f"{subset}/precision@1")
        metrics["mean"] = sum(metrics[name] for name in headline) / len(headline)
        return TaskResult(metrics, headline + ["mean"])
