"""ConMe (Huang et al., NeurIPS 2024 D&B): two-way multiple-choice questions with VLM-mined hard negatives.

Layout (the Hub repository ``conme/ConMe``, a *model* repository: ``git clone https://huggingface.co/conme/ConMe``)::

    <root>/replace-att.csv  replace-obj.csv  replace-rel.csv   (+ the *_HUMAN_FILTER.csv variants)
    <root>/images/<image>                                    # COCO-named jpgs

Each CSV file is a subset (its name without ``.csv``). A row needs ``image`` and the question in one of these forms:

* ``question`` holding the lettered options ("A. ...", "B. ..." or "(A) ...", one per line) and ``answer``
  (the letter, "A" / "(A)" / "A." / the option's text);
* ``question`` + ``text_options`` (a list "['A. ...', 'B. ...']" or lines "A. ...\\nB. ...") and ``answer``;
* the authors' pipeline columns ``orig_pos`` (true caption) and ``new_neg`` (the mined negative): the two are put in
  A/B order by a seeded draw per row and the question is "Which caption describes the image?" with the options.

Protocol:

* generative VLMs: the question (options included) followed by ``answer_instruction`` ("Answer with the option's
  letter from the given choices directly.") is the prompt; the model's answer is the letter whose token is the most
  probable first answer token; right when it is the answer's letter (strictly more probable than every other).
* dual encoders (the protocol we state for them, ConMe being a VQA benchmark): the answer is the option whose text
  has the highest S(image, option text); right when the right option's S is strictly highest.

Accuracy per subset and the mean over subsets. ConMe has no item counts we could verify: the results give ours.
No local folder: ``huggingface_hub.snapshot_download("conme/ConMe")`` when online, else one line says what to do.
"""

from __future__ import annotations

import ast
import glob
import os
import re

import numpy as np

from ..items import MultipleChoiceItem
from ..metrics import accuracy, choice_correct
from .base import Task, TaskData, TaskResult
from .download import Sources, announce
from .files import Annotations

ANSWER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
OPTION_LINE = re.compile(r"^\s*\(?([A-Z])[.):]\s*(.+?)\s*$")
LAYOUT = "<root>/<subset>.csv (image, question with lettered options, answer) and <root>/images/"


def parse_options(text: str) -> list[tuple[str, str]]:
    """[(letter, option text)] of lines "A. ..." / "(A) ..." / "A) ..." in ``text``, in order."""
    return [(m.group(1), m.group(2)) for m in (OPTION_LINE.match(line) for line in text.splitlines()) if m]


def _options_from_field(value: str) -> list[tuple[str, str]]:
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = None
    if isinstance(parsed, (list, tuple)):
        return parse_options("\n".join(str(v) for v in parsed))
    return parse_options(value)


