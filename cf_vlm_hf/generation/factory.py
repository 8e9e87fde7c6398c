"""From `GenerationSettings` to a ready `CounterfactualGenerator`: load the editor, pipelines, segmenter and filter.

Only what the settings use is loaded: no diffusion pipeline when K = M = 0, no segmenter without inpainting, and
the edit pipelines are built from the text-to-image pipeline's components (`DiffusionPipelines`).
"""

from __future__ import annotations

from .captions import LLMEditor, RulesEditor
from .counterfactuals import CounterfactualGenerator
from .settings import GenerationSettings


def make_editor(settings: GenerationSettings, device: str | None = None):
    """The caption editor of ``settings.text_editor``."""
    if settings.text_editor == "rules":
        return RulesEditor(settings.edit_types)
    kwargs = {}
    if settings.llm_temperature > 0:
        kwargs = dict(do_sample=True, temperature=settings.llm_temperature)
    return LLMEditor.from_pretrained(
        settings.text_editor[len("llm:") :], edit_types=settings.edit_types, max_retries=settings.llm_max_retries,
        max_changed_words=settings.llm_max_changed_words, device=device, max_new_tokens=settings.llm_max_new_tokens,
        batch_size=settings.llm_batch_size, **kwargs,
    )


def make_strategies(settings: GenerationSettings, device: str | None = None):
    """(text-to-image strategy or None, list of edit strategies) over one `DiffusionPipelines`."""
    if not settings.needs_images:
        return None, []
    from .images import (
        DiffusionPipelines,
        DiffusionSettings,
        Img2ImgEdit,
        InpaintEdit,
        InstructPix2PixEdit,
        TextToImage,
        load_segmenter,
    )

    wants = set(settings.edit_strategies) if settings.num_edits else set()
    pipelines = DiffusionPipelines.from_pretrained(
        settings.image_model, instruct_model=settings.instruct_model if "instruct-pix2pix" in wants else None,
        inpaint_model=settings.inpaint_model if "inpaint" in wants else None, device=device, dtype=settings.dtype,
        variant=settings.variant,
    )
    diffusion = DiffusionSettings(settings.num_inference_steps, settings.guidance_scale, settings.negative_prompt,
                                  settings.resolution)
    text_to_image = TextToImage(pipelines, diffusion) if settings.num_counterfactuals else None
    strategies = []
    for name in settings.edit_strategies if settings.num_edits else []:
        if name == "img2img":
            strategies.append(Img2ImgEdit(pipelines, diffusion, settings.img2img_strength))
        elif name == "inpaint":
            segmenter = (load_segmenter(settings.mask_model, device=device, threshold=settings.mask_threshold)
                         if settings.mask_model else None)
            strategies.append(InpaintEdit(pipelines, diffusion, settings.inpaint_strength, segmenter,
                                          settings.mask_dilation, Img2ImgEdit(pipelines, diffusion,
                                                                              settings.img2img_strength)))
        else:
            strategies.append(InstructPix2PixEdit(pipelines, diffusion, settings.image_guidance_scale))
    return text_to_image, strategies


def make_generator(settings: GenerationSettings, device: str | None = None) -> CounterfactualGenerator:
    """Everything ``settings`` asks for, loaded on ``device``."""
    editor = make_editor(settings, device)
    text_to_image, strategies = make_strategies(settings, device)
    quality_filter = None
    if settings.filter_model:
        from .images import ImageTextFilter

        quality_filter = ImageTextFilter.from_pretrained(settings.filter_model, device=device,
                                                         margin=settings.filter_margin,
                                                         generative_score=settings.filter_score)
    return CounterfactualGenerator(editor, text_to_image, strategies, settings.num_counterfactuals, settings.num_edits,
                                   settings.num_negative_captions, quality_filter, settings.seed)
