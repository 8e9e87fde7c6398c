"""Images for the corpus with diffusers: complete counterfactuals and minimal edits, masks, the quality filter.

One strategy per module: `TextToImage` (text_to_image.py), `Img2ImgEdit` (img2img.py), `InpaintEdit`
(inpaint.py), `InstructPix2PixEdit` (instruct_pix2pix.py), all over one `DiffusionPipelines` (pipelines.py) whose
edit pipelines share the text-to-image pipeline's weights; text-prompted masks in masks.py; `ImageTextFilter`
(filters.py) scores images through the project's scorers.
"""

from .common import DiffusionSettings, ImageJob, RenderedImage, check_strength, working_size
from .filters import FilterVerdict, ImageTextFilter
from .img2img import Img2ImgEdit
from .inpaint import InpaintEdit
from .instruct_pix2pix import InstructPix2PixEdit
from .masks import BoxMasks, ClipSegMasks, load_segmenter, mask_from_value
from .pipelines import DiffusionPipelines
from .text_to_image import TextToImage

__all__ = [
    "BoxMasks",
    "ClipSegMasks",
    "DiffusionPipelines",
    "DiffusionSettings",
    "FilterVerdict",
    "ImageJob",
    "ImageTextFilter",
    "Img2ImgEdit",
    "InpaintEdit",
    "InstructPix2PixEdit",
    "RenderedImage",
    "TextToImage",
    "check_strength",
    "load_segmenter",
    "mask_from_value",
    "working_size",
]
