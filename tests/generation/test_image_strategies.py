"""Each image strategy on tiny SDXL pipelines: sizes, shared weights, seeds, and inpainting that leaves every pixel
outside its mask as it was."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from testing_utils.diffusion import tiny_sdxl, tiny_unet
from testing_utils.segmentation import tiny_clipseg

from cf_vlm_hf.generation.captions import RULES, RulesEditor
from cf_vlm_hf.generation.images import (
    ClipSegMasks,
    DiffusionPipelines,
    DiffusionSettings,
    ImageJob,
    Img2ImgEdit,
    InpaintEdit,
    InstructPix2PixEdit,
    TextToImage,
    check_strength,
    working_size,
)
from cf_vlm_hf.generation.images.instruct_pix2pix import instruction

SETTINGS = DiffusionSettings(num_inference_steps=2, guidance_scale=5.0, resolution=64)


@pytest.fixture(scope="module")
def pipelines():
    torch.set_num_threads(1)
    return DiffusionPipelines(tiny_sdxl(), instruct_unet=tiny_unet(8))


@pytest.fixture(scope="module")
def cat():
    return Image.fromarray(data.chelsea()).resize((90, 60))  # a real photograph, 3:2


@pytest.fixture(scope="module")
def edits():
    return RulesEditor().edit("a brown cat sitting on a table", 3, seed=0).edits


def as_array(image):
    return np.asarray(image).astype(int)


def test_working_size_keeps_the_aspect_ratio_in_multiples():
    assert working_size((640, 480), 1024, 32) == (1184, 896)
    assert working_size((90, 60), 64, 8) == (80, 56)
    assert working_size((1000, 10), 64, 8) == (640, 8)  # at least one multiple per side


def test_no_denoising_step_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"--img2img-strength=0.3 with 2 inference steps leaves no denoising step.*"
                                         r"at least 4"):
        check_strength(2, 0.3, "--img2img-strength")
    with pytest.raises(ValueError, match="must be in"):
        check_strength(10, 0.0, "--inpaint-strength")


def test_edit_pipelines_share_the_base_weights(pipelines):
    base = pipelines.text_to_image
    assert pipelines.img2img.unet is base.unet and pipelines.img2img.vae is base.vae
    assert pipelines.inpaint.unet is base.unet and pipelines.inpaint.text_encoder_2 is base.text_encoder_2
    ip2p = pipelines.instruct_pix2pix
    assert ip2p.unet is pipelines.instruct_unet and ip2p.unet is not base.unet
    assert ip2p.vae is base.vae and ip2p.text_encoder is base.text_encoder and ip2p.tokenizer is base.tokenizer
    shared = {id(p) for p in base.unet.parameters()}
    assert shared == {id(p) for p in pipelines.img2img.unet.parameters()}  # no second copy of the weights
    assert pipelines.size_multiple == 8 and pipelines.default_resolution == 64


def test_from_pipe_keeps_the_base_dtype():
    pipes = DiffusionPipelines(tiny_sdxl().to(torch.bfloat16))
    assert pipes.img2img.unet.dtype == torch.bfloat16 and pipes.text_to_image.vae.dtype == torch.bfloat16


def test_text_to_image_renders_at_the_working_size_and_follows_the_seed(pipelines, edits):
    render = TextToImage(pipelines, SETTINGS)
    jobs = [ImageJob(e.caption, seed=10 + i, size=(90, 60)) for i, e in enumerate(edits)]
    first, second = render(jobs), render(jobs)
    assert [r.image.size for r in first] == [(80, 56)] * 3 and {r.strategy for r in first} == {"text-to-image"}
    assert [r.image.tobytes() for r in first] == [r.image.tobytes() for r in second]  # same seeds, same bytes
    reseeded = render([ImageJob(j.prompt, seed=j.seed + 100, size=j.size) for j in jobs])
    assert all(a.image.tobytes() != b.image.tobytes() for a, b in zip(first, reseeded))
    mixed = render([jobs[0], ImageJob("a cat", seed=1, size=(60, 90))])  # two sizes: two calls
    assert [r.image.size for r in mixed] == [(80, 56), (56, 80)]


def test_img2img_edits_at_the_anchor_size(pipelines, cat, edits):
    edit = Img2ImgEdit(pipelines, SETTINGS, strength=0.5)
    jobs = [ImageJob(e.caption, seed=i, image=cat, edit=e) for i, e in enumerate(edits)]
    out = edit(jobs)
    assert [r.image.size for r in out] == [cat.size] * 3
    assert [r.image.tobytes() for r in out] == [r.image.tobytes() for r in edit(jobs)]
    assert not np.array_equal(as_array(out[0].image), as_array(cat))


def test_inpainting_with_a_mask_leaves_every_pixel_outside_it_identical(pipelines, cat, edits):
    mask = Image.new("L", cat.size, 0)
    mask.paste(255, (30, 10, 70, 50))
    inpaint = InpaintEdit(pipelines, SETTINGS, strength=0.99)
    jobs = [ImageJob(e.caption, seed=i, image=cat, edit=e, mask=mask) for i, e in enumerate(edits)]
    out = inpaint(jobs)
    keep = np.asarray(mask) == 0
    for rendered in out:
        assert rendered.strategy == "inpaint" and rendered.image.size == cat.size
        assert np.array_equal(as_array(rendered.image)[keep], as_array(cat)[keep])
        assert (as_array(rendered.image)[~keep] != as_array(cat)[~keep]).mean() > 0.5  # the inside was repainted
    assert [r.image.tobytes() for r in out] == [r.image.tobytes() for r in inpaint(jobs)]


def test_inpainting_segments_the_edited_phrase(pipelines, cat, edits):
    model, processor = tiny_clipseg()
    segmenter = ClipSegMasks(model, processor, threshold=0.5)
    fallback = Img2ImgEdit(pipelines, SETTINGS, strength=0.5)
    inpaint = InpaintEdit(pipelines, SETTINGS, segmenter=segmenter, mask_dilation=0, fallback=fallback)
    jobs = [ImageJob(e.caption, seed=i, image=cat, edit=e) for i, e in enumerate(edits)]
    masks = inpaint.masks(jobs)
    for job, mask in zip(jobs, masks):
        if job.edit.target is None:
            assert mask is None
        else:  # the mask is CLIPSeg's thresholded probability for the edit's region, at the anchor's size
            probabilities = segmenter.probabilities([cat], [job.edit.target])[0]
            expected = probabilities.numpy() > 0.5
            assert mask is None if not expected.any() else np.array_equal(np.asarray(mask) > 0, expected)
    out = inpaint(jobs)
    for job, mask, rendered in zip(jobs, masks, out):
        if mask is None:
            assert rendered.strategy == "img2img" and rendered.note.startswith("inpaint fell back to img2img")
        else:
            keep = np.asarray(mask) == 0
            assert rendered.strategy == "inpaint"
            assert np.array_equal(as_array(rendered.image)[keep], as_array(cat)[keep])
    assert any(m is not None for m in masks) and any(m is None for m in masks)


def test_instruct_pix2pix_follows_the_instruction_of_the_edit(pipelines, cat, edits):
    edit = InstructPix2PixEdit(pipelines, SETTINGS, image_guidance_scale=1.5)
    jobs = [ImageJob(e.caption, seed=i, image=cat, edit=e) for i, e in enumerate(edits)]
    out = edit(jobs)
    assert [r.image.size for r in out] == [cat.size] * 3
    assert [r.image.tobytes() for r in out] == [r.image.tobytes() for r in edit(jobs)]
    dog = RULES["object"]("a cat on a table")[0]
    assert instruction(ImageJob(dog.caption, 0, image=cat, edit=dog)) == "turn the cat into a dog"
    under = RULES["relation"]("a cat on a table")[0]  # no instruction of its own: one from the span
    assert instruction(ImageJob(under.caption, 0, image=cat, edit=under)) == "replace on with under"
    assert instruction(ImageJob("a cat", 0, image=cat)) == "make it show: a cat"


def test_instruct_pix2pix_needs_an_8_channel_unet():
    with pytest.raises(ValueError, match="needs an InstructPix2Pix UNet: pass --instruct-model"):
        InstructPix2PixEdit(DiffusionPipelines(tiny_sdxl()), SETTINGS)
    with pytest.raises(ValueError, match="has 4 input channels; it needs 8"):
        InstructPix2PixEdit(DiffusionPipelines(tiny_sdxl(), instruct_unet=tiny_unet(4)), SETTINGS)
