"""The quality filter: keep a generated image only if a checkpoint sees in it its own caption more than the anchor's.

A generated image G made for caption T' (a counterfactual caption, or what an edit should now show) is kept when
``S(G, T') > S(G, T) + margin``, T being the anchor's caption. S is the project's score of the checkpoint's
family (`cf_vlm_hf.models`): the cosine of a dual encoder's normalised embeddings, or a generative VLM's caption
log-likelihood (or yes-probability), computed with the same functions as in training and evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from ...models import DUAL_ENCODER, model_family, model_type


@dataclass(frozen=True)
class FilterVerdict:
    """``keep`` and the two scores it was decided on: S(G, own caption), S(G, anchor caption)."""

    keep: bool
    own_score: float
    anchor_score: float


class ImageTextFilter:
    """Scores generated images against their own and their anchor's captions with a checkpoint.

    Args:
        model: a dual encoder (CLIP, SigLIP, ...) or a generative VLM, in eval mode on its device.
        processor: its processor.
        margin: how much higher the own caption must score (in the score's units).
        batch_size: images per forward.
        generative_score: "caption-likelihood" or "yes-probability" (generative VLMs only).
        name: what the dataset card calls the checkpoint.
    """

    def __init__(self, model, processor, margin: float = 0.0, batch_size: int = 32,
                 generative_score: str = "caption-likelihood", name: str | None = None):
        self.model, self.processor = model.eval(), processor
        self.margin, self.batch_size = float(margin), batch_size
        self.family = model_family(model)
        self.generative_score = generative_score
        self.name = name or getattr(model, "name_or_path", None) or type(model).__name__
        if self.family == DUAL_ENCODER:
            from ...models.dual_encoder import text_padding

            self.padding = text_padding(model_type(model))
        else:
            from ...models.generative import GenerativeCollator, GenerativeScorer

            self.collator = GenerativeCollator(processor, score=generative_score, counterfactual_pairs=False,
                                               edits=False, alignment=False)
            self.scorer = GenerativeScorer(score=generative_score, global_token_mean=False)

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str | None = None, margin: float = 0.0, **kwargs):
        """Load a checkpoint of either family (``cf_vlm_hf.models.loading``; a LoRA adapter is merged)."""
        from ...models.loading import load_model_and_processor

        model, processor = load_model_and_processor(name_or_path, adapter="merged")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(model.to(device), processor, margin=margin, name=name_or_path, **kwargs)

    @torch.no_grad()
    def scores(self, images: Sequence[Image.Image], captions: Sequence[str]) -> torch.Tensor:
        """(N,) S(images[i], captions[i])."""
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk_images = list(images[start : start + self.batch_size])
            chunk_captions = list(captions[start : start + self.batch_size])
            out.append(self._dual(chunk_images, chunk_captions) if self.family == DUAL_ENCODER
                       else self._generative(chunk_images, chunk_captions))
        return torch.cat(out) if out else torch.empty(0)

    def _dual(self, images, captions) -> torch.Tensor:
        from ...models.dual_encoder import embed_images, embed_texts, similarity

        device = next(self.model.parameters()).device
        pixels = self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        tokens = self.processor.tokenizer(captions, return_tensors="pt", padding=self.padding, truncation=True)
        image_embeds = embed_images(self.model, pixels.to(device, dtype=next(self.model.parameters()).dtype))
        text_embeds = embed_texts(self.model, {k: v.to(device) for k, v in tokens.items()})
        return similarity(image_embeds, text_embeds).float().cpu()

    def _generative(self, images, captions) -> torch.Tensor:
        rows = [{"image": image, "caption": caption, "cf_images": [], "cf_captions": [], "edit_images": [],
                 "edit_types": []} for image, caption in zip(images, captions)]
        batch = self.collator(rows)
        device = next(self.model.parameters()).device
        batch["chunks"] = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in chunk.items()}
                           for chunk in batch["chunks"]]
        return self.scorer.sequence_scores(self.model, batch)[0][: len(rows)].float().cpu()

    def __call__(self, images: Sequence[Image.Image], own_captions: Sequence[str],
                 anchor_captions: Sequence[str]) -> list[FilterVerdict]:
        """One verdict per image: keep it iff S(image, own caption) > S(image, anchor caption) + margin."""
        if not images:
            return []
        scores = self.scores([*images, *images], [*own_captions, *anchor_captions])
        own, anchor = scores[: len(images)], scores[len(images) :]
        return [FilterVerdict(bool(o > a + self.margin), float(o), float(a)) for o, a in zip(own, anchor)]
