"""`GenerationSettings`: every knob of a corpus build (the flags of ``cf-vlm generate --input ...``), checked once.

The settings that decide the bytes of the corpus (``record()``) are stored with the build: a restarted build
continues only with the same ones, and the dataset card lists them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

EDIT_STRATEGIES = ("img2img", "inpaint", "instruct-pix2pix")
ON_ERROR = ("raise", "skip")
DEFAULT_IMAGE_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
# Settings that change nothing in the corpus (where it is published, how it is shown): not part of record().
_NOT_RECORDED = ("progress", "overwrite", "push_to_hub", "hub_repo_id", "hub_private", "device")


@dataclass
class GenerationSettings:
    """Settings of a counterfactual corpus build.

    > Input

    Parameters:
        split: the split of a dataset input.
        image_column, caption_column, id_column: input columns of the image, its caption and the row id (a row
            without an id is named by its position).
        mask_column: input column of an inpainting mask per row (255 = may be repainted), or None.
        image_root: the folder relative image paths start from (default: the input file's folder).
        max_rows: build from the first ``max_rows`` input rows only.
        on_error: "raise" stops at the first bad input row, naming it; "skip" leaves it out and lists it.

    > Captions

    Parameters:
        text_editor: "rules" or "llm:MODEL" (a chat model's Hub id or folder).
        edit_types: the edit types to make (default: all the editor knows).
        num_counterfactuals: K, complete counterfactual pairs per row.
        num_edits: M, minimal edits of the anchor image per row.
        num_negative_captions: N, extra caption-only rewrites per row (``negative_captions``).
        llm_max_new_tokens, llm_batch_size, llm_max_retries, llm_max_changed_words, llm_temperature: the LLM
            editor's reply length, captions per ``generate`` call, re-asks of rejected rewrites, the most words one
            edit may change, sampling temperature (0: greedy).

    > Images

    Parameters:
        image_model: the text-to-image diffusers pipeline (Hub id or folder); edit pipelines share its weights.
        edit_strategies: minimal-edit strategies, among "img2img", "inpaint", "instruct-pix2pix".
        instruct_model: the InstructPix2Pix checkpoint whose UNet the instruct-pix2pix strategy uses.
        inpaint_model: a dedicated inpainting checkpoint's UNet (default: inpaint with the base UNet).
        mask_model: a CLIPSeg or Grounding DINO checkpoint segmenting the phrase an edit changes.
        mask_threshold, mask_dilation: the segmenter's threshold; pixels a segmented mask grows by.
        num_inference_steps, guidance_scale, negative_prompt, resolution: diffusion settings (resolution: side of
            the working size; default: the pipeline's).
        img2img_strength, inpaint_strength, image_guidance_scale: per-strategy settings.
        variant, dtype, device: how the pipelines load ("fp16" weights, "auto" = float16 on GPU, the device).

    > Quality filter

    Parameters:
        filter_model: a checkpoint (dual encoder or generative VLM); an image is kept only if it scores its own
            caption higher than the anchor caption by ``filter_margin``. None: keep every image.
        filter_margin, filter_score: the margin; a generative filter's score ("caption-likelihood" or
            "yes-probability").

    > Build

    Parameters:
        seed: the build's seed; each row's seed derives from it and the row id.
        batch_size: rows per pipeline call.
        rows_per_shard: rows per parquet shard (also the most rows a process holds at once).
        overwrite: start over, deleting what an earlier build wrote to the output folder.
        progress: show a progress bar.
        push_to_hub, hub_repo_id, hub_private: publish the folder as a dataset repository at the end.
    """

    split: str = "train"
    image_column: str = "image"
    caption_column: str = "caption"
    id_column: str = "id"
    mask_column: str | None = None
    image_root: str | None = None
    max_rows: int | None = None
    on_error: str = "raise"

    text_editor: str = "rules"
    edit_types: list[str] | None = None
    num_counterfactuals: int = 1
    num_edits: int = 1
    num_negative_captions: int = 0
    llm_max_new_tokens: int = 192
    llm_batch_size: int = 8
    llm_max_retries: int = 2
    llm_max_changed_words: int = 3
    llm_temperature: float = 0.0

    image_model: str = DEFAULT_IMAGE_MODEL
    edit_strategies: list[str] = field(default_factory=lambda: ["img2img"])
    instruct_model: str | None = None
    inpaint_model: str | None = None
    mask_model: str | None = None
    mask_threshold: float | None = None
    mask_dilation: int = 8
    num_inference_steps: int = 30
    guidance_scale: float = 5.0
    negative_prompt: str | None = None
    resolution: int | None = None
    img2img_strength: float = 0.4
    inpaint_strength: float = 0.99
    image_guidance_scale: float = 1.5
    variant: str | None = None
    dtype: str = "auto"
    device: str | None = None

    filter_model: str | None = None
    filter_margin: float = 0.0
    filter_score: str = "caption-likelihood"

    seed: int = 0
    batch_size: int = 4
    rows_per_shard: int = 256
    overwrite: bool = False
    progress: bool = True
    push_to_hub: bool = False
    hub_repo_id: str | None = None
    hub_private: bool | None = None

    def __post_init__(self):
        if not (self.text_editor == "rules" or (self.text_editor.startswith("llm:") and len(self.text_editor) > 4)):
            raise ValueError(f"text_editor must be 'rules' or 'llm:MODEL' (a chat model), got {self.text_editor!r}")
        for name in ("num_counterfactuals", "num_edits", "num_negative_captions", "mask_dilation", "llm_max_retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("batch_size", "rows_per_shard", "num_inference_steps", "llm_batch_size", "llm_max_new_tokens",
                     "llm_max_changed_words"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_rows is not None and self.max_rows < 0:
            raise ValueError(f"max_rows must be >= 0, got {self.max_rows}")
        self.edit_strategies = list(dict.fromkeys(self.edit_strategies or []))
        unknown = [s for s in self.edit_strategies if s not in EDIT_STRATEGIES]
        if unknown:
            raise ValueError(f"unknown edit strategy {unknown}; choose from {list(EDIT_STRATEGIES)}")
        if self.num_edits and not self.edit_strategies:
            raise ValueError("minimal edits (num_edits > 0) need at least one edit strategy")
        if self.num_edits and "inpaint" in self.edit_strategies and not (self.mask_column or self.mask_model):
            raise ValueError("the inpaint strategy needs masks: give a mask column (--mask-column) or a text-prompted "
                             "segmentation model (--mask-model, e.g. CIDAS/clipseg-rd64-refined)")
        if self.num_edits and "instruct-pix2pix" in self.edit_strategies and not self.instruct_model:
            raise ValueError("the instruct-pix2pix strategy needs --instruct-model (e.g. "
                             "diffusers/sdxl-instructpix2pix-768 for SDXL, timbrooks/instruct-pix2pix for SD 1.5)")
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")
        if self.push_to_hub and not self.hub_repo_id:
            raise ValueError("push_to_hub needs a repository id (--hub-repo-id NAMESPACE/NAME)")

    @property
    def needs_images(self) -> bool:
        return bool(self.num_counterfactuals or self.num_edits)

    def record(self) -> dict:
        """The settings that decide the corpus's bytes (stored with the build, shown on the card)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in _NOT_RECORDED}
