"""Complete counterfactuals: a text-to-image pipeline renders each counterfactual caption as a new scene."""

from __future__ import annotations

from collections.abc import Sequence

from .common import DiffusionSettings, ImageJob, RenderedImage, generators, groups_by_size, working_size
from .pipelines import DiffusionPipelines


class TextToImage:
    """Render each job's ``prompt`` with the base pipeline, at the working size for the aspect ratio of the job's
    ``size`` (its anchor's): one call per working size, one seed per image.

    >>> render = TextToImage(pipelines, DiffusionSettings(num_inference_steps=30))      # doctest: +SKIP
    >>> render([ImageJob("a blue car next to a bus", seed=1, size=(640, 480))])[0].image.size  # doctest: +SKIP
    (1184, 896)
    """

    name = "text-to-image"

    def __init__(self, pipelines: DiffusionPipelines, settings: DiffusionSettings | None = None):
        self.pipelines = pipelines
        self.settings = settings or DiffusionSettings()

    def __call__(self, jobs: Sequence[ImageJob]) -> list[RenderedImage]:
        out: list[RenderedImage | None] = [None] * len(jobs)
        s = self.settings
        resolution = s.resolution or self.pipelines.default_resolution
        sizes = [working_size(job.size, resolution, self.pipelines.size_multiple) for job in jobs]
        for (width, height), positions in groups_by_size(sizes).items():
            batch = [jobs[p] for p in positions]
            images = self.pipelines.text_to_image(
                prompt=[job.prompt for job in batch],
                negative_prompt=[s.negative_prompt] * len(batch) if s.negative_prompt else None,
                num_inference_steps=s.num_inference_steps,
                guidance_scale=s.guidance_scale,
                width=width,
                height=height,
                generator=generators([job.seed for job in batch]),
            ).images
            for position, image in zip(positions, images):
                out[position] = RenderedImage(image, self.name)
        return out
