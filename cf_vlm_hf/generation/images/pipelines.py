"""`DiffusionPipelines`: one text-to-image pipeline and the edit pipelines built from its components.

img2img and inpainting pipelines come from ``AutoPipelineFor{Image2Image,Inpainting}.from_pipe(base)``: the same
UNet, VAE, text encoders and scheduler config, no second copy of the weights. InstructPix2Pix needs a UNet with
8 input channels (noise and image latents), so it brings its own UNet (``instruct_unet``) and shares everything
else with the base (``from_pipe(base, unet=...)``). A dedicated inpainting UNet (9 channels) can be shared in the
same way. The base's dtype is always passed to ``from_pipe``, which otherwise casts the shared modules to float32
in place.

>>> pipes = DiffusionPipelines.from_pretrained("stabilityai/stable-diffusion-xl-base-1.0")  # doctest: +SKIP
>>> pipes.img2img.unet is pipes.text_to_image.unet  # doctest: +SKIP
True
"""

from __future__ import annotations

import os
from functools import cached_property

import torch

# Base pipeline class -> its InstructPix2Pix counterpart (diffusers has no AutoPipeline for it).
_INSTRUCT_PIX2PIX = {
    "StableDiffusionXLPipeline": "StableDiffusionXLInstructPix2PixPipeline",
    "StableDiffusionPipeline": "StableDiffusionInstructPix2PixPipeline",
}


def _torch_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.float16 if str(device).startswith("cuda") else torch.float32
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ValueError(f"dtype must be auto, float32, float16 or bfloat16, got {dtype!r}")
    return getattr(torch, dtype)


def dtype_argument(torch_dtype: torch.dtype) -> dict:
    """``{"dtype": ...}`` where diffusers takes it (newer releases deprecate ``torch_dtype``), else ``torch_dtype``."""
    from diffusers.pipelines import pipeline_utils

    return {"dtype": torch_dtype} if hasattr(pipeline_utils, "_resolve_dtype") else {"torch_dtype": torch_dtype}


def load_unet(name_or_path: str, torch_dtype: torch.dtype, revision: str | None = None, variant: str | None = None):
    """A UNet from a pipeline folder or Hub id (its ``unet/`` subfolder) or from a UNet folder itself."""
    from diffusers import UNet2DConditionModel

    from ...models.loading import check_reference

    check_reference(name_or_path, "UNet")
    kwargs = dict(**dtype_argument(torch_dtype), revision=revision, variant=variant, use_safetensors=True)
    if os.path.isdir(name_or_path):
        has_subfolder = os.path.isfile(os.path.join(name_or_path, "unet", "config.json"))
        return UNet2DConditionModel.from_pretrained(name_or_path, subfolder="unet" if has_subfolder else None,
                                                    **kwargs).eval()
    try:
        return UNet2DConditionModel.from_pretrained(name_or_path, subfolder="unet", **kwargs).eval()
    except OSError:
        return UNet2DConditionModel.from_pretrained(name_or_path, **kwargs).eval()


