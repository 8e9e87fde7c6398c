"""Minimal edits by InstructPix2Pix: the anchor edited by an instruction derived from the caption edit.

The instruction is the `CaptionEdit`'s own ("make the car blue", "turn the dog into a cat") or, for an edit
without one, "replace OLD with NEW" from its span. The pipeline shares the base pipeline's VAE, text encoders and
scheduler and brings only its 8-channel UNet (`DiffusionPipelines.instruct_pix2pix`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from .common import DiffusionSettings, ImageJob, RenderedImage, fit, generators, groups_by_size, working_size
from .pipelines import DiffusionPipelines


def instruction(job: ImageJob) -> str:
    """The instruction of a job: its edit's instruction, else "make it show: PROMPT"."""
    return job.edit.edit_instruction() if job.edit is not None else f"make it show: {job.prompt}"


class InstructPix2PixEdit:
    """Edit each job's ``image`` by the instruction of its edit; ``image_guidance_scale`` is how closely the
    result follows the anchor (higher: closer)."""

    name = "instruct-pix2pix"

    def __init__(self, pipelines: DiffusionPipelines, settings: DiffusionSettings | None = None,
                 image_guidance_scale: float = 1.5):
        if image_guidance_scale < 1.0:
            raise ValueError(f"image_guidance_scale must be >= 1, got {image_guidance_scale}")
        self.pipelines = pipelines
        self.settings = settings or DiffusionSettings()
        self.image_guidance_scale = image_guidance_scale
        pipe = pipelines.instruct_pix2pix  # fails now, with the reason, if no InstructPix2Pix UNet was given
        self.takes_size = "width" in inspect.signature(pipe.__call__).parameters  # SD 1.x uses the image's size

    def __call__(self, jobs: Sequence[ImageJob]) -> list[RenderedImage]:
        s = self.settings
        resolution = s.resolution or self.pipelines.default_resolution
        sizes = [working_size(job.image.size, resolution, self.pipelines.size_multiple) for job in jobs]
        out: list[RenderedImage | None] = [None] * len(jobs)
        for (width, height), positions in groups_by_size(sizes).items():
            batch = [jobs[p] for p in positions]
            size = dict(width=width, height=height) if self.takes_size else {}
            images = self.pipelines.instruct_pix2pix(
                prompt=[instruction(job) for job in batch],
                negative_prompt=[s.negative_prompt] * len(batch) if s.negative_prompt else None,
                image=[fit(job.image, (width, height)) for job in batch],
                num_inference_steps=s.num_inference_steps,
                guidance_scale=s.guidance_scale,
                image_guidance_scale=self.image_guidance_scale,
                generator=generators([job.seed for job in batch]),
                **size,
            ).images
            for position, job, image in zip(positions, batch, images):
                out[position] = RenderedImage(fit(image, job.image.size), self.name)
        return out
