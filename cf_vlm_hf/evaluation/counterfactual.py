"""Compositional evaluation of a dual encoder on a counterfactual split.

For every minimal edit (anchor image I, caption T, edited image E, edit caption T_E):

* image side: S(I, T) > S(E, T) — the true image beats the edited one for the anchor caption;
* text side:  S(I, T) > S(I, T_E) — the true caption beats the edit's caption for the anchor image;
* Winoground-style scores on the pair {(I, T), (E, T_E)} (for binding and relation edits by default):
  text = S(I,T) > S(I,T_E) and S(E,T_E) > S(E,T); image = S(I,T) > S(E,T) and S(E,T_E) > S(I,T_E);
  group = text and image.

Plus factual image->text recall@1 within the split, over its distinct captions (a split repeats captions, and
retrieving an identical string is correct).

Embeddings and S(I, T) come from the training scorer's own functions (`cf_vlm_hf.models.dual_encoder`), batched
and without gradients, so an evaluated pair scores exactly as it does in training.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import torch
from tqdm.auto import tqdm

from ..data.rows import check_row
from ..models.dual_encoder import embed_images, embed_texts, similarity

WINOGROUND_TYPES = ("binding", "relation")


class BatchedEmbeddings:
    """Batched L2-normalised embeddings of images and texts (each distinct text embedded once), on the CPU.

    The model's processor prepares the inputs; `embed_images` / `embed_texts` (the training scorer's) embed them.
    """

    def __init__(self, model, processor, batch_size: int = 256, padding: bool | str = True):
        self.model, self.processor = model, processor
        self.batch_size, self.padding = batch_size, padding
        self.device = next(model.parameters()).device
        self._text_cache: dict[str, torch.Tensor] = {}

    def images(self, images: Sequence) -> torch.Tensor:
        """(N, D) embeddings of N PIL images."""
        out = []
        for start in range(0, len(images), self.batch_size):
            pixels = self.processor.image_processor(images=list(images[start : start + self.batch_size]),
                                                    return_tensors="pt")["pixel_values"]
            out.append(embed_images(self.model, pixels.to(self.device)).float().cpu())
        return torch.cat(out)

    def texts(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, D) embeddings of N strings; each distinct string is embedded once per instance."""
        missing = sorted({t for t in texts if t not in self._text_cache})
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            tokens = self.processor.tokenizer(chunk, return_tensors="pt", padding=self.padding, truncation=True)
            embeds = embed_texts(self.model, {k: v.to(self.device) for k, v in tokens.items()}).float().cpu()
            self._text_cache.update(zip(chunk, embeds))
        return torch.stack([self._text_cache[t] for t in texts]) if texts else torch.empty(0)


def evaluate_counterfactual_split(
    model,
    processor,
    rows: Iterable,
    batch_size: int = 256,
    padding: bool | str = True,
    winoground_types: Sequence[str] = WINOGROUND_TYPES,
    progress: bool = True,
    description: str = "evaluating",
) -> dict[str, float]:
    """Scores of ``model`` on the rows of a counterfactual split (a `datasets.Dataset` or a list of rows).

    Returns a flat dict: ``recall@1``, ``mean_image_side``, ``mean_text_side`` (unweighted means over edit
    types), and per edit type ``image_side/TYPE``, ``text_side/TYPE``, ``count/TYPE``; per Winoground type
    ``winoground/TYPE/{text,image,group}``. Accuracies are fractions in [0, 1].
    """
    was_training = model.training
    model.eval()
    embed = BatchedEmbeddings(model, processor, batch_size, padding)
    anchors, captions = [], []
    wins = defaultdict(list)
    rows = list(rows) if not hasattr(rows, "__len__") else rows
    chunk = max(1, batch_size // 4)
    bar = tqdm(total=len(rows), desc=description, disable=not progress, leave=False)
    for start in range(0, len(rows), chunk):
        batch = [check_row(rows[i], i) for i in range(start, min(start + chunk, len(rows)))]
        edits = [(b, j) for b, row in enumerate(batch) for j in range(len(row["edit_images"]))]
        images = embed.images([row["image"] for row in batch] + [batch[b]["edit_images"][j] for b, j in edits])
        anchor_images, edit_images = images[: len(batch)], images[len(batch) :]
        anchor_texts = embed.texts([row["caption"] for row in batch])
        # One text forward for the chunk's edit captions (the cache then serves the lookups below).
        embed.texts([batch[b]["edit_captions"][j] for b, j in edits if batch[b].get("edit_captions")])
        anchors.append(anchor_images)
        captions.extend(row["caption"] for row in batch)
        for n, (b, j) in enumerate(edits):
            row, kind = batch[b], batch[b]["edit_types"][j]
            s_it = similarity(anchor_images[b], anchor_texts[b])
            s_et = similarity(edit_images[n], anchor_texts[b])
            s_ie = s_ee = None
            if row.get("edit_captions"):
                edit_text = embed.texts([row["edit_captions"][j]])[0]
                s_ie, s_ee = similarity(anchor_images[b], edit_text), similarity(edit_images[n], edit_text)
            record_edit(wins, kind, s_it, s_et, s_ie, s_ee, winoground_types)
        bar.update(len(batch))
    bar.close()
    model.train(was_training)

    results = summarize_wins(wins)
    if anchors:
        results["recall@1"] = recall_at_1(torch.cat(anchors), captions, embed)
    return results


def record_edit(wins: dict[str, list[bool]], kind: str, s_it, s_et, s_ie=None, s_ee=None,
                winoground_types: Iterable[str] = WINOGROUND_TYPES) -> None:
    """Append one minimal edit's outcomes to ``wins`` (keyed ``image_side/KIND``, ``text_side/KIND``,
    ``winoground/KIND/{text,image,group}``), from its scores S(I,T), S(E,T) and, with an edit caption, S(I,T_E),
    S(E,T_E) (floats or 0-d tensors)."""
    wins[f"image_side/{kind}"].append(bool(s_it > s_et))
    if s_ie is None:
        return
    wins[f"text_side/{kind}"].append(bool(s_it > s_ie))
    if kind in winoground_types:
        text_ok, image_ok = bool(s_it > s_ie and s_ee > s_et), bool(s_it > s_et and s_ee > s_ie)
        wins[f"winoground/{kind}/text"].append(text_ok)
        wins[f"winoground/{kind}/image"].append(image_ok)
        wins[f"winoground/{kind}/group"].append(text_ok and image_ok)


def summarize_wins(wins: dict[str, list[bool]]) -> dict[str, float]:
    """Accuracy per key of ``wins``, ``count/KIND`` edits per type, and ``mean_image_side`` / ``mean_text_side``:
    the unweighted means over edit types."""
    results = {name: sum(values) / len(values) for name, values in sorted(wins.items())}
    for name, values in wins.items():
        if name.startswith("image_side/"):
            results[f"count/{name.split('/', 1)[1]}"] = len(values)
    for side in ("image_side", "text_side"):
        values = [v for k, v in results.items() if k.startswith(side + "/")]
        if values:
            results[f"mean_{side}"] = sum(values) / len(values)
    return results


def recall_at_1(image_embeds: torch.Tensor, captions: Sequence[str], embed: BatchedEmbeddings) -> float:
    """Fraction of images whose most similar distinct caption of the split is their own caption."""
    distinct = sorted(set(captions))
    index = {caption: i for i, caption in enumerate(distinct)}
    best = (image_embeds @ embed.texts(distinct).t()).argmax(dim=1)
    truth = torch.tensor([index[c] for c in captions])
    return (best == truth).float().mean().item()
