"""`GenerativeCollator`: corpus rows -> prompt+target token sequences for a generative VLM.

A generative VLM scores an (image, caption) pair with one sequence: the model's own prompt (chat template) holding
the image, followed by a *target* whose log-probability is the score:

* ``"caption-likelihood"``: prompt = user turn [image, ``caption_prompt``], target = the caption;
* ``"yes-probability"``: prompt = user turn [image, ``yes_question`` with the caption], target = ``yes_answer``
  (the scorer reads only its first token).

Sequences of a batch of B rows (row b: K_b counterfactual pairs, M_b minimal edits, after the caps), in order:

1. the B anchors (I, T);
2. every kept counterfactual pair (I'_k, T'_k);
3. every kept minimal edit (E_j, T);
4. with ``scenario_pairing`` "cross" or "symmetric": every (I, T'_k) and every (I'_k, T);
5. with ``"yes-probability"`` and ``alignment=True``: the B anchors again as caption sequences (L_align's NLL).

The batch is ``{"chunks": [model inputs + "labels", ...], <index tensors>}``. Each chunk holds at most
``max_sequences_per_forward`` sequences in this order, goes through ONE processor call (one padding, on the right)
and is ONE model forward. ``labels`` (n, L) hold the target's token ids at the target positions and -100 everywhere
else (prompt, image tokens, padding). Index tensors point into the concatenated sequences:
``cf_index``, ``cf_mask``, ``anchor_image_cf_text_index``, ``cf_image_anchor_text_index`` (B, K);
``edit_index``, ``edit_mask`` (B, M); ``align_index`` (B,). Anchor b is sequence b.

Images: within a chunk, each distinct image (the same object, e.g. the anchor image of the anchor and cross
sequences) goes through the image processor once; the processor's outputs are then repeated per sequence. The model
forward still encodes the image once per sequence that holds it.

Length: sequences are never truncated (a cut would drop caption tokens or image tokens and misalign the labels);
a sequence longer than ``max_length`` raises a ValueError naming the row and the caption.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .data.rows import check_row

GENERATIVE_SCORES = ("caption-likelihood", "yes-probability")
GENERATIVE_INDEX_KEYS = frozenset(
    {"cf_index", "cf_mask", "anchor_image_cf_text_index", "cf_image_anchor_text_index", "edit_index", "edit_mask",
     "align_index"}
)
DEFAULT_CAPTION_PROMPT = "Describe the image."
DEFAULT_YES_QUESTION = 'Does this image show "{caption}"? Answer yes or no.'
_SENTINEL = "\u2063CFVLMTARGET\u2063"


def accepts_suffix(processor) -> bool:
    """Whether the processor encodes an answer through ``suffix=`` (PaliGemma's prefix-LM format)."""
    return "suffix" in inspect.signature(type(processor).__call__).parameters


class _OnceEachImage:
    """Wraps an image processor so that each distinct image (by identity) of one call is processed once.

    The outputs are repeated back to one entry per input image, in order, so the processor's own placeholder
    expansion and the model see exactly what an undeduplicated call would give. ``count`` accumulates the number
    of images actually processed.
    """

    def __init__(self, inner):
        self.inner = inner
        self.count = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, images, *args, **kwargs):
        nested = isinstance(images, (list, tuple)) and all(isinstance(i, (list, tuple)) for i in images)
        flat = [i[0] for i in images] if nested and all(len(i) == 1 for i in images) else None
        if flat is None and isinstance(images, (list, tuple)) and not nested:
            flat = list(images)
        if flat is None:  # several images per sequence: no deduplication
            self.count += sum(len(i) for i in images) if nested else 1
            return self.inner(images, *args, **kwargs)
        position: dict[int, int] = {}
        distinct, index = [], []
        for image in flat:
            if id(image) not in position:
                position[id(image)] = len(distinct)
                distinct.append(image)
            index.append(position[id(image)])
        out = self.inner([[d] for d in distinct] if nested else distinct, *args, **kwargs)
        self.count += len(distinct)
        if len(distinct) == len(flat):
            return out
        try:
            return _repeat_image_outputs(out, index, len(distinct))
        except _CannotRepeat:  # an output layout we do not know: process every image after all
            self.count += len(flat)
            return self.inner(images, *args, **kwargs)


class _CannotRepeat(Exception):
    """An image-processor output whose per-image layout is unknown."""


