"""`CounterfactualCollator`: corpus rows -> one batch for one forward pass of a dual encoder.

Layout of a batch of B rows, row b having K_b counterfactual pairs and M_b minimal edits (after the caps):

* images, in this order: the B anchor images, then row by row its kept counterfactual images and its kept edits;
* texts: the B anchor captions, then row by row its kept counterfactual captions, (optionally) its edit
  captions and (optionally) its negative captions;
* ``cf_image_index`` / ``cf_text_index`` (B, K) long: where the k-th counterfactual pair of anchor b sits among
  the images / texts, with ``cf_mask`` (B, K) bool marking the real ones (K = max K_b; padding points at 0);
* ``edit_image_index`` (B, M) long and ``edit_mask`` (B, M) bool likewise for the minimal edits, and, when
  edit captions are included, ``edit_text_index`` (B, M) long (-1 for an edit without a caption) and
  ``edit_caption_groups`` (B, M);
* with negative captions: ``negative_text_index`` (B, N) long and ``negative_mask`` (B, N) bool, where each
  negative caption of anchor b sits among the texts (scored against anchor image b);
* ``row_ids``: a list of B strings naming each row (dataset index and id), for errors raised later;
* ``truncated_captions``: a 0-dim long tensor, how many of the batch's texts the tokenizer cut at its limit;
* ``caption_groups`` (B,) long: equal for anchors whose captions tokenize identically (see `caption_group_ids`);
  ``cf_caption_groups`` (B, K) long: the same ids for the counterfactual captions (0 at padding).

Edit captions, when included, serve as NegCLIP's hard negatives, or as pairs of their own in L_align with
``align_edits``.

Anchor b is always image b and text b. All images go through one processor call, all texts through one
tokenizer call with a single padding. Captions are compared as the model sees them, after tokenization: a
counterfactual, edit or negative caption that truncation makes token-identical to its anchor's is an error naming
the row (``on_truncated_duplicate="raise"``) or a warning (``"warn"``).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ...data.rows import check_row
from ..batching import ROW_KEYS, SubsetSampler, check_caps, pad_positions, row_labels, row_name, row_position

logger = logging.getLogger(__name__)

INDEX_KEYS = frozenset(
    {"cf_image_index", "cf_text_index", "cf_mask", "edit_image_index", "edit_text_index", "edit_mask",
     "caption_groups", "cf_caption_groups", "edit_caption_groups", "negative_text_index", "negative_mask",
     "row_ids", "truncated_captions", *ROW_KEYS}
)


def caption_group_ids(captions: Sequence[str]) -> torch.Tensor:
    """(B,) int64 ids, equal exactly for identical captions, and equal across processes (a stable hash, not
    Python's salted ``hash``), so that captions gathered from several ranks compare correctly."""
    ids = [int.from_bytes(hashlib.blake2b(c.encode("utf-8"), digest_size=8).digest(), "little", signed=True)
           for c in captions]
    return torch.tensor(ids, dtype=torch.long)


def text_padding(model_type: str) -> bool | str:
    """The tokenizer padding a dual encoder's text tower expects: SigLIP was pre-trained on captions padded to the
    maximum length; every other family pads to the longest caption of the batch."""
    return "max_length" if model_type.startswith("siglip") else True


class CounterfactualCollator:
    """Collate counterfactual corpus rows with a Hugging Face processor.

    Args:
        processor: a processor whose ``__call__(text=..., images=...)`` returns ``pixel_values`` and token ids
            (CLIPProcessor, SiglipProcessor, VisionTextDualEncoderProcessor, ...).
        max_counterfactuals: keep at most this many complete counterfactual pairs per row (None: all; 0: none).
        max_edits: keep at most this many minimal edits per row (None: all; 0: none).
        counterfactual_images: include the counterfactual images (False keeps only their captions, e.g. as
            text hard negatives).
        edit_images: include the minimal-edit images.
        edit_captions: include each edit's ``edit_captions`` entry as a text (rows without them add none);
            ``"required"``: a row with minimal edits but no ``edit_captions`` is an error.
        negative_captions: include each row's ``negative_captions`` (captions with no image of their own).
        padding, max_length, truncation: passed to the tokenizer (SigLIP wants ``padding="max_length"``).
        on_truncated_duplicate: ``"raise"`` or ``"warn"`` when a non-anchor caption tokenizes exactly like its
            anchor's (after truncation).
        seed: seed of the random subsets drawn when a row has more entries than a cap allows.

    Example (two rows: the first with one counterfactual pair and one edit, the second with two edits)::

        >>> from PIL import Image
        >>> from transformers import CLIPProcessor
        >>> from cf_vlm_hf import CounterfactualCollator
        >>> collator = CounterfactualCollator(CLIPProcessor.from_pretrained("openai/clip-vit-base-patch32"))
        >>> red, blue = Image.new("RGB", (64, 64), "red"), Image.new("RGB", (64, 64), "blue")
        >>> rows = [
        ...     {"image": red, "caption": "a red square", "cf_images": [blue], "cf_captions": ["a blue square"],
        ...      "edit_images": [blue], "edit_types": ["color"]},
        ...     {"image": blue, "caption": "a blue square", "edit_images": [red, red],
        ...      "edit_types": ["color", "color"]},
        ... ]
        >>> batch = collator(rows)
        >>> batch["pixel_values"].shape  # 2 anchors, 1 counterfactual image, 3 edits
        torch.Size([6, 3, 224, 224])
        >>> batch["input_ids"].shape[0]  # 2 anchor captions, 1 counterfactual caption
        3
        >>> batch["cf_image_index"], batch["cf_text_index"], batch["cf_mask"]
        (tensor([[2], [0]]), tensor([[2], [0]]), tensor([[ True], [False]]))
        >>> batch["edit_image_index"], batch["edit_mask"]
        (tensor([[3, 0], [4, 5]]), tensor([[ True, False], [ True,  True]]))
    """

    def __init__(
        self,
        processor,
        max_counterfactuals: int | None = None,
        max_edits: int | None = None,
        counterfactual_images: bool = True,
        edit_images: bool = True,
        edit_captions: bool | str = False,
        negative_captions: bool = False,
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = True,
        seed: int = 0,
        on_truncated_duplicate: str = "raise",
    ):
        check_caps(max_counterfactuals, max_edits)
        self.processor = processor
        self.max_counterfactuals = max_counterfactuals
        self.max_edits = max_edits
        self.counterfactual_images = counterfactual_images
        self.edit_images = edit_images
        if edit_captions not in (True, False, "required"):
            raise ValueError(f"edit_captions must be True, False or 'required', got {edit_captions!r}")
        self.edit_captions = edit_captions
        self.negative_captions = negative_captions
        self.padding = padding
        self.max_length = max_length
        self.truncation = truncation
        if on_truncated_duplicate not in ("raise", "warn"):
            raise ValueError(f"on_truncated_duplicate must be 'raise' or 'warn', got {on_truncated_duplicate!r}")
        self.on_truncated_duplicate = on_truncated_duplicate
        self.subset = SubsetSampler(seed)
        self._warned_truncation = False

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if len(rows) == 0:
            raise ValueError("CounterfactualCollator got an empty list of rows")
        rows = [check_row(row, index=row_position(row, i)) for i, row in enumerate(rows)]
        batch_size = len(rows)
        images = [row["image"] for row in rows]
        texts = [row["caption"] for row in rows]

        owner = list(range(batch_size))  # the row each text belongs to, and the field it came from
        field = ["caption"] * batch_size
        cf_images, cf_texts = [], []  # per row: image positions (or None), text positions
        edit_images, edit_texts = [], []  # per row: image positions (or None), text positions (or -1)
        negative_texts = []  # per row: text positions
        pending_images: list = []  # counterfactual and edit images go after all anchors
        for i, row in enumerate(rows):
            row_images, row_texts = [], []
            for k in self.subset(len(row["cf_images"]), self.max_counterfactuals, row, stream=0):
                image_pos = None
                if self.counterfactual_images:
                    image_pos = batch_size + len(pending_images)
                    pending_images.append(row["cf_images"][k])
                texts.append(row["cf_captions"][k])
                owner.append(i)
                field.append(f"cf_captions[{k}]")
                row_images.append(image_pos)
                row_texts.append(len(texts) - 1)
            cf_images.append(row_images)
            cf_texts.append(row_texts)

            kept = self.subset(len(row["edit_images"]), self.max_edits, row, stream=1)
            if kept and self.edit_captions == "required" and row.get("edit_captions") is None:
                raise ValueError(f"row {row_name(row, i)} has minimal edits but no 'edit_captions' "
                                 "(needed to align each edit with its own caption)")
            row_images, row_texts = [], []
            for j in kept:
                image_pos, text_pos = None, -1
                if self.edit_images:
                    image_pos = batch_size + len(pending_images)
                    pending_images.append(row["edit_images"][j])
                if self.edit_captions and row.get("edit_captions") is not None:
                    texts.append(row["edit_captions"][j])
                    owner.append(i)
                    field.append(f"edit_captions[{j}]")
                    text_pos = len(texts) - 1
                row_images.append(image_pos)
                row_texts.append(text_pos)
            edit_images.append(row_images)
            edit_texts.append(row_texts)
            row_texts = []
            for n, caption in enumerate((row.get("negative_captions") or []) if self.negative_captions else []):
                texts.append(caption)
                owner.append(i)
                field.append(f"negative_captions[{n}]")
                row_texts.append(len(texts) - 1)
            negative_texts.append(row_texts)
        images.extend(pending_images)

        try:
            batch = dict(
                self.processor(
                    text=texts,
                    images=images,
                    return_tensors="pt",
                    padding=self.padding,
                    truncation=self.truncation,
                    max_length=self.max_length,
                )
            )
        except Exception as err:  # surface processor failures with the batch they came from
            raise ValueError(f"the processor failed on the batch of rows {row_labels(rows)}: {err}") from err

        seen = self._as_seen(batch)
        cut = self._truncated(texts)
        batch["truncated_captions"] = torch.tensor(len(cut))
        self._check_distinct(rows, texts, seen, owner, field, cut)

        cf_image_index, cf_mask = pad_positions(cf_images)
        cf_text_index, _ = pad_positions(cf_texts)
        batch["cf_text_index"], batch["cf_mask"] = cf_text_index, cf_mask
        if self.counterfactual_images:
            batch["cf_image_index"] = cf_image_index
        edit_image_index, edit_mask = pad_positions(edit_images)
        edit_text_index, _ = pad_positions(edit_texts)
        batch["edit_mask"] = edit_mask
        batch["row_ids"] = row_labels(rows)
        text_groups = caption_group_ids(seen)
        batch["caption_groups"] = text_groups[:batch_size].clone()
        batch["cf_caption_groups"] = torch.where(cf_mask, text_groups[cf_text_index], torch.zeros_like(cf_text_index))
        if self.edit_captions:
            captioned = edit_mask & (edit_text_index >= 0)
            batch["edit_text_index"] = torch.where(edit_mask, edit_text_index, torch.full_like(edit_text_index, -1))
            batch["edit_caption_groups"] = torch.where(
                captioned, text_groups[edit_text_index.clamp(min=0)], torch.zeros_like(edit_text_index)
            )
        if self.edit_images:
            batch["edit_image_index"] = edit_image_index
        if self.negative_captions:
            batch["negative_text_index"], batch["negative_mask"] = pad_positions(negative_texts)
        return batch

    def _as_seen(self, batch) -> list[str]:
        """Each text as the model sees it: its token ids (padding left out), joined into a string."""
        ids, mask = batch["input_ids"], batch.get("attention_mask")
        rows = [row[m.bool()] for row, m in zip(ids, mask)] if mask is not None else list(ids)
        return [" ".join(map(str, row.tolist())) for row in rows]

    def _limit(self) -> int | None:
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        limit = self.max_length or getattr(tokenizer, "model_max_length", None)
        return int(limit) if self.truncation and limit is not None and limit < 1e9 else None

    def _truncated(self, texts: list[str]) -> set[int]:
        """The positions of the ``texts`` longer than the tokenizer's limit (the processor cut them)."""
        limit = self._limit()
        if limit is None:
            return set()
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
        cut = {i for i, length in enumerate(lengths) if length > limit}
        if cut and not self._warned_truncation:
            self._warned_truncation = True
            logger.warning("captions longer than the tokenizer's %d tokens are cut (counted as truncated_captions in "
                           "the logs), e.g. %r", limit, texts[min(cut)][:120])
        return cut

    def _check_distinct(self, rows, texts, seen, owner, field, cut: set[int]) -> None:
        """A non-anchor caption must not tokenize exactly like its own anchor caption."""
        labels = None
        for position in range(len(rows), len(texts)):
            b = owner[position]
            if seen[position] != seen[b]:
                continue
            labels = labels or row_labels(rows)
            message = (f"row {labels[b]}, field '{field[position]}': {texts[position]!r} is token-identical "
                       f"to the anchor caption {texts[b]!r}")
            if texts[position] != texts[b] and (position in cut or b in cut):
                message += f" after the tokenizer's truncation to {self._limit()} tokens"
            elif texts[position] != texts[b]:
                message += " as the tokenizer encodes them (words it does not know become the same unknown token)"
            message += ": the model cannot tell them apart (shorten the captions, raise max_length, use a tokenizer "
            message += "that knows the words, or set on_truncated_duplicate='warn')"
            if self.on_truncated_duplicate == "raise":
                raise ValueError(message)
            warnings.warn(message, UserWarning, stacklevel=3)

