"""Masks for inpainting: from a mask column, or segmented for a phrase by a text-prompted model in transformers.

Every mask is a binary mode-"L" image of the anchor's size: 255 where the edit may repaint, 0 where the anchor
must stay as it is. `ClipSegMasks` thresholds CLIPSeg's per-pixel probabilities for the phrase; `BoxMasks`
fills the boxes Grounding DINO finds for it. `load_segmenter` picks the class from the checkpoint's model type.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from ...data import CorpusError


def binary(mask: Image.Image) -> Image.Image:
    """``mask`` as mode "L" with only 0 and 255 (values >= 128 become 255)."""
    return mask.convert("L").point(lambda v: 255 if v >= 128 else 0)


def dilate(mask: Image.Image, pixels: int) -> Image.Image:
    """Grow the white region of a binary mask by ``pixels`` in every direction (a 3x3 max filter per pixel)."""
    for _ in range(max(0, int(pixels))):
        mask = mask.filter(ImageFilter.MaxFilter(3))
    return mask


def is_empty(mask: Image.Image | None) -> bool:
    """True for no mask or a mask with nothing to repaint."""
    return mask is None or mask.getbbox() is None


def mask_from_value(value: Any, size: tuple[int, int], where: str) -> Image.Image:
    """A mask-column value (PIL image, ``{"bytes", "path"}`` dict, bytes, path or array) as a binary mask of
    ``size``; a mask of another size is resized (nearest neighbour). Raises `CorpusError` naming ``where``."""
    try:
        if isinstance(value, Image.Image):
            image = value
        elif isinstance(value, Mapping) and value.get("bytes") is not None:
            image = Image.open(io.BytesIO(value["bytes"]))
        elif isinstance(value, Mapping) and value.get("path"):
            image = Image.open(value["path"])
        elif isinstance(value, (bytes, bytearray)):
            image = Image.open(io.BytesIO(value))
        elif isinstance(value, (str, os.PathLike)):
            if not os.path.exists(value):
                raise CorpusError(f"{where}: mask file not found: {os.fspath(value)!r}", "missing_image")
            image = Image.open(value)
        elif isinstance(value, np.ndarray):
            array = value.astype(np.uint8) * 255 if value.dtype == bool else value.astype(np.uint8)
            image = Image.fromarray(array)
        else:
            raise CorpusError(f"{where}: cannot read a mask from a {type(value).__name__}", "undecodable_image")
        image.load()
    except CorpusError:
        raise
    except (OSError, SyntaxError, ValueError) as err:
        raise CorpusError(f"{where}: mask cannot be decoded ({err})", "undecodable_image") from err
    image = image.convert("L")
    if image.size != tuple(size):
        image = image.resize(tuple(size), Image.Resampling.NEAREST)
    return binary(image)


def _device(model) -> torch.device:
    return next(model.parameters()).device


class ClipSegMasks:
    """Masks from CLIPSeg (``CLIPSegForImageSegmentation``): pixels whose probability for the phrase is above
    ``threshold``, upsampled to each image's own size.

    >>> masks = ClipSegMasks(model, processor)                      # doctest: +SKIP
    >>> masks([image], ["the red car"])[0].mode                       # doctest: +SKIP
    'L'
    """

    def __init__(self, model, processor, threshold: float = 0.4):
        self.model, self.processor, self.threshold = model.eval(), processor, threshold

    @torch.no_grad()
    def probabilities(self, images: Sequence[Image.Image], phrases: Sequence[str]) -> list[torch.Tensor]:
        """(H_i, W_i) probabilities per (image, phrase) pair, at each image's size."""
        inputs = self.processor(text=list(phrases), images=list(images), padding=True, return_tensors="pt")
        inputs = {k: v.to(_device(self.model)) for k, v in inputs.items()}
        logits = self.model(**inputs).logits.float()
        if logits.dim() == 2:  # some versions squeeze a batch of one
            logits = logits.unsqueeze(0)
        return [F.interpolate(logits[i][None, None], size=image.size[::-1], mode="bilinear",
                              align_corners=False)[0, 0].sigmoid().cpu() for i, image in enumerate(images)]

    def __call__(self, images: Sequence[Image.Image], phrases: Sequence[str]) -> list[Image.Image]:
        if not images:
            return []
        return [Image.fromarray((p.numpy() > self.threshold).astype(np.uint8) * 255, mode="L")
                for p in self.probabilities(images, phrases)]


class BoxMasks:
    """Masks from a zero-shot detector (Grounding DINO): the union of the boxes found for the phrase."""

    def __init__(self, model, processor, threshold: float = 0.3, text_threshold: float = 0.25):
        self.model, self.processor = model.eval(), processor
        self.threshold, self.text_threshold = threshold, text_threshold

    @torch.no_grad()
    def __call__(self, images: Sequence[Image.Image], phrases: Sequence[str]) -> list[Image.Image]:
        masks = []
        for image, phrase in zip(images, phrases):
            text = phrase.strip().lower().rstrip(".") + "."  # Grounding DINO's convention: lower case, ends with "."
            inputs = self.processor(images=image, text=text, return_tensors="pt")
            inputs = {k: v.to(_device(self.model)) for k, v in inputs.items()}
            outputs = self.model(**inputs)
            found = self.processor.post_process_grounded_object_detection(
                outputs, inputs["input_ids"], threshold=self.threshold, text_threshold=self.text_threshold,
                target_sizes=[image.size[::-1]])[0]
            mask = np.zeros(image.size[::-1], dtype=np.uint8)
            for x0, y0, x1, y1 in found["boxes"].round().int().tolist():
                mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 255
            masks.append(Image.fromarray(mask, mode="L"))
        return masks


def load_segmenter(name_or_path: str, device: str | None = None, threshold: float | None = None,
                   revision: str | None = None):
    """A `ClipSegMasks` or `BoxMasks` for a CLIPSeg or Grounding DINO checkpoint (Hub id or local folder)."""
    from transformers import AutoConfig, AutoProcessor

    from ...models.loading import check_reference

    check_reference(name_or_path, "mask model")
    model_type = AutoConfig.from_pretrained(name_or_path, revision=revision).model_type
    if model_type not in ("clipseg", "grounding-dino"):
        raise ValueError(f"mask model {name_or_path!r} is a {model_type!r}; text-prompted masks need a CLIPSeg "
                         "(e.g. CIDAS/clipseg-rd64-refined) or Grounding DINO (e.g. IDEA-Research/grounding-dino-tiny)"
                         " checkpoint")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    processor = AutoProcessor.from_pretrained(name_or_path, revision=revision)
    if model_type == "clipseg":
        from transformers import CLIPSegForImageSegmentation

        model = CLIPSegForImageSegmentation.from_pretrained(name_or_path, revision=revision, use_safetensors=True)
        return ClipSegMasks(model.to(device), processor, 0.4 if threshold is None else threshold)
    from transformers import AutoModelForZeroShotObjectDetection

    model = AutoModelForZeroShotObjectDetection.from_pretrained(name_or_path, revision=revision, use_safetensors=True)
    return BoxMasks(model.to(device), processor, 0.3 if threshold is None else threshold)
