"""Our corpus suite: ``shapes-world`` (generated test and held-out splits) and ``corpus`` (any counterfactual corpus).

The suite of `cf_vlm_hf.evaluation.evaluate_counterfactual_split`, per split: for every minimal edit, image-side
S(I, T) > S(E, T) and (with an edit caption) text-side S(I, T) > S(I, T_E) accuracy per edit type, their
unweighted means over edit types, Winoground-style scores for binding and relation edits, and factual image->text
recall@1 over the split's distinct captions.

Dual encoders go through ``evaluate_counterfactual_split`` itself, so the numbers are those ``cf-vlm eval
--dataset`` and the demo have always printed; other scorers (generative VLMs) through :func:`counterfactual_suite`,
the same definitions over pair scores.
"""

from __future__ import annotations

import os
from collections import defaultdict

import torch

from ..counterfactual import WINOGROUND_TYPES, evaluate_counterfactual_split, record_edit, summarize_wins
from ..items import ImageRef
from ..scoring import DualEncoderPairScorer
from .base import Task, TaskData, TaskResult

HEADLINE = ("recall@1", "mean_image_side", "mean_text_side")


def counterfactual_suite(scorer, rows, name: str = "corpus", winoground_types=WINOGROUND_TYPES) -> dict:
    """`evaluate_counterfactual_split`'s metrics for any pair scorer (one ``score_pairs`` call for the split)."""
    from ...data import check_row

    rows = [check_row(rows[i], i) for i in range(len(rows))]
    refs = [ImageRef.from_image(f"{name}/{i}/image", row["image"]) for i, row in enumerate(rows)]
    pairs, plan = [], []
    for i, row in enumerate(rows):
        anchor = len(pairs)
        pairs.append((refs[i], row["caption"]))
        for j, kind in enumerate(row["edit_types"]):
            edit = ImageRef.from_image(f"{name}/{i}/edit/{j}", row["edit_images"][j])
            entry = {"kind": kind, "anchor": anchor, "edit_anchor_text": len(pairs)}
            pairs.append((edit, row["caption"]))
            if row.get("edit_captions"):
                entry["anchor_edit_text"], entry["edit_edit_text"] = len(pairs), len(pairs) + 1
                pairs += [(refs[i], row["edit_captions"][j]), (edit, row["edit_captions"][j])]
            plan.append(entry)
    distinct = sorted({row["caption"] for row in rows})
    scores = scorer.score_pairs(pairs).double().tolist()
    wins = defaultdict(list)
    for entry in plan:
        text_scores = ((scores[entry["anchor_edit_text"]], scores[entry["edit_edit_text"]])
                       if "anchor_edit_text" in entry else (None, None))
        record_edit(wins, entry["kind"], scores[entry["anchor"]], scores[entry["edit_anchor_text"]], *text_scores,
                    winoground_types=winoground_types)
    results = summarize_wins(wins)
    if rows:
        matrix = scorer.score_matrix(refs, distinct)
        truth = torch.tensor([distinct.index(row["caption"]) for row in rows])
        results["recall@1"] = float((matrix.argmax(dim=1) == truth).double().mean())
    return results


class _CounterfactualSuite(Task):
    """The suite over the splits ``_splits`` returns."""

    protocol = {
        "metric": "minimal-edit accuracy (image side S(I,T) > S(E,T), text side S(I,T) > S(I,T_E)) per edit type, "
                  "Winoground-style scores for binding / relation edits, image->text recall@1 over distinct captions",
        "ties": "strict (a tie is wrong); recall@1: argmax, first caption in sorted order wins a tie",
        "averaging": "per edit type over edits; mean_image_side / mean_text_side: unweighted mean over edit types",
        "exclusions": "none",
    }

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        metrics = {}
        for split, rows in data.subsets.items():
            if isinstance(scorer, DualEncoderPairScorer):
                scores = evaluate_counterfactual_split(scorer.model, scorer.processor, rows,
                                                       batch_size=scorer.batch_size, padding=scorer.padding,
                                                       progress=scorer.progress, description=f"evaluating {split}")
            else:
                scores = counterfactual_suite(scorer, rows, name=f"{self.name}/{split}")
            metrics.update({f"{split}/{k}": v for k, v in scores.items()})
        headline = [f"{split}/{name}" for split in data.subsets for name in HEADLINE if f"{split}/{name}" in metrics]
        return TaskResult(metrics, headline)


class ShapesWorld(_CounterfactualSuite):
    name = "shapes-world"
    folder = "shapes-world"
    summary = "our shapes-world suite: generated 'test' and 'heldout' splits, minimal edits of 7 types"

    @classmethod
    def option_names(cls):
        return ("num_anchors", "seed", "image_size", "splits")

    def load(self, data_dir=None) -> TaskData:
        from ...data.shapes_world import ShapesWorldSpec, shapes_world_dataset

        spec = ShapesWorldSpec(image_size=int(self.options.get("image_size") or 64))
        splits = self.options.get("splits") or ("test", "heldout")
        splits = splits.split(",") if isinstance(splits, str) else splits
        anchors, seed = int(self.options.get("num_anchors") or 200), int(self.options.get("seed") or 0)
        subsets = {split: shapes_world_dataset(anchors, split, seed, spec) for split in splits}
        source = f"shapes-world generator (seed {seed}, {anchors} anchors per split, image size {spec.image_size})"
        return TaskData(self.name, subsets, source)


class Corpus(_CounterfactualSuite):
    name = "corpus"
    folder = "corpus"
    summary = "our suite on a counterfactual corpus (folder, parquet, JSONL, Hub id): --dataset SOURCE"

    @classmethod
    def option_names(cls):
        return ("split",)

    def load(self, data_dir=None) -> TaskData:
        from datasets import DatasetDict

        from ...data import load_counterfactual_dataset

        source = os.path.expanduser(self.path) if self.path else None  # a local path or a Hub id
        if source is None and data_dir and os.path.exists(os.path.join(os.path.expanduser(data_dir), self.folder)):
            source = os.path.join(os.path.expanduser(data_dir), self.folder)
        if not source:
            raise ValueError("corpus: name the corpus (--dataset SOURCE, or --task corpus=SOURCE)")
        split = self.options.get("split")
        loaded = load_counterfactual_dataset(source, split=split)
        subsets = dict(loaded) if isinstance(loaded, DatasetDict) else {split or str(loaded.split or "train"): loaded}
        return TaskData(self.name, subsets, str(source), local_data_files(str(source)))


def local_data_files(source: str) -> dict[str, str]:
    """sha256 of a local corpus's data files (none for a Hub id)."""
    from .files import sha256_file

    if os.path.isfile(source):
        return {os.path.abspath(source): sha256_file(source)}
    if not os.path.isdir(source):
        return {}
    found = {}
    for folder, _, names in os.walk(source):
        for name in sorted(names):
            if name.endswith((".parquet", ".jsonl", ".json", ".arrow")):
                path = os.path.join(folder, name)
                found[os.path.abspath(path)] = sha256_file(path)
    return found
