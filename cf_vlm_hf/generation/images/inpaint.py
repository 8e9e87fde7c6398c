"""Minimal edits by inpainting: only the masked region of the anchor is repainted for the edited caption.

The mask comes from the job (a mask column of the input) or from a text-prompted segmenter run on the anchor
for the phrase the edit changes (``CaptionEdit.target``, e.g. "red car"), grown by ``mask_dilation`` pixels.
The pipeline repaints at the working size; its output is scaled back to the anchor's size and composited onto the
anchor with ``VaeImageProcessor.apply_overlay``, so every pixel outside the mask is exactly the anchor's (the VAE
round trip would otherwise change them all). A job with no usable mask (an edit with no region, such as a
relation, or a phrase the segmenter finds nowhere) goes to ``fallback`` (img2img by default) and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PIL import Image

from .common import (
    DiffusionSettings,
    ImageJob,
    RenderedImage,
    check_strength,
    fit,
    generators,
    groups_by_size,
    working_size,
)
from .masks import binary, dilate, is_empty
from .pipelines import DiffusionPipelines

Segmenter = Callable[[Sequence[Image.Image], Sequence[str]], list[Image.Image]]


class InpaintEdit:
    """Repaint the masked region of each job's ``image`` for its ``prompt``; outside the mask nothing changes.

    Args:
        pipelines: the shared pipelines (`DiffusionPipelines.inpaint`).
        settings: steps, guidance, working resolution.
        strength: how much of the masked region's content is replaced (0.99: nearly all, as SDXL inpainting is
            usually run).
        segmenter: ``(images, phrases) -> masks`` (`ClipSegMasks`, `BoxMasks`) for jobs without a mask of their own.
        mask_dilation: pixels a segmented mask grows by (so the repainted object's edges are covered).
        fallback: the strategy for jobs without a usable mask (None: those jobs get no image).
    """

    name = "inpaint"

    def __init__(self, pipelines: DiffusionPipelines, settings: DiffusionSettings | None = None,
                 strength: float = 0.99, segmenter: Segmenter | None = None, mask_dilation: int = 8,
                 fallback=None):
        self.pipelines = pipelines
        self.settings = settings or DiffusionSettings()
        check_strength(self.settings.num_inference_steps, strength, "--inpaint-strength")
        self.strength, self.segmenter = strength, segmenter
        self.mask_dilation, self.fallback = mask_dilation, fallback

    def masks(self, jobs: Sequence[ImageJob]) -> list[Image.Image | None]:
        """Each job's mask at its anchor's size: its own, else segmented for its edit's region, else None."""
        masks: list[Image.Image | None] = [binary(job.mask) if job.mask is not None else None for job in jobs]
        wanted = [i for i, job in enumerate(jobs)
                  if masks[i] is None and self.segmenter is not None and job.edit is not None and job.edit.target]
        if wanted:
            found = self.segmenter([jobs[i].image for i in wanted], [jobs[i].edit.target for i in wanted])
            for i, mask in zip(wanted, found):
                masks[i] = dilate(binary(mask), self.mask_dilation)
        return [None if is_empty(mask) else mask for mask in masks]

    def __call__(self, jobs: Sequence[ImageJob]) -> list[RenderedImage | None]:
        masks = self.masks(jobs)
        out: list[RenderedImage | None] = [None] * len(jobs)
        unmasked = [i for i, mask in enumerate(masks) if mask is None]
        if unmasked and self.fallback is not None:
            for i, rendered in zip(unmasked, self.fallback([jobs[i] for i in unmasked])):
                job = jobs[i]
                why = ("the edit has no single region" if job.edit is None or not job.edit.target
                       else f"no mask found for {job.edit.target!r}")
                rendered.note = f"inpaint fell back to {rendered.strategy}: {why}"
                out[i] = rendered
        masked = [i for i, mask in enumerate(masks) if mask is not None]
        s = self.settings
        resolution = s.resolution or self.pipelines.default_resolution
        sizes = [working_size(jobs[i].image.size, resolution, self.pipelines.size_multiple) for i in masked]
        pipe = self.pipelines.inpaint
        for (width, height), positions in groups_by_size(sizes).items():
            batch = [masked[p] for p in positions]
            images = pipe(
                prompt=[jobs[i].prompt for i in batch],
                negative_prompt=[s.negative_prompt] * len(batch) if s.negative_prompt else None,
                image=[fit(jobs[i].image, (width, height)) for i in batch],
                mask_image=[masks[i].resize((width, height), Image.Resampling.NEAREST) for i in batch],
                strength=self.strength,
                num_inference_steps=s.num_inference_steps,
                guidance_scale=s.guidance_scale,
                width=width,
                height=height,
                generator=generators([jobs[i].seed for i in batch]),
            ).images
            for i, image in zip(batch, images):
                anchor = jobs[i].image
                composed = pipe.image_processor.apply_overlay(masks[i], anchor, fit(image, anchor.size))
                out[i] = RenderedImage(composed, self.name)
        return out
