"""`LLMEditor`: caption rewrites from any `transformers` chat model, through its chat template.

For each caption the editor asks for K rewrites, each making one change of a named edit type (the types are drawn
with the row's seed), with a few worked examples before the question (the paper prompted Qwen2-72B-Instruct
few-shot). The reply is parsed line by line (`parse_rewrites`) and each rewrite is checked (`check_rewrite`): a
rewrite that repeats the caption or another rewrite, or changes more words than one element takes, is rejected.
The rejected ones are asked for again in the same conversation, saying what was wrong, at most ``max_retries``
times; what is still missing is reported in the caption's `EditResult`. Each accepted rewrite records the edit
type it was asked for and the span it changed.

The model call is any ``conversations -> replies`` function: `ChatModel` (batched ``generate`` with left padding)
for a checkpoint, or a stand-in in tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..seeding import sub_seed
from .edit import EDIT_TYPE_DESCRIPTIONS, EDIT_TYPES, CaptionEdit, EditResult
from .rules import DEFAULT_LEXICON
from .words import changed_words, normalized, words

SYSTEM_PROMPT = (
    "You write counterfactual image captions. Given a caption and a list of changes, you rewrite the caption once "
    "per change. Each rewrite makes exactly that one change, so that it describes a different picture, and keeps "
    "every other word of the caption as it is. Answer with the numbered rewrites only, one per line."
)
# Worked examples shown before each question (ours; replace them with `examples=` for another domain).
FEW_SHOT = (
    ("a brown dog sitting on a red sofa", ("color", "relation", "count"),
     ("a black dog sitting on a red sofa", "a brown dog sitting under a red sofa",
      "two brown dogs sitting on a red sofa")),
    ("a woman holding an umbrella next to a bus", ("object", "action", "negation"),
     ("a woman holding an umbrella next to a truck", "a woman opening an umbrella next to a bus",
      "a woman not holding an umbrella next to a bus")),
    ("a small boy in a blue shirt and a tall man in a white shirt", ("binding", "size"),
     ("a small boy in a white shirt and a tall man in a blue shirt",
      "a small boy in a blue shirt and a short man in a white shirt")),
)
_NUMBERED = re.compile(r"^\s*(?:rewrite\s*)?(\d+)\s*[.):\-]\s*(.*?)\s*$", re.IGNORECASE)
_QUOTES = "\"'“”‘’`"
# Region-less edit types: their masks cannot come from one phrase.
_NO_REGION = ("relation", "negation", "binding")


def question(caption: str, edit_types: Sequence[str], numbers: Sequence[int] | None = None) -> str:
    """The user turn asking for one rewrite of ``caption`` per edit type."""
    numbers = list(numbers or range(1, len(edit_types) + 1))
    changes = "\n".join(f"{n}. {t}: {EDIT_TYPE_DESCRIPTIONS[t]}" for n, t in zip(numbers, edit_types))
    return (f'Caption: "{caption}"\nWrite {len(edit_types)} rewrite(s), numbered as the changes below; rewrite i '
            f"makes only change i:\n{changes}")


def build_conversation(caption: str, edit_types: Sequence[str], examples=FEW_SHOT) -> list[dict[str, str]]:
    """System prompt, the worked examples as earlier turns, then the question for ``caption``."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for example, types, rewrites in examples:
        messages.append({"role": "user", "content": question(example, types)})
        messages.append({"role": "assistant", "content": "\n".join(f"{n}. {r}" for n, r in enumerate(rewrites, 1))})
    messages.append({"role": "user", "content": question(caption, edit_types)})
    return messages


