"""Pair scores of a dual encoder: each distinct image and text embedded once, S = cosine of the embeddings.

The embeddings are the training scorer's (`cf_vlm_hf.models.dual_encoder.embed_images` / `embed_texts`, L2-
normalised projected features) and S is its `similarity`, so a pair scores here exactly as in training. Images are
prepared by the model's own image processor (through the shared pixel cache when one is given), texts by its
tokenizer with the family's padding (SigLIP pads to the maximum length).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...models import DUAL_ENCODER, core_model, model_type
from ...models.dual_encoder import embed_images, embed_texts, similarity, text_padding
from ..images import CachedImageProcessor, PixelCache
from ..items import ImageRef
from .base import PairScorer


class DualEncoderPairScorer(PairScorer):
    """S(I, T) of a dual encoder (CLIP, SigLIP, VisionTextDualEncoder, ...).

    Embeddings are kept per image key and per text for the scorer's lifetime, so images and texts shared by
    several items, subsets or tasks are embedded once.

    Args:
        model, processor: the checkpoint and its processor (``image_processor`` + ``tokenizer``).
        batch_size: images or texts per forward.
        pixel_cache: processed pixels shared with other models of the same image processor.
        progress: show progress bars.

    Example::

        >>> scorer = DualEncoderPairScorer(model, processor)
        >>> scorer.score_pairs([(ImageRef.from_file("cat.jpg"), "a cat"), (ImageRef.from_file("cat.jpg"), "a dog")])
        tensor([0.29, 0.21])  # cosines
    """

    family = DUAL_ENCODER
    score_kind = "cosine"

    def __init__(self, model, processor, batch_size: int = 64, pixel_cache: PixelCache | None = None,
                 progress: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.processor = model, processor
        self.batch_size, self.progress = batch_size, progress
        self.padding = text_padding(model_type(model))
        self.image_processor = processor.image_processor
        if pixel_cache is not None:
            self.image_processor = CachedImageProcessor(self.image_processor, pixel_cache)
        self.tokenizer = processor.tokenizer
        parameter = next(core_model(model).parameters())
        self.device = parameter.device
        self.dtype = parameter.dtype if parameter.dtype.is_floating_point else torch.float32
        self._images: dict[str, torch.Tensor] = {}
        self._texts: dict[str, torch.Tensor] = {}

    def image_embeddings(self, images: Sequence[ImageRef]) -> torch.Tensor:
        """(N, D) float32 CPU embeddings of N images (each distinct key embedded once)."""
        missing = list({ref.key: ref for ref in images if ref.key not in self._images}.values())
        steps = range(0, len(missing), self.batch_size)
        bar = tqdm(steps, desc="embedding images", disable=not self.progress or len(steps) < 2, leave=False)
        for start in bar:
            chunk = missing[start : start + self.batch_size]
            pixels = self.image_processor(images=[ref.load() for ref in chunk], return_tensors="pt")["pixel_values"]
            embeds = embed_images(self.model, pixels.to(self.device, self.dtype)).float().cpu()
            self._images.update(zip((ref.key for ref in chunk), embeds))
        return torch.stack([self._images[ref.key] for ref in images]) if images else torch.empty(0, 0)

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, D) float32 CPU embeddings of N strings.

        Each distinct token sequence is embedded once: strings the tokenizer cannot tell apart ("A cat" and "a cat"
        for a lower-casing tokenizer, words it does not know) share one embedding, so they tie exactly, whatever
        batch rows they would have fallen in (a forward's rows can differ in the last bits).
        """
        missing = list(dict.fromkeys(t for t in texts if t not in self._texts))
        if missing:
            ids = self.tokenizer(missing, truncation=True)["input_ids"]
            group = {text: tuple(i) for text, i in zip(missing, ids)}
            representative: dict[tuple, str] = {}
            for text, key in group.items():
                representative.setdefault(key, text)
            first = list(representative.values())
            steps = range(0, len(first), self.batch_size)
            bar = tqdm(steps, desc="embedding texts", disable=not self.progress or len(steps) < 2, leave=False)
            by_tokens = {}
            for start in bar:
                chunk = first[start : start + self.batch_size]
                tokens = self.tokenizer(chunk, return_tensors="pt", padding=self.padding, truncation=True)
                embeds = embed_texts(self.model, {k: v.to(self.device) for k, v in tokens.items()}).float().cpu()
                by_tokens.update(zip((group[t] for t in chunk), embeds))
            self._texts.update((text, by_tokens[key]) for text, key in group.items())
        return torch.stack([self._texts[t] for t in texts]) if texts else torch.empty(0, 0)

    def score_pairs(self, pairs: Sequence[tuple[ImageRef, str]]) -> torch.Tensor:
        if not pairs:
            return torch.empty(0)
        images = self.image_embeddings([image for image, _ in pairs])
        texts = self.text_embeddings([text for _, text in pairs])
        return similarity(images, texts)

    def score_matrix(self, images: Sequence[ImageRef], texts: Sequence[str]) -> torch.Tensor:
        return self.image_embeddings(images) @ self.text_embeddings(texts).t()

    def template_scores(self, images: Sequence[ImageRef], class_templates: Sequence[Sequence[str]]) -> torch.Tensor:
        """Prompt ensemble: each class is the normalised mean of its normalised prompt embeddings."""
        classes = torch.stack([F.normalize(self.text_embeddings(list(t)).mean(dim=0), dim=-1) for t in class_templates])
        return self.image_embeddings(images) @ classes.t()

    def describe(self) -> dict:
        return {"family": self.family, "score": "cosine of L2-normalised projected embeddings",
                "text_padding": str(self.padding)}