def _repeat_image_outputs(out, index: list[int], num_distinct: int):
    """Image-processor outputs for ``num_distinct`` images -> outputs for the images ``index`` points at."""
    data = dict(out)
    repeated = {}
    grid = data.get("image_grid_thw")
    for key, value in data.items():
        if grid is not None and key == "pixel_values":
            # Qwen-style: the patches of all images are concatenated along dim 0; image i has prod(grid[i]) of them.
            sizes = [int(np.prod(np.asarray(g))) for g in grid]
            parts = list(torch.split(torch.as_tensor(value), sizes)) if sizes else []
            repeated[key] = _cat([parts[i] for i in index], value)
        elif isinstance(value, (torch.Tensor, np.ndarray)) and value.shape[:1] == (num_distinct,):
            repeated[key] = value[torch.as_tensor(index)] if isinstance(value, torch.Tensor) else value[index]
        elif isinstance(value, (list, tuple)) and len(value) == num_distinct:
            repeated[key] = [value[i] for i in index]
        else:
            raise _CannotRepeat(key)
    return type(out)(repeated) if hasattr(out, "convert_to_tensors") else repeated


def _cat(parts, like):
    if isinstance(like, np.ndarray):
        return np.concatenate([p.numpy() for p in parts])
    return torch.cat(parts)


