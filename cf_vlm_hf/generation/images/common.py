"""What the image strategies share: the job and result types, diffusion settings, working sizes.

A strategy takes a list of `ImageJob` and returns one `RenderedImage` per job, in order. It groups the jobs by
working size (a diffusion call needs one size) and calls its pipeline once per group, with one seeded CPU
``torch.Generator`` per image, so an image depends only on its job and on the other jobs of its call.

Minimal edits work on the anchor scaled to a working size (about ``resolution`` x ``resolution`` pixels, the
anchor's aspect ratio kept, sides a multiple of what the UNet needs) and are scaled back to the anchor's own size,
so an edit lines up with its anchor pixel for pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from ..captions.edit import CaptionEdit
from ..seeding import generator


@dataclass
class ImageJob:
    """One image to make.

    Attributes:
        prompt: the caption the image must show (a counterfactual caption, or what the edited anchor shows).
        seed: the seed of its diffusion noise.
        size: ``(width, height)`` to render a new image at (text-to-image); edits use ``image``'s size.
        image: the anchor image to edit (RGB), None for text-to-image.
        edit: the caption edit behind the job (its span, region and instruction).
        mask: where an inpainting edit may change the anchor: mode "L", the anchor's size, 255 = repaint.
        row_id: the row the job belongs to (named in errors).
    """

    prompt: str
    seed: int
    size: tuple[int, int] | None = None
    image: Image.Image | None = None
    edit: CaptionEdit | None = None
    mask: Image.Image | None = None
    row_id: str = ""


@dataclass
class RenderedImage:
    """A strategy's image for one job, with the strategy that made it and a note (e.g. a fallback)."""

    image: Image.Image
    strategy: str
    note: str | None = None


@dataclass
class DiffusionSettings:
    """Settings shared by every pipeline call.

    Attributes:
        num_inference_steps: denoising steps (img2img and inpainting run ``int(steps * strength)`` of them).
        guidance_scale: classifier-free guidance.
        negative_prompt: what the images must not show (None: none).
        resolution: side of the working size in pixels (None: the pipeline's default, 1024 for SDXL).
    """

    num_inference_steps: int = 30
    guidance_scale: float = 5.0
    negative_prompt: str | None = None
    resolution: int | None = None

    def __post_init__(self):
        if self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {self.num_inference_steps}")
        if self.resolution is not None and self.resolution < 8:
            raise ValueError(f"resolution must be >= 8 pixels, got {self.resolution}")


def check_strength(num_inference_steps: int, strength: float, flag: str) -> None:
    """ValueError unless ``int(steps * strength) >= 1`` (diffusers fails cryptically with no denoising step)."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"{flag} must be in (0, 1], got {strength}")
    if int(num_inference_steps * strength) < 1:
        raise ValueError(f"{flag}={strength} with {num_inference_steps} inference steps leaves no denoising step "
                         f"(int(steps * strength) = 0): raise the steps to at least {math.ceil(1 / strength)}")


def working_size(size: tuple[int, int], resolution: int, multiple: int) -> tuple[int, int]:
    """``(width, height)`` with about ``resolution**2`` pixels, the aspect ratio of ``size``, sides multiples of
    ``multiple`` (at least one multiple)."""
    width, height = size
    scale = resolution / math.sqrt(width * height)

    def snap(value: float) -> int:
        return max(multiple, int(round(value * scale / multiple)) * multiple)

    return snap(width), snap(height)


def groups_by_size(sizes: Sequence[tuple[int, int]]) -> dict[tuple[int, int], list[int]]:
    """Job positions grouped by size, groups in the order their first job appears."""
    groups: dict[tuple[int, int], list[int]] = {}
    for position, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(position)
    return groups


def generators(seeds: Sequence[int]):
    """One seeded CPU generator per image."""
    return [generator(seed) for seed in seeds]


def fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` resized to ``size`` (no-op when it already has it)."""
    return image if image.size == tuple(size) else image.resize(tuple(size), Image.Resampling.BICUBIC)