class ConMe(Task):
    name = "conme"
    folder = "conme"
    summary = "ConMe: two-way multiple-choice compositional questions (letter answers / option scores)"
    hub_id = "conme/ConMe"
    primary_metric = "mean"
    sources = Sources(
        licence="ConMe: the terms on its Hub repository's card (https://huggingface.co/conme/ConMe); its images come "
                "from the benchmarks it re-uses (COCO: Flickr terms of use)",
        hub="conme/ConMe",
    )
    protocol = {
        "metric": "accuracy; generative: most probable first answer token among the option letters after the "
                  "question + answer_instruction; dual encoder: option text with the highest S(image, option)",
        "ties": "strict (a tie is wrong)",
        "averaging": "per subset (CSV file); mean over subsets",
        "exclusions": "none",
    }

    @classmethod
    def option_names(cls):
        return ("answer_instruction", "seed")

    @classmethod
    def has_layout(cls, folder: str) -> bool:
        return bool(glob.glob(os.path.join(folder, "*.csv")))

    def load(self, data_dir=None) -> TaskData:
        root = self.root(data_dir)
        if root is None:
            root = self._download(data_dir)
        paths = sorted(glob.glob(os.path.join(root, "*.csv")))
        if not paths:
            raise self.missing_folder(data_dir, LAYOUT)
        subsets, files, skipped = {}, {}, 0
        for path in paths:
            subset = os.path.splitext(os.path.basename(path))[0]
            ann = Annotations(self.name, path, (os.path.join(root, "images"), root), self.missing_images)
            rows = ann.csv_rows(("image",))
            items = [item for index, row in enumerate(rows) if (item := self._item(ann, subset, index, row))]
            subsets[subset], files[path] = items, ann.sha256
            skipped += sum(ann.skipped.values())
        return TaskData(self.name, subsets, root, files, {"image file not found": skipped} if skipped else {})

    def _item(self, ann: Annotations, subset: str, index: int, row: dict) -> MultipleChoiceItem | None:
        entry = row.get("id") or index
        if row.get("orig_pos") and row.get("new_neg"):
            true, negative = ann.text(entry, row, "orig_pos"), ann.text(entry, row, "new_neg")
            rng = np.random.default_rng([self.options.get("seed", 0), index])
            texts = [true, negative] if rng.random() < 0.5 else [negative, true]
            letters = ["A", "B"]
            question = "Which caption describes the image?\n" + "\n".join(f"{k}. {t}" for k, t in zip(letters, texts))
            answer = texts.index(true)
        else:
            question = ann.text(entry, row, "question")
            options = _options_from_field(row["text_options"]) if row.get("text_options") else parse_options(question)
            if len(options) < 2:
                field = "text_options" if row.get("text_options") else "question"
                raise ann.error(entry, field, "expected at least two lettered options ('A. ...', 'B. ...')")
            letters, texts = [letter for letter, _ in options], [text for _, text in options]
            if row.get("text_options") and not parse_options(question):
                question = question.rstrip() + "\n" + "\n".join(f"{k}. {t}" for k, t in options)
            raw = ann.text(entry, row, "answer").strip()
            letter = raw.strip("().: ").upper()
            if letter in letters:
                answer = letters.index(letter)
            elif raw in texts:
                answer = texts.index(raw)
            else:
                raise ann.error(entry, "answer", f"{raw!r} is none of the option letters {letters} or texts")
        image = ann.image(entry, "image", ann.text(entry, row, "image"))
        if image is None:
            return None
        return MultipleChoiceItem(f"{subset}/{entry}", image, question, tuple(texts), tuple(letters), answer, subset)

    def _download(self, data_dir) -> str:
        """The Hub repository (a *model* repository), into the benchmark cache with ``download=True``."""
        if self.download:
            announce(self.name, self.sources, self.cache_folder())
        try:
            from huggingface_hub import snapshot_download

            if self.download:
                return snapshot_download(self.hub_id, repo_type="model", local_dir=self.cache_folder(),
                                         force_download=self.force_download)
            return snapshot_download(self.hub_id, repo_type="model")
        except Exception as err:
            where = os.path.join(data_dir, self.folder) if data_dir else "--data-dir DIR/conme"
            raise FileNotFoundError(
                f"{self.name}: no local folder ({where}) and the Hub repository {self.hub_id} could not be read "
                f"({type(err).__name__}); clone it there: git clone https://huggingface.co/{self.hub_id}"
            ) from err

    def evaluate(self, scorer, data: TaskData) -> TaskResult:
        items = [item for subset in data.subsets.values() for item in subset]
        if scorer.family == "generative":
            instruction = self.options.get("answer_instruction", ANSWER_INSTRUCTION)
            letters = sorted({letter for item in items for letter in item.letters})
            prompts = [(item.image, f"{item.question.rstrip()}\n{instruction}" if instruction else item.question)
                       for item in items]
            table = scorer.answer_scores(prompts, letters).double()
            scores = [[table[n, letters.index(letter)] for letter in item.letters] for n, item in enumerate(items)]
        else:
            flat = scorer.score_pairs([(item.image, text) for item in items for text in item.options]).double()
            scores, start = [], 0
            for item in items:
                scores.append(flat[start : start + len(item.options)].tolist())
                start += len(item.options)
        correct = {}
        for item, row in zip(items, scores):
            correct[item.id] = bool(choice_correct([list(map(float, row))], [item.answer])[0])
        metrics = {}
        for subset, members in data.subsets.items():
            metrics[f"{subset}/accuracy"] = accuracy([correct[item.id] for item in members])
            metrics[f"{subset}/count"] = len(members)
        subset_values = [metrics[f"{s}/accuracy"] for s in data.subsets]
        metrics["mean"] = sum(subset_values) / len(subset_values)
        return TaskResult(metrics, [f"{s}/accuracy" for s in data.subsets] + ["mean"])