class DiffusionPipelines:
    """A text-to-image pipeline with lazily built img2img, inpainting and InstructPix2Pix pipelines over it.

    Args:
        text_to_image: a diffusers text-to-image pipeline (SDXL, SD 1.x/2.x, ...), on its device.
        instruct_unet: the 8-channel InstructPix2Pix UNet (needed only by the instruct-pix2pix strategy).
        inpaint_unet: a dedicated inpainting UNet (default: inpaint with the base UNet).
        name: how the dataset card names the image model.
    """

    def __init__(self, text_to_image, instruct_unet=None, inpaint_unet=None, name: str | None = None):
        self.text_to_image = text_to_image
        self.instruct_unet, self.inpaint_unet = instruct_unet, inpaint_unet
        self.name = name or getattr(text_to_image, "name_or_path", None) or type(text_to_image).__name__
        text_to_image.set_progress_bar_config(disable=True)

    @classmethod
    def from_pretrained(cls, model: str, *, instruct_model: str | None = None, inpaint_model: str | None = None,
                        device: str | None = None, dtype: str | torch.dtype | None = "auto",
                        revision: str | None = None, variant: str | None = None) -> DiffusionPipelines:
        """Load the text-to-image pipeline ``model`` (Hub id or local folder; safetensors weights) on ``device``.

        ``instruct_model`` / ``inpaint_model``: a pipeline (its ``unet/``) or UNet folder or Hub id whose UNet the
        InstructPix2Pix / inpainting pipelines use; only that UNet is loaded.
        """
        from diffusers import AutoPipelineForText2Image

        from ...models.loading import check_reference

        check_reference(model, "image model")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = _torch_dtype(dtype, device)
        base = AutoPipelineForText2Image.from_pretrained(model, revision=revision, variant=variant,
                                                         use_safetensors=True, **dtype_argument(torch_dtype))
        base = base.to(device)
        instruct = load_unet(instruct_model, torch_dtype, revision, variant).to(device) if instruct_model else None
        inpaint = load_unet(inpaint_model, torch_dtype, revision, variant).to(device) if inpaint_model else None
        return cls(base, instruct_unet=instruct, inpaint_unet=inpaint, name=model)

    @property
    def dtype(self) -> torch.dtype:
        return self.text_to_image.unet.dtype

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this: the VAE's scale factor times the UNet's downsampling, and at
        least 8 (diffusers' pipelines check it)."""
        blocks = len(self.text_to_image.unet.config.block_out_channels)
        return max(8, int(self.text_to_image.vae_scale_factor) * 2 ** (blocks - 1))

    @property
    def default_resolution(self) -> int:
        """The side the pipeline was trained at (its UNet's sample size times the VAE's scale factor)."""
        base = self.text_to_image
        sample = getattr(base, "default_sample_size", None) or base.unet.config.sample_size
        return int(sample) * int(base.vae_scale_factor)

    def _derived(self, pipe):
        pipe.set_progress_bar_config(disable=True)
        return pipe

    @cached_property
    def img2img(self):
        from diffusers import AutoPipelineForImage2Image

        return self._derived(AutoPipelineForImage2Image.from_pipe(self.text_to_image,
                                                                       **dtype_argument(self.dtype)))

    @cached_property
    def inpaint(self):
        from diffusers import AutoPipelineForInpainting

        extra = {"unet": self.inpaint_unet} if self.inpaint_unet is not None else {}
        return self._derived(AutoPipelineForInpainting.from_pipe(self.text_to_image, **dtype_argument(self.dtype),
                                                                      **extra))

    @cached_property
    def instruct_pix2pix(self):
        import diffusers

        base_class = type(self.text_to_image).__name__
        if base_class not in _INSTRUCT_PIX2PIX:
            raise ValueError(f"no InstructPix2Pix pipeline for a {base_class}; use another edit strategy "
                             f"(InstructPix2Pix exists for {sorted(_INSTRUCT_PIX2PIX)})")
        if self.instruct_unet is None:
            raise ValueError("the instruct-pix2pix strategy needs an InstructPix2Pix UNet: pass --instruct-model (e.g. "
                             "diffusers/sdxl-instructpix2pix-768 for SDXL, timbrooks/instruct-pix2pix for SD 1.5)")
        channels = self.instruct_unet.config.in_channels
        if channels != 8:
            raise ValueError(f"the InstructPix2Pix UNet has {channels} input channels; it needs 8 (noise latents and "
                             "image latents): --instruct-model must be an InstructPix2Pix checkpoint")
        pipe_class = getattr(diffusers, _INSTRUCT_PIX2PIX[base_class])
        return self._derived(pipe_class.from_pipe(self.text_to_image, unet=self.instruct_unet,
                                                  **dtype_argument(self.dtype)))
