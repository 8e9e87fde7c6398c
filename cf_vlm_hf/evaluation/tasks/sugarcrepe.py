"""SugarCrepe (Hsieh et al., NeurIPS 2023): one COCO image, its caption and a hard negative caption.

Layout (the authors' release; clip-benchmark's ``sugar_crepe`` reads the same)::

    <root>/add_att.json  add_obj.json  replace_att.json  replace_obj.json  replace_rel.json  swap_att.json
           swap_obj.json                      # {id: {"filename", "caption", "negative_caption"}}
    <root>/val2017/000000xxxxxx.jpg          # COCO 2017 val images

Protocol: an item is right when S(image, caption) > S(image, negative_caption), strictly (the authors' rule; a tie
is wrong). Accuracy per subset; for each group (add / replace / swap) and overall, the mean over its subsets
("macro") and the accuracy over its pooled items ("micro", the authors' aggregate; also ``overall``, the task's
primary metric). Subsets whose file is absent are left out, and the results say the item count differs from the
official 7,511. ``download=True`` fetches the authors' files and COCO val2017 (`Sources` below).
"""

from __future__ import annotations

import os

from ..items import ChoiceItem
from ..metrics import accuracy
from .base import Task, TaskData, TaskResult
from .choices import choice_results
from .download import COCO_TERMS, COCO_VAL2017, Source, Sources
from .files import Annotations

SUBSETS = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
OFFICIAL_COUNTS = {"add_att": 692, "add_obj": 2062, "replace_att": 788, "replace_obj": 1652, "replace_rel": 1406,
                   "swap_att": 666, "swap_obj": 245}
GROUPS = {"add": ("add_att", "add_obj"), "replace": ("replace_att", "replace_obj", "replace_rel"),
          "swap": ("swap_att", "swap_obj")}
# The authors' data/ files at a fixed commit of github.com/RAIVNLab/sugar-crepe, and their SHA-256.
COMMIT = "0047054b243992f0fad63d6f64f7544862daf846"
SHA256 = {"add_att": "012d88d729693d193760e6f3393b06a1cf874380a9db0062e937201199fe044d",
          "add_obj": "1b9d76b93139a937b8dc1ada92a4f05ecc821bb3c291d752428bafadd4bb0682",
          "replace_att": "9fe55fd4c0a9ad1f85d486d9f6d0215b41f867eb025026e7f7b5ce44352545ee",
          "replace_obj": "9d299600639947e9d15281a9ded1382b376cf4ea088a8d08a1314bfe76e81898",
          "replace_rel": "356bcc2fc4c6aed3f4d9fd50acc58489bb1fe70c28791f9368d4cbf9ea39cdc9",
          "swap_att": "7a7ce04e5c4c80412b48c6f0c1347fb1a2f5d54c0be6aa429b64d390e442f8d0",
          "swap_obj": "073cdb8e253d053614e80710834d9773b09dbc1dd0a412f6f9492262caa1dcad"}
LAYOUT = ("<root>/<subset>.json ({id: {filename, caption, negative_caption}}) for the 7 subsets, images in "
          "<root>/val2017/")


class SugarCrepe(Task):
    name = "sugarcrepe"
    folder = "sugarcrepe"
    summary = "SugarCrepe: caption vs hard negative caption, 7 subsets (add / replace / swap)"
    official_counts = OFFICIAL_COUNTS
    primary_metric = "overall"
    sources = Sources(
        licence=f"SugarCrepe annotations: MIT (github.com/RAIVNLab/sugar-crepe); {COCO_TERMS}",
        files=(*(Source(f"https://raw.githubusercontent.com/RAIVNLab/sugar-crepe/{COMMIT}/data/{subset}.json",
                        f"{subset}.json", SHA256[subset]) for subset in SUBSETS), COCO_VAL2017),
    )
    protocol = {
        "metric": "accuracy: S(image, caption) > S(image, negative_caption)",
        "ties": "strict (a tie is wrong), as the authors' main_eval.py",
        "averaging": "per subset; group and overall 'macro' = mean of subset accuracies, 'micro' = pooled items "
                     "(the authors' aggregate)",
        "exclusions": "none",
    }

    @classmethod
    def option_names(cls):
        return ("ties",)

    @classmethod
    def has_layout(cls, folder: str) -> bool:
        return any(os.path.isfile(os.path.join(folder, f"{subset}.json")) for subset in SUBSETS)

    def load(self, data_dir=None) -> TaskData:
        root = self.root(data_dir)
        if root is None:
            raise self.missing_folder(data_dir, LAYOUT)
        subsets, files, skipped, notes = {}, {}, 0, []
        for subset in SUBSETS:
            path = os.path.join(root, f"{subset}.json")
            if not os.path.isfile(path):
                notes.append(f"{subset}.json not found: subset left out")
                continue
            ann = Annotations(self.name, path, (os.path.join(root, "val2017"),), self.missing_images)
            content = ann.json()
            if not isinstance(content, dict):
                raise ValueError(f"{self.name}: {path}: expected an object {{id: entry}}, got {type(content).__name__}")
            items = []
            for entry_id, entry in content.items():
                entry = ann.mapping(entry_id, entry)
                caption, negative = ann.text(entry_id, entry, "caption"), ann.text(entry_id, entry, "negative_caption")
                image = ann.image(entry_id, "filename", ann.text(entry_id, entry, "filename"))
                if image is not None:
                    items.append(ChoiceItem(f"{subset}/{entry_id}", image, (caption, negative), 0, subset))
            subsets[subset], files[path] = items, ann.sha256
            skipped += sum(ann.skipped.values())
        if not subsets:
            raise FileNotFoundError(f"{self.name}: none of {', '.join(s + '.json' for s in SUBSETS)} in {root}")
        if skipped and not any(subsets.values()):
            raise self.nothing_left(root, skipped, os.path.join(root, "val2017"))
        exclusions = {"image file not found": skipped} if skipped else {}
        return TaskData(self.name, subsets, root, files, exclusions, notes)

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        ties = self.options.get("ties") or "strict"
        items = [item for subset in data.subsets.values() for item in subset]
        correct = dict(zip((item.id for item in items), choice_results(scorer, items, ties)))
        per_subset = {s: [correct[item.id] for item in data.subsets[s]] for s in data.subsets}
        metrics = {f"{s}/accuracy": accuracy(v) for s, v in per_subset.items()}
        metrics.update({f"{s}/count": len(v) for s, v in per_subset.items()})
        for group, members in (*GROUPS.items(), ("overall", SUBSETS)):
            present = [s for s in members if s in per_subset]
            if present:
                metrics[f"{group}/macro"] = sum(metrics[f"{s}/accuracy"] for s in present) / len(present)
                metrics[f"{group}/micro"] = accuracy([ok for s in present for ok in per_subset[s]])
        metrics["overall"] = metrics["overall/micro"]  # the primary metric: the authors' aggregate
        headline = [f"{s}/accuracy" for s in SUBSETS if s in per_subset]
        headline += [f"{g}/macro" for g in (*GROUPS, "overall") if f"{g}/macro" in metrics] + ["overall/micro"]
        return TaskResult(metrics, headline)
