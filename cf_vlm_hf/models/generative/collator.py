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
5. with ``negative_captions=True``: every (I, T_n), T_n a negative caption of the row;
6. with ``"yes-probability"`` and ``alignment=True``: the B anchors again as caption sequences (L_align's NLL).

The batch is ``{"chunks": [model inputs + "labels", ...], <index tensors>}``. Each chunk holds at most
``max_sequences_per_forward`` sequences in this order, goes through ONE processor call (one padding, on the right)
and is ONE model forward. ``labels`` (n, L) hold the target's token ids at the target positions and -100 everywhere
else (prompt, image tokens, padding). Index tensors point into the concatenated sequences:
``cf_index``, ``cf_mask``, ``anchor_image_cf_text_index``, ``cf_image_anchor_text_index`` (B, K);
``edit_index``, ``edit_mask`` (B, M); ``negative_index``, ``negative_mask`` (B, N); ``align_index`` (B,). Anchor b is sequence b.

Images: within a chunk, each distinct image (the same object, e.g. the anchor image of the anchor and cross
sequences) goes through the image processor once; the processor's outputs are then repeated per sequence. The model
forward still encodes the image once per sequence that holds it.

Length: sequences are never truncated (a cut would drop caption tokens or image tokens and misalign the labels);
a sequence longer than ``max_length`` raises a ValueError naming the row and the caption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ...data.rows import check_row
from ..batching import SubsetSampler, check_caps, pad_positions, row_labels, row_name, row_position
from .images import OnceEachImage
from .prompts import DEFAULT_CAPTION_PROMPT, DEFAULT_YES_ANSWER, DEFAULT_YES_QUESTION, PromptFormat

GENERATIVE_INDEX_KEYS = frozenset(
    {"cf_index", "cf_mask", "anchor_image_cf_text_index", "cf_image_anchor_text_index", "edit_index", "edit_mask",
     "negative_index", "negative_mask", "align_index"}
)


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
        negative_captions: build the (I, T_n) sequences of each row's ``negative_captions``.
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
        yes_answer: str = DEFAULT_YES_ANSWER,
        max_counterfactuals: int | None = None,
        max_edits: int | None = None,
        counterfactual_pairs: bool = True,
        cross_pairs: bool = False,
        edits: bool = True,
        negative_captions: bool = False,
        alignment: bool = True,
        max_sequences_per_forward: int | None = None,
        max_length: int | None = None,
        seed: int = 0,
    ):
        if max_sequences_per_forward is not None and max_sequences_per_forward < 1:
            raise ValueError(f"max_sequences_per_forward must be >= 1 or None, got {max_sequences_per_forward}")
        check_caps(max_counterfactuals, max_edits)
        self.prompts = PromptFormat(processor, score, caption_prompt, yes_question, yes_answer)
        self.processor = processor
        self.tokenizer = self.prompts.tokenizer
        self.score = score
        self.max_counterfactuals, self.max_edits = max_counterfactuals, max_edits
        self.counterfactual_pairs, self.cross_pairs, self.edits = counterfactual_pairs, cross_pairs, edits
        self.alignment = alignment
        self.negative_captions = negative_captions
        self.max_sequences_per_forward = max_sequences_per_forward
        if max_length is None:
            limit = getattr(self.tokenizer, "model_max_length", None)
            max_length = int(limit) if limit is not None and limit < 1e9 else None
        self.max_length = max_length
        self.use_suffix = self.prompts.use_suffix
        self.processed_images = 0  # images that went through the image processor (for tests and benchmarks)
        self.subset = SubsetSampler(seed)

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if len(rows) == 0:
            raise ValueError("GenerativeCollator got an empty list of rows")
        rows = [check_row(row, index=row_position(row, i)) for i, row in enumerate(rows)]
        batch_size = len(rows)
        # Each sequence: (image, caption, row position, caption form for L_align).
        seqs: list[tuple[Any, str, int, bool]] = [(r["image"], r["caption"], b, False) for b, r in enumerate(rows)]
        cf_kept = [self.subset(len(r["cf_images"]), self.max_counterfactuals, r, stream=0)
                   if self.counterfactual_pairs else [] for r in rows]
        edit_kept = [self.subset(len(r["edit_images"]), self.max_edits, r, stream=1) if self.edits else []
                     for r in rows]

        def add(image, caption, b, as_caption=False) -> int:
            seqs.append((image, caption, b, as_caption))
            return len(seqs) - 1

        cf = [[add(r["cf_images"][k], r["cf_captions"][k], b) for k in cf_kept[b]] for b, r in enumerate(rows)]
        edit = [[add(r["edit_images"][j], r["caption"], b) for j in edit_kept[b]] for b, r in enumerate(rows)]
        batch: dict[str, Any] = {"row_ids": row_labels(rows)}
        batch["cf_index"], batch["cf_mask"] = pad_positions(cf)
        batch["edit_index"], batch["edit_mask"] = pad_positions(edit)
        if self.cross_pairs:
            image_text = [[add(r["image"], r["cf_captions"][k], b) for k in cf_kept[b]] for b, r in enumerate(rows)]
            text_image = [[add(r["cf_images"][k], r["caption"], b) for k in cf_kept[b]] for b, r in enumerate(rows)]
            batch["anchor_image_cf_text_index"], _ = pad_positions(image_text)
            batch["cf_image_anchor_text_index"], _ = pad_positions(text_image)
        if self.negative_captions:
            negatives = [[add(r["image"], caption, b) for caption in (r.get("negative_captions") or [])]
                         for b, r in enumerate(rows)]
            batch["negative_index"], batch["negative_mask"] = pad_positions(negatives)
        if self.alignment:
            if self.score == "caption-likelihood":
                batch["align_index"] = torch.arange(batch_size)
            else:
                captions = [add(r["image"], r["caption"], b, True) for b, r in enumerate(rows)]
                batch["align_index"] = torch.tensor(captions)

        step = self.max_sequences_per_forward or len(seqs)
        batch["chunks"] = [self._encode(seqs[i : i + step], rows) for i in range(0, len(seqs), step)]
        return batch

    def _encode(self, seqs: list[tuple[Any, str, int, bool]], rows) -> dict[str, torch.Tensor]:
        """One processor call for ``seqs`` -> model inputs plus ``labels`` (n, L) on the target tokens."""
        pairs = [self.prompts.prompt_and_target(caption, as_caption) for _, caption, _, as_caption in seqs]
        prompts, targets = zip(*pairs)
        images = [image for image, *_ in seqs]
        kwargs = dict(images=images, return_tensors="pt", padding=True, truncation=False, padding_side="right")
        if not self.use_suffix:
            prefixes = [self.prompts.render(p) for p in prompts]
            target_ids = [self.prompts.target_ids(p, t) for p, t in zip(prefixes, targets)]
        dedup = OnceEachImage(self.processor.image_processor)
        self.processor.image_processor = dedup
        try:
            if self.use_suffix:
                out = dict(self.processor(text=list(prompts), suffix=list(targets), **kwargs))
            else:
                out = dict(self.processor(text=[p + t for p, t in zip(prefixes, targets)], **kwargs))
        except Exception as err:  # surface processor failures with the rows they came from
            labels = row_labels(rows)
            ids = sorted({labels[b] for _, _, b, _ in seqs})
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
                        f"row {row_name(rows[seqs[i][2]], seqs[i][2])!r}: the processor changed the target tokens "
                        f"of caption {seqs[i][1]!r}; cannot align the labels"
                    )

        lengths = out["attention_mask"].sum(1)
        for i, (_, caption, b, _) in enumerate(seqs):
            if self.max_length is not None and lengths[i] > self.max_length:
                raise ValueError(
                    f"row {row_name(rows[b], b)!r}: the sequence for caption {caption!r} has {int(lengths[i])} tokens "
                    f"(image and prompt tokens included), more than max_length={self.max_length}. Sequences are never "
                    "truncated (that would cut caption or image tokens); shorten the caption or raise "
                    "generative_max_length."
                )
            if target_lengths[i] == 0:
                raise ValueError(f"row {row_name(rows[b], b)!r}: the target of caption {caption!r} has no tokens")
        labels = torch.where(target_mask, out["input_ids"], torch.full_like(out["input_ids"], -100))
        out["labels"] = labels
        return out


def _tail_mask(attention_mask: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """(n, L) bool: the last ``lengths[i]`` real (attended) tokens of each right-padded row."""
    ends = attention_mask.sum(1, keepdim=True)
    positions = torch.arange(attention_mask.shape[1]).unsqueeze(0)
    return (positions < ends) & (positions >= ends - torch.tensor(lengths).unsqueeze(1))
