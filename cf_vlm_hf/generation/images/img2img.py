"""Minimal edits by img2img: the anchor, noised at a low strength and denoised towards the edited caption.

A low ``strength`` keeps the layout and most details of the anchor (only the last ``int(steps * strength)``
denoising steps run); the whole image may change a little, unlike inpainting.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from .pipelines import DiffusionPipelines


class Img2ImgEdit:
    """Edit each job's ``image`` towards its ``prompt`` (the edited caption) at ``strength``; the result has the
    anchor's size."""

    name = "img2img"

    def __init__(self, pipelines: DiffusionPipelines, settings: DiffusionSettings | None = None,
                 strength: float = 0.4):
        self.pipelines = pipelines
        self.settings = settings or DiffusionSettings()
        check_strength(self.settings.num_inference_steps, strength, "--img2img-strength")
        self.strength = strength

    def __call__(self, jobs: Sequence[ImageJob]) -> list[RenderedImage]:
        s = self.settings
        resolution = s.resolution or self.pipelines.default_resolution
        sizes = [working_size(job.image.size, resolution, self.pipelines.size_multiple) for job in jobs]
        out: list[RenderedImage | None] = [None] * len(jobs)
        for (width, height), positions in groups_by_size(sizes).items():
            batch = [jobs[p] for p in positions]
            images = self.pipelines.img2img(
                prompt=[job.prompt for job in batch],
                negative_prompt=[s.negative_prompt] * len(batch) if s.negative_prompt else None,
                image=[fit(job.image, (width, height)) for job in batch],
                strength=self.strength,
                num_inference_steps=s.num_inference_steps,
                guidance_scale=s.guidance_scale,
                generator=generators([job.seed for job in batch]),
            ).images
            for position, job, image in zip(positions, batch, images):
                out[position] = RenderedImage(fit(image, job.image.size), self.name)
        return out
