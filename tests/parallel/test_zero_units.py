"""Without processes: `cf_vlm_hf.parallel.zero` (scalar parameters promoted for DeepSpeed, saved and loaded at
shape ()), the logit scale read inside the forward, and the deepspeed launcher's ``--local_rank``."""

import os

import pytest
import torch
from testing_utils import make_rows, tiny_clip

from cf_vlm_hf.models.dual_encoder import DualEncoderScorer, logit_parameters
from cf_vlm_hf.parallel.zero import (
    check_zero3_gathers_weights,
    has_scalar_parameters,
    promote_scalar_parameters,
    promoted_scalar_names,
    restore_scalar_shapes,
)


def test_promoted_logit_scale_trains_as_1d_and_saves_as_scalar():
    model, _ = tiny_clip(seed=0)
    before = model.logit_scale.detach().clone()
    assert promote_scalar_parameters(model) == ["logit_scale"]
    assert promote_scalar_parameters(model) == []  # idempotent
    assert promoted_scalar_names(model) == ["logit_scale"]
    assert tuple(model.logit_scale.shape) == (1,) and model.logit_scale.requires_grad
    assert model.logit_scale.item() == before.item()
    assert not [n for n, p in model.named_parameters() if p.dim() == 0]

    state = model.state_dict()
    assert tuple(state["logit_scale"].shape) == ()  # the checkpoint keeps CLIP's own shape
    model.load_state_dict(state)  # and a shape-() value loads back into the (1,) parameter
    assert tuple(model.logit_scale.shape) == (1,)
    # A state dict built elsewhere (ZeRO-3 consolidates without state_dict()) is reshaped by name.
    fixed = restore_scalar_shapes({"logit_scale": torch.ones(1), "other": torch.ones(1)}, model)
    assert tuple(fixed["logit_scale"].shape) == () and tuple(fixed["other"].shape) == (1,)


def test_promoted_model_scores_and_saves_like_the_original(tmp_path):
    from transformers import CLIPModel

    from cf_vlm_hf.models.dual_encoder import CounterfactualCollator

    model, processor = tiny_clip(seed=0)
    batch = CounterfactualCollator(processor)(make_rows(4))
    scorer = DualEncoderScorer()
    model.eval()
    with torch.no_grad():
        original = scorer.score(model, batch)
        promote_scalar_parameters(model)
        promoted = scorer.score(model, batch)
    torch.testing.assert_close(promoted.anchor, original.anchor)
    assert scorer.alignment_loss(promoted).item() == pytest.approx(scorer.alignment_loss(original).item(), abs=1e-6)
    model.save_pretrained(tmp_path)
    loaded = CLIPModel.from_pretrained(tmp_path)
    assert tuple(loaded.logit_scale.shape) == ()
    assert loaded.logit_scale.item() == pytest.approx(model.logit_scale.item())


def test_logit_scale_is_read_inside_the_forward_and_gets_its_gradient():
    model, processor = tiny_clip(seed=0)
    from cf_vlm_hf.models.dual_encoder import CounterfactualCollator

    batch = CounterfactualCollator(processor)(make_rows(4))
    scorer = DualEncoderScorer()
    scores = scorer.score(model, batch)
    scale = scores.alignment_inputs["logit_scale"]
    assert scale.item() == pytest.approx(model.logit_scale.exp().item())
    assert scale.grad_fn is not None  # computed from the parameter during the forward, not a detached copy
    scorer.alignment_loss(scores).backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad.abs().item() > 0
    assert logit_parameters(torch.nn.Linear(2, 2)) == {"logit_scale": None, "logit_bias": None}


def test_scalar_parameter_detection_builds_nothing_real():
    from testing_utils import tiny_siglip
    from transformers import AutoModel, SiglipModel

    clip, _ = tiny_clip(seed=0)
    siglip, _ = tiny_siglip(seed=0)
    assert has_scalar_parameters(AutoModel, clip.config)  # logit_scale is 0-dim
    assert not has_scalar_parameters(AutoModel, siglip.config)  # SigLIP's scale and bias are (1,)
    assert isinstance(siglip, SiglipModel)


def test_zero3_without_gathered_save_is_refused():
    from types import SimpleNamespace

    def accelerator(stage, **zero):
        plugin = SimpleNamespace(zero_stage=stage, deepspeed_config={"zero_optimization": {"stage": stage, **zero}})
        return SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=plugin))

    with pytest.raises(ValueError, match="stage3_gather_16bit_weights_on_model_save.*in my/zero3.json"):
        check_zero3_gathers_weights(accelerator(3), "my/zero3.json")
    check_zero3_gathers_weights(accelerator(3, stage3_gather_16bit_weights_on_model_save=True), "my/zero3.json")
    check_zero3_gathers_weights(accelerator(2), "my/zero2.json")  # only ZeRO-3 shards the weights
    check_zero3_gathers_weights(SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=None)))  # no DeepSpeed


def test_deepspeed_launchers_local_rank_before_the_subcommand_is_accepted(monkeypatch, capsys):
    from cf_vlm_hf.cli import main

    monkeypatch.setenv("LOCAL_RANK", "0")  # recorded, so that teardown removes what `main` sets
    monkeypatch.delenv("LOCAL_RANK")
    assert main(["--local_rank=1", "train", "--help"]) == 0  # what `deepspeed ... --module cf_vlm_hf.cli train` runs
    assert "usage: cf-vlm train" in capsys.readouterr().out
    assert os.environ["LOCAL_RANK"] == "1"
    assert main(["--local_rank", "x", "train"]) == 2
    assert "--local_rank needs an integer, got 'x'" in capsys.readouterr().err
