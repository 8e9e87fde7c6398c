"""POPE (Li et al., EMNLP 2023): "Is there a <object> in the image?" for objects present and absent (hallucination).

Layout (the authors' question files and COCO val2014)::

    <root>/coco_pope_random.json  coco_pope_popular.json  coco_pope_adversarial.json
        # JSON lines (despite the extension): {"question_id", "image", "text", "label": "yes" | "no"}
    <root>/val2014/COCO_val2014_000000xxxxxx.jpg     (or <root>/images/...)

A JSON array with the same fields, or a ``.jsonl`` extension, is read too (the A-OKVQA / GQA variants).

Protocol, generative VLMs only (a dual encoder has no answer: the task is skipped for it, saying so):

* ``answer_mode="logprob"`` (default): the prompt is the question followed by ``answer_instruction`` ("Answer the
  question using a single word or phrase.", as LLaVA's POPE evaluation asks); the answer is "yes" when
  log P("Yes") > log P("No") as the first answer token (a tie is "no");
* ``answer_mode="generate"``: greedy generation of at most 16 tokens, parsed with the authors' rule (the text before
  the first ".", commas removed: "no" when a word is "No", "no" or "not", else "yes").

Metrics per split with "yes" as the positive class: accuracy, precision, recall, F1 and yes-ratio (and TP / FP /
TN / FN); each split has 3,000 questions on 500 images. ``mean/f1`` and ``mean/accuracy`` average the splits.
"""

from __future__ import annotations

import os

from ..items import QuestionItem
from ..metrics import parse_yes_no, yes_no_metrics
from ..scoring.base import NotApplicable
from .base import Task, TaskData, TaskResult
from .download import COCO_TERMS, COCO_VAL2014, Source, Sources
from .files import Annotations

SPLITS = ("random", "popular", "adversarial")
# The authors' question files at a fixed commit of github.com/RUCAIBox/POPE, and their SHA-256.
COMMIT = "3df3ba1b110ecce25696989577fad583b67d4239"
SHA256 = {"random": "ac25245170b975a5bdf9080b23fd431dfe6be458bc038259c1f4f09a6bef7994",
          "popular": "72c1a8ad45d0c13514f5f22598261df41d3b533854d29682e924db50ed8aa753",
          "adversarial": "420b3407db1fa9f1187a805dca41cb7b97fd91504e6c2179706188c107fb8ef8"}
ANSWER_INSTRUCTION = "Answer the question using a single word or phrase."
ANSWER_MODES = ("logprob", "generate")
LAYOUT = "<root>/coco_pope_{random,popular,adversarial}.json (JSON lines: question_id, image, text, label) and " \
         "<root>/val2014/"


class POPE(Task):
    name = "pope"
    folder = "pope"
    summary = "POPE: yes/no object-existence questions (random / popular / adversarial), generative VLMs"
    official_counts = {split: 3000 for split in SPLITS}
    primary_metric = "mean/f1"
    sources = Sources(
        licence=f"POPE question files: MIT (github.com/RUCAIBox/POPE); {COCO_TERMS}",
        files=(*(Source(f"https://raw.githubusercontent.com/RUCAIBox/POPE/{COMMIT}/output/coco/coco_pope_{split}.json",
                        f"coco_pope_{split}.json", SHA256[split]) for split in SPLITS), COCO_VAL2014),
    )
    protocol = {
        "metric": "accuracy, precision, recall, F1 (yes = positive), yes-ratio",
        "answer": "logprob: log P('Yes') > log P('No') as the first answer token after question + "
                  "answer_instruction; generate: greedy text parsed by the authors' rule",
        "ties": "logprob: a tie answers 'no'",
        "averaging": "per split over questions; mean over splits",
        "exclusions": "none; not applicable to dual encoders",
    }

    @classmethod
    def option_names(cls):
        return ("answer_mode", "answer_instruction", "yes", "no", "max_new_tokens")

    @classmethod
    def has_layout(cls, folder: str) -> bool:
        return any(os.path.isfile(os.path.join(folder, f"coco_pope_{split}{ext}")) for split in SPLITS
                   for ext in (".json", ".jsonl"))

    def load(self, data_dir=None) -> TaskData:
        root = self.root(data_dir)
        if root is None:
            raise self.missing_folder(data_dir, LAYOUT)
        subsets, files, notes, skipped = {}, {}, [], 0
        for split in SPLITS:
            candidates = [os.path.join(root, f"coco_pope_{split}{ext}") for ext in (".json", ".jsonl")]
            path = next((p for p in candidates if os.path.isfile(p)), None)
            if path is None:
                notes.append(f"coco_pope_{split}.json not found: split left out")
                continue
            ann = Annotations(self.name, path, (os.path.join(root, "val2014"), os.path.join(root, "images"), root),
                              self.missing_images)
            items = []
            for line, record in ann.json_lines():
                record = ann.mapping(f"line {line}", record)
                entry = record.get("question_id", f"line {line}")
                label = ann.text(entry, record, "label").strip().lower()
                if label not in ("yes", "no"):
                    raise ann.error(entry, "label", f"expected 'yes' or 'no', got {record['label']!r}")
                question = ann.text(entry, record, "text")
                image = ann.image(entry, "image", ann.text(entry, record, "image"))
                if image is not None:
                    items.append(QuestionItem(f"{split}/{entry}", image, question, label == "yes", split))
            subsets[split], files[path] = items, ann.sha256
            skipped += sum(ann.skipped.values())
        if not subsets:
            raise self.missing_folder(data_dir, LAYOUT)
        if skipped and not any(subsets.values()):
            raise self.nothing_left(root, skipped, f"{root}/val2014, {root}/images and {root}")
        return TaskData(self.name, subsets, root, files, {"image file not found": skipped} if skipped else {}, notes)

    def answers(self, scorer, items: list[QuestionItem]) -> list[bool]:
        """The model's yes (True) / no answer to each question."""
        if scorer.family != "generative":
            raise NotApplicable("POPE asks a generative VLM yes/no questions; a dual encoder gives no answer")
        mode = self.options.get("answer_mode") or "logprob"
        if mode not in ANSWER_MODES:
            raise ValueError(f"pope: answer_mode must be one of {ANSWER_MODES}, got {mode!r}")
        instruction = self.options.get("answer_instruction", ANSWER_INSTRUCTION)
        prompts = [(item.image, f"{item.question} {instruction}".strip()) for item in items]
        if mode == "generate":
            texts = scorer.generate_answers(prompts, int(self.options.get("max_new_tokens") or 16))
            return [parse_yes_no(text) for text in texts]
        scores = scorer.answer_scores(prompts, [self.options.get("yes") or "Yes", self.options.get("no") or "No"])
        return (scores[:, 0] > scores[:, 1]).tolist()

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        items = [item for split in data.subsets.values() for item in split]
        try:
            predicted = dict(zip((item.id for item in items), self.answers(scorer, items)))
        except NotApplicable as reason:
            return TaskResult(skipped=str(reason))
        metrics, headline = {}, []
        for split, members in data.subsets.items():
            values = yes_no_metrics([predicted[item.id] for item in members], [item.label for item in members])
            metrics.update({f"{split}/{name}": value for name, value in values.items()})
            metrics[f"{split}/count"] = len(members)
            headline += [f"{split}/accuracy", f"{split}/f1", f"{split}/yes_ratio"]
        for name in ("accuracy", "f1"):
            values = [metrics[f"{split}/{name}"] for split in data.subsets]
            metrics[f"mean/{name}"] = sum(values) / len(values)
        return TaskResult(metrics, headline + ["mean/f1"])