class GenerativeCollator:
    """Collate counterfactual corpus rows into prompt+target sequences for a generative VLM.

    Args:
        processor: the model's processor (LlavaProcessor, Qwen2VLProcessor, PaliGemmaProcessor, ...). It needs a
            chat template, or a ``suffix`` argument (PaliGemma).
        score: "caption-likelihood" or "yes-probability".
        caption_prompt: user text of the caption-likelihood prompt.
        yes_question: user text of the yes-probability prompt; ``{caption}`` is replaced by the caption.
        yes_answer: the target of the yes-probability sequences.
        max_counterfactuals, max_edits: caps per row (None: all; 0: none); seeded random subsets beyond them.
        counterfactual_pairs: build the (I'_k, T'_k) sequences (needed by L_csd).
        cross_pairs: also build (I, T'_k) and (I'_k, T) (the "cross" and "symmetric" L_csd).
        edits: build the (E_j, T) sequences (needed by L_fcd).
        alignment: mark (and, for yes-probability, build) the anchor caption sequences of L_align.
        max_sequences_per_forward: at most this many sequences per chunk (None: one chunk).
        max_length: longest sequence allowed, in tokens including image tokens (None: the tokenizer's
            ``model_max_length`` when it is finite).
        seed: seed of the random subsets.
    """

    def __init__(
        self,
        processor,
        score: str = "caption-likelihood",
        caption_prompt: str = DEFAULT_CAPTION_PROMPT,
        yes_question: str = DEFAULT_YES_QUESTION,
        yes_answer: str = "Yes",
        max_counterfactuals: int | None = None,
        max_edits: int | None = None,
        counterfactual_pairs: bool = True,
        cross_pairs: bool = False,
        edits: bool = True,
        alignment: bool = True,
        max_sequences_per_forward: int | None = None,
        max_length: int | None = None,
        seed: int = 0,
    ):
        if score not in GENERATIVE_SCORES:
            raise ValueError(f"score must be one of {GENERATIVE_SCORES}, got {score!r}")
        if "{caption}" not in yes_question:
            raise ValueError(f"yes_question must contain '{{caption}}', got {yes_question!r}")
        if max_sequences_per_forward is not None and max_sequences_per_forward < 1:
            raise ValueError(f"max_sequences_per_forward must be >= 1 or None, got {max_sequences_per_forward}")
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.score = score
        self.caption_prompt, self.yes_question, self.yes_answer = caption_prompt, yes_question, yes_answer
        self.max_counterfactuals, self.max_edits = max_counterfactuals, max_edits
        self.counterfactual_pairs, self.cross_pairs, self.edits = counterfactual_pairs, cross_pairs, edits
        self.alignment = alignment
        self.max_sequences_per_forward = max_sequences_per_forward
        if max_length is None:
            limit = getattr(self.tokenizer, "model_max_length", None)
            max_length = int(limit) if limit is not None and limit < 1e9 else None
        self.max_length = max_length
        self.use_suffix = accepts_suffix(processor)
        if not self.use_suffix and getattr(processor, "chat_template", None) is None:
            raise ValueError(
                f"{type(processor).__name__} has no chat template (and no `suffix` argument): set "
                "`processor.chat_template` so prompts are built in the model's own format"
            )
        self.processed_images = 0  # images that went through the image processor (for tests and benchmarks)
        self.rng = np.random.default_rng(seed)
        self._prefix_ids: dict[str, list[int]] = {}

    # ----------------------------------------------------------------------------------------------- prompt text
    def prompt_and_target(self, caption: str, as_caption: bool) -> tuple[str, str]:
        """(user text, target) of one sequence; ``as_caption`` forces the caption-likelihood form."""
        if as_caption or self.score == "caption-likelihood":
            return self.caption_prompt, caption
        return self.yes_question.replace("{caption}", caption), self.yes_answer

    def render(self, user_text: str) -> str:
        """The chat-template text that precedes an assistant answer to [image, ``user_text``]."""
        messages = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_text}]},
            {"role": "assistant", "content": [{"type": "text", "text": _SENTINEL}]},
        ]
        text = self.processor.apply_chat_template(messages, tokenize=False)
        if text.count(_SENTINEL) != 1:
            raise ValueError("the chat template must render the assistant message's text exactly once")
        return text[: text.index(_SENTINEL)]

    # ---------------------------------------------------------------------------------------------------- batch
    def _subset(self, count: int, cap: int | None) -> list[int]:
        if cap is None or count <= cap:
            return list(range(count))
        return sorted(self.rng.choice(count, size=cap, replace=False).tolist())

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if len(rows) == 0:
            raise ValueError("GenerativeCollator got an empty list of rows")
        rows = [check_row(row, index=f"{i} of the batch") for i, row in enumerate(rows)]
        batch_size = len(rows)
        # Each sequence: (image, caption, row position, caption form for L_align).
        seqs: list[tuple[Any, str, int, bool]] = [(r["image"], r["caption"], b, False) for b, r in enumerate(rows)]
        cf_kept = [self._subset(len(r["cf_images"]), self.max_counterfactuals) if self.counterfactual_pairs else []
                   for r in rows]
        edit_kept = [self._subset(len(r["edit_images"]), self.max_edits) if self.edits else [] for r in rows]

        def add(image, caption, b, as_caption=False) -> int:
            seqs.append((image, caption, b, as_caption))
            return len(seqs) - 1

        cf = [[add(r["cf_images"][k], r["cf_captions"][k], b) for k in cf_kept[b]] for b, r in enumerate(rows)]
        edit = [[add(r["edit_images"][j], r["caption"], b) for j in edit_kept[b]] for b, r in enumerate(rows)]
        batch: dict[str, Any] = {}
        batch["cf_index"], batch["cf_mask"] = _pad(cf)
        batch["edit_index"], batch["edit_mask"] = _pad(edit)
        if self.cross_pairs:
            image_text = [[add(r["image"], r["cf_captions"][k], b) for k in cf_kept[b]] for b, r in enumerate(rows)]
            text_image = [[add(r["cf_images"][k], r["caption"], b) for k in cf_kept[b]] for b, r in enumerate(rows)]
            batch["anchor_image_cf_text_index"], _ = _pad(image_text)
            batch["cf_image_anchor_text_index"], _ = _pad(text_image)
        if self.alignment:
            if self.score == "caption-likelihood":
                batch["align_index"] = torch.arange(batch_size)
            else:
                captions = [add(r["image"], r["caption"], b, True) for b, r in enumerate(rows)]
                batch["align_index"] = torch.tensor(captions)

        step = self.max_sequences_per_forward or len(seqs)
        batch["chunks"] = [self._encode(seqs[i : i + step], rows) for i in range(0, len(seqs), step)]
        return batch

    # ----------------------------------------------------------------------------------------------- encoding
    def _encode(self, seqs: list[tuple[Any, str, int, bool]], rows) -> dict[str, torch.Tensor]:
        """One processor call for ``seqs`` -> model inputs plus ``labels`` (n, L) on the target tokens."""
        prompts, targets = zip(*(self.prompt_and_target(caption, as_caption) for _, caption, _, as_caption in seqs))
        images = [image for image, *_ in seqs]
        kwargs = dict(images=images, return_tensors="pt", padding=True, truncation=False, padding_side="right")
        if not self.use_suffix:
            prefixes = [self.render(p) for p in prompts]
            target_ids = [self._target_ids(p, t) for p, t in zip(prefixes, targets)]
        dedup = _OnceEachImage(self.processor.image_processor)
        self.processor.image_processor = dedup
        try:
            if self.use_suffix:
                out = dict(self.processor(text=list(prompts), suffix=list(targets), **kwargs))
            else:
                out = dict(self.processor(text=[p + t for p, t in zip(prefixes, targets)], **kwargs))
        except Exception as err:  # surface processor failures with the rows they came from
            ids = sorted({str(rows[b].get("id", f"{b} of the batch")) for _, _, b, _ in seqs})
            raise ValueError(f"the processor failed on the batch of rows {ids}: {err}") from err
        finally:
            self.processor.image_processor = dedup.inner
        self.processed_images += dedup.count

        if self.use_suffix:
            # PaliGemma: token_type_ids is 1 on the suffix = target + EOS; the target is the suffix minus its EOS.
            suffix = out["token_type_ids"].bool()
            last = (suffix.long().cumsum(1) == suffix.sum(1, keepdim=True)) & suffix
            target_mask = suffix & ~last
            out.pop("labels", None)
            target_lengths = target_mask.sum(1).tolist()
        else:
            target_lengths = [len(ids) for ids in target_ids]
            target_mask = _tail_mask(out["attention_mask"], target_lengths)
            for i, ids in enumerate(target_ids):  # the processor must leave the target's tokens as they were
                if out["input_ids"][i][target_mask[i]].tolist() != ids:
                    raise ValueError(
                        f"row {rows[seqs[i][2]].get('id', seqs[i][2])!r}: the processor changed the target tokens "
                        f"of caption {seqs[i][1]!r}; cannot align the labels"
                    )

        lengths = out["attention_mask"].sum(1)
        for i, (_, caption, b, _) in enumerate(seqs):
            if self.max_length is not None and lengths[i] > self.max_length:
                raise ValueError(
                    f"row {rows[b].get('id', b)!r}: the sequence for caption {caption!r} has {int(lengths[i])} tokens "
                    f"(image and prompt tokens included), more than max_length={self.max_length}. Sequences are never "
                    "truncated (that would cut caption or image tokens); shorten the caption or raise "
                    "generative_max_length."
                )
            if target_lengths[i] == 0:
                raise ValueError(f"row {rows[b].get('id', b)!r}: the target of caption {caption!r} has no tokens")
        labels = torch.where(target_mask, out["input_ids"], torch.full_like(out["input_ids"], -100))
        out["labels"] = labels
        return out

    def _target_ids(self, prefix: str, target: str) -> list[int]:
        """Token ids of ``target`` after ``prefix``; checks that tokenizing them together keeps the prefix intact."""
        if prefix not in self._prefix_ids:  # the same few prompts recur in every batch
            if len(self._prefix_ids) >= 4096:  # yes-probability prompts hold the caption: keep the cache bounded
                self._prefix_ids.clear()
            self._prefix_ids[prefix] = self.tokenizer(prefix, add_special_tokens=True)["input_ids"]
        head = self._prefix_ids[prefix]
        full = self.tokenizer(prefix + target, add_special_tokens=True)["input_ids"]
        if full[: len(head)] != head:
            raise ValueError(
                f"the tokenizer merges the end of the prompt {prefix[-20:]!r} with the target {target[:20]!r}: the "
                "target's tokens cannot be told apart from the prompt's"
            )
        return full[len(head) :]


def _tail_mask(attention_mask: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """(n, L) bool: the last ``lengths[i]`` real (attended) tokens of each right-padded row."""
    ends = attention_mask.sum(1, keepdim=True)
    positions = torch.arange(attention_mask.shape[1]).unsqueeze(0)
    return (positions < ends) & (positions >= ends - torch.tensor(lengths).unsqueeze(1))


def _pad(per_row: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row lists of sequence positions -> (B, N) long index (0 where padded) and (B, N) bool mask."""
    width = max((len(entries) for entries in per_row), default=0)
    index = torch.zeros(len(per_row), width, dtype=torch.long)
    mask = torch.zeros(len(per_row), width, dtype=torch.bool)
    for b, entries in enumerate(per_row):
        index[b, : len(entries)] = torch.tensor(entries, dtype=torch.long)
        mask[b, : len(entries)] = True
    return index, mask