def parse_rewrites(reply: str, numbers: Sequence[int], edit_types: Sequence[str] = ()) -> dict[int, str]:
    """The rewrites of a reply, by number: lines like ``2. a cat on a mat`` (also ``2)``, ``Rewrite 2:``).

    Quotes around a rewrite and an echoed ``type:`` prefix are removed. A reply without numbers whose non-empty
    lines are exactly as many as ``numbers`` is read in order. Numbers not asked for are ignored.
    """
    wanted = list(numbers)
    found: dict[int, str] = {}
    lines = [line for line in reply.replace("\r", "").split("\n") if line.strip()]
    for line in lines:
        match = _NUMBERED.match(line)
        if match and int(match.group(1)) in wanted and int(match.group(1)) not in found:
            found[int(match.group(1))] = match.group(2)
    if not found and len(lines) == len(wanted):
        found = dict(zip(wanted, (line.strip() for line in lines)))
    cleaned = {}
    for number, text in found.items():
        text = text.strip().strip(_QUOTES).strip()
        for edit_type in edit_types:
            if text.lower().startswith(edit_type + ":"):
                text = text[len(edit_type) + 1 :].strip().strip(_QUOTES).strip()
        cleaned[number] = text
    return cleaned


def check_rewrite(source: str, rewrite: str | None, others: Sequence[str] = (),
                  max_changed_words: int = 3) -> str | None:
    """Why ``rewrite`` cannot be used as a one-element edit of ``source`` (None when it can)."""
    if rewrite is None:
        return "missing from the reply"
    if not words(rewrite):
        return "is empty"
    if normalized(rewrite) == normalized(source):
        return "repeats the caption"
    if any(normalized(rewrite) == normalized(other) for other in others):
        return "repeats another rewrite"
    changed = changed_words(source, rewrite)
    if changed > max_changed_words:
        return f"changes {changed} words (one element is at most {max_changed_words})"
    return None


def _region(edit: CaptionEdit) -> str | None:
    """The phrase of the source that the edit changes in the image (extended to its noun), for masks."""
    if edit.edit_type in _NO_REGION or not edit.old:
        return None
    ws = words(edit.source)
    inside = [i for i, w in enumerate(ws) if w.start >= edit.start and w.end <= edit.end]
    if not inside:
        return None
    noun = DEFAULT_LEXICON.noun_after(ws, inside[-1]) if DEFAULT_LEXICON.is_adjective(ws[inside[-1]].lower) else None
    end = noun.end if noun is not None else ws[inside[-1]].end
    return edit.source[ws[inside[0]].start : end]


class LLMEditor:
    """Caption edits written by a chat model: K rewrites per caption, one asked-for edit type each.

    Args:
        chat: ``list of conversations -> list of reply strings`` (e.g. a `ChatModel`).
        edit_types: the types to ask for; each caption's seed draws K of them (all different while K allows).
        examples: the few-shot examples, ``(caption, types, rewrites)`` triples.
        max_retries: how many times rejected rewrites are asked for again.
        max_changed_words: a rewrite changing more words than this changes more than one element.
        name: what the dataset card calls the editor.
    """

    def __init__(self, chat: Callable[[list[list[dict]]], list[str]], edit_types: Sequence[str] | None = None,
                 examples=FEW_SHOT, max_retries: int = 2, max_changed_words: int = 3, name: str = "llm"):
        edit_types = tuple(edit_types) if edit_types is not None else EDIT_TYPES
        unknown = [t for t in edit_types if t not in EDIT_TYPE_DESCRIPTIONS]
        if unknown or not edit_types:
            raise ValueError(f"unknown edit type(s) {unknown}; choose from {list(EDIT_TYPE_DESCRIPTIONS)}")
        if max_retries < 0 or max_changed_words < 1:
            raise ValueError("max_retries must be >= 0 and max_changed_words >= 1")
        self.chat, self.edit_types, self.examples = chat, edit_types, examples
        self.max_retries, self.max_changed_words, self.name = max_retries, max_changed_words, name

    @classmethod
    def from_pretrained(cls, model_name_or_path: str, edit_types=None, max_retries: int = 2,
                        max_changed_words: int = 3, **chat_kwargs) -> LLMEditor:
        """An editor over the chat model at ``model_name_or_path`` (``chat_kwargs`` go to `ChatModel`)."""
        from .chat import ChatModel

        return cls(ChatModel.from_pretrained(model_name_or_path, **chat_kwargs), edit_types=edit_types,
                   max_retries=max_retries, max_changed_words=max_changed_words, name=f"llm:{model_name_or_path}")

    def requested_types(self, num_edits: int, seed: int) -> list[str]:
        """The edit types asked for, in order: the seed's permutation of ``edit_types``, repeated if K is larger."""
        order = [self.edit_types[i] for i in np.random.default_rng(sub_seed(seed, "llm-types")).permutation(
            len(self.edit_types))]
        return [order[i % len(order)] for i in range(num_edits)]

    def edit(self, caption: str, num_edits: int, seed: int) -> EditResult:
        return self.edit_batch([caption], num_edits, [seed])[0]

    def edit_batch(self, captions: Sequence[str], num_edits: int, seeds: Sequence[int]) -> list[EditResult]:
        """At most ``num_edits`` checked rewrites of each caption; one model call per round for the whole batch."""
        if len(captions) != len(seeds):
            raise ValueError(f"{len(captions)} captions but {len(seeds)} seeds")
        states = []
        for caption, seed in zip(captions, seeds):
            types = self.requested_types(num_edits, seed) if caption and caption.strip() else []
            states.append(dict(caption=caption, types=types, accepted={}, rejected=[], last_problem={},
                               conversation=build_conversation(caption, types, self.examples)))
        pending = [i for i, s in enumerate(states) if s["types"]]
        for attempt in range(1 + self.max_retries):
            if not pending:
                break
            torch.manual_seed(sub_seed(seeds[pending[0]], "llm-sampling", attempt))  # only matters when sampling
            replies = self.chat([states[i]["conversation"] for i in pending])
            retry = []
            for i, reply in zip(pending, replies):
                if self._read_reply(states[i], reply) and attempt < self.max_retries:
                    retry.append(i)
            pending = retry
        return [self._result(state) for state in states]

    def _read_reply(self, state: dict, reply: str) -> bool:
        """Accept the good rewrites of ``reply``; add a follow-up turn for the others. True if any is missing."""
        missing = [n for n in range(1, len(state["types"]) + 1) if n not in state["accepted"]]
        types = [state["types"][n - 1] for n in missing]
        found = parse_rewrites(reply, missing, types)
        problems = []
        for n in missing:
            others = [t for m, t in state["accepted"].items() if m != n]
            why = check_rewrite(state["caption"], found.get(n), others, self.max_changed_words)
            if why is None:
                state["accepted"][n] = found[n]
            else:
                problems.append((n, why))
                state["last_problem"][n] = f"rewrite {n} ({state['types'][n - 1]}) {why}"
                state["rejected"].append((found.get(n) or "", state["last_problem"][n]))
        if problems:
            numbers = ", ".join(str(n) for n, _ in problems)
            feedback = "; ".join(f"{n} {why}" for n, why in problems)
            state["conversation"] = state["conversation"] + [
                {"role": "assistant", "content": reply},
                {"role": "user", "content": f"Rewrite(s) {numbers} cannot be used: {feedback}. Write them again.\n"
                 + question(state["caption"], [state["types"][n - 1] for n, _ in problems],
                            [n for n, _ in problems])},
            ]
        return bool(problems)

    def _result(self, state: dict) -> EditResult:
        edits = []
        for n in sorted(state["accepted"]):
            edit = CaptionEdit.between(state["caption"], state["accepted"][n], state["types"][n - 1])
            edits.append(CaptionEdit.between(edit.source, edit.caption, edit.edit_type, target=_region(edit)))
        reason = None
        if not state["types"]:
            reason = "the caption is empty" if not (state["caption"] or "").strip() else None
        elif len(edits) < len(state["types"]):
            lost = [n for n in range(1, len(state["types"]) + 1) if n not in state["accepted"]]
            reason = (f"{len(lost)} of {len(state['types'])} rewrite(s) still unusable after {1 + self.max_retries} "
                      "attempt(s): " + "; ".join(state["last_problem"][n] for n in lost))
        return EditResult(state["caption"], edits, reason, rejected=list(state["rejected"]))
