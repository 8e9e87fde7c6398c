"""Every recipe parses into the config classes; the dual-encoder ones start; the DeepSpeed/accelerate configs hold."""

import glob
import json
import math
import os

import pytest
import yaml
from testing_utils import REPO as REPO_PATH
from testing_utils import make_rows, tiny_clip, tiny_siglip

from cf_vlm_hf.cli import main
from cf_vlm_hf.commands.train_args import DataArguments, ModelArguments, parse_train_args

REPO = str(REPO_PATH)
RECIPES = sorted(glob.glob(os.path.join(REPO, "recipes", "*.yaml")))
# The 7B generative recipes run ZeRO-3 in bf16 on GPUs: here they are parsed (a tiny LLaVA trains with LoRA through
# `cf-vlm train` in tests/test_cli.py).
PARSE_ONLY = {"qwen2.5-vl-7b-lora.yaml", "llava-1.5-7b-lora.yaml"}
# Runnable recipes start here with a tiny local model (and corpus) in place of their Hub ids.
RUNNABLE = {"shapes-world.yaml": "clip", "clip-vit-b32.yaml": "clip", "siglip-base.yaml": "siglip"}


def parse(recipe, tmp_path, *flags):
    """The recipe's three dataclasses; bf16 recipes need --use_cpu on a machine without a GPU."""
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    with open(recipe, encoding="utf-8") as f:
        if "deepspeed" in yaml.safe_load(f):
            pytest.importorskip("deepspeed")  # TrainingArguments reads the DeepSpeed config with DeepSpeed
    try:
        return parse_train_args(["--config", recipe, "--output_dir", str(tmp_path), "--use_cpu", "True", *flags])
    finally:
        unset_hf_deepspeed_config()  # a `deepspeed:` recipe must not leave ZeRO-3 loading on for later tests


def test_every_recipe_is_classified():
    names = {os.path.basename(path) for path in RECIPES}
    assert names == PARSE_ONLY | set(RUNNABLE), "a new recipe must be listed in PARSE_ONLY or RUNNABLE"


@pytest.mark.parametrize("recipe", RECIPES, ids=os.path.basename)
def test_every_recipe_parses(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # recipes name their DeepSpeed config relative to the repository root
    model_args, data_args, training_args = parse(recipe, tmp_path)
    assert isinstance(model_args, ModelArguments) and isinstance(data_args, DataArguments)
    assert type(training_args).__name__ == "CounterfactualConfig"
    assert model_args.model_name_or_path and data_args.dataset
    assert training_args.output_dir == str(tmp_path)


def test_clip_recipe_is_the_papers_setting(tmp_path):
    _, _, args = parse(os.path.join(REPO, "recipes", "clip-vit-b32.yaml"), tmp_path)
    assert args.learning_rate == 1e-5 and getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type) == "cosine" and args.bf16
    assert args.per_device_train_batch_size * 8 * args.gradient_accumulation_steps == 256  # 8 GPUs, as documented
    assert (args.csd_margin, args.fcd_margin) == (0.25, 0.30)
    assert args.loss_weights == {"align": 1.0, "csd": 1.0, "fcd": 1.0}


@pytest.mark.parametrize("name", sorted(PARSE_ONLY))
def test_generative_recipes_use_lora_checkpointing_and_zero3(name, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    model_args, _, args = parse(os.path.join(REPO, "recipes", name), tmp_path)
    assert model_args.use_peft and model_args.lora_r > 0 and model_args.lora_target_modules
    assert args.activation_checkpointing and args.bf16
    with open(args.deepspeed) as f:
        assert json.load(f)["zero_optimization"]["stage"] == 3
    assert args.per_device_train_batch_size * 8 * args.gradient_accumulation_steps == 256
    assert args.generative_score == "caption-likelihood" and args.scenario_pairing == "cross"


@pytest.fixture(scope="module")
def local_assets(tmp_path_factory):
    """Tiny CLIP and SigLIP checkpoints and a small local corpus (saved with save_to_disk)."""
    from datasets import Dataset, DatasetDict

    from cf_vlm_hf.data import counterfactual_features

    root = tmp_path_factory.mktemp("recipe-assets")
    for family, build in (("clip", tiny_clip), ("siglip", tiny_siglip)):
        model, processor = build(seed=0)
        model.save_pretrained(root / family)
        processor.save_pretrained(root / family)
    rows = Dataset.from_list(make_rows(8, seed=3), features=counterfactual_features())
    DatasetDict(train=rows).save_to_disk(str(root / "corpus"))
    return root


@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_runnable_recipe_starts(name, local_assets, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "out"
    flags = ["--model_name_or_path", str(local_assets / RUNNABLE[name]), "--output_dir", str(out),
             "--max_steps", "1", "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4",
             "--use_cpu", "True", "--bf16", "False", "--dataloader_num_workers", "0", "--save_strategy", "no",
             "--disable_tqdm", "True"]
    if name == "shapes-world.yaml":  # generated on the fly: make it small
        flags += ["--num_train_anchors", "4", "--num_eval_anchors", "2", "--image_size", "32"]
    else:
        flags += ["--dataset", str(local_assets / "corpus")]
    assert main(["train", "--config", os.path.join(REPO, "recipes", name), *flags]) == 0
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 1
    assert all(math.isfinite(log["loss"]) for log in state["log_history"] if "loss" in log)
    assert (out / "model.safetensors").is_file()


@pytest.mark.parametrize("name", ["zero2.json", "zero3.json", "zero3_offload.json"])
def test_deepspeed_configs(name):
    with open(os.path.join(REPO, "recipes", "deepspeed", name)) as f:
        config = json.load(f)
    zero = config["zero_optimization"]
    assert zero["stage"] == (2 if name == "zero2.json" else 3)
    # The Trainer fills "auto" from the recipe, so the recipe stays the one source of batch size and precision.
    for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"):
        assert config[key] == "auto", key
    assert config["bf16"]["enabled"] == "auto"
    if zero["stage"] == 3:  # checkpoints must hold the full weights to load with from_pretrained
        assert zero["stage3_gather_16bit_weights_on_model_save"] is True
    if "offload_optimizer" in zero:  # offloading runs DeepSpeed's CPU Adam, so the config names the optimizer
        assert config["optimizer"]["type"] == "AdamW"
    else:  # the Trainer's torch AdamW
        assert config["zero_allow_untested_optimizer"] is True


@pytest.mark.parametrize("name", ["single_gpu.yaml", "multi_gpu.yaml", "zero2.yaml", "zero3.yaml"])
def test_accelerate_configs(name, monkeypatch):
    from accelerate.commands.config.config_args import ClusterConfig

    monkeypatch.chdir(REPO)
    path = os.path.join(REPO, "recipes", "accelerate", name)
    config = ClusterConfig.from_yaml_file(path)  # accelerate's own parser: unknown keys are an error
    expected = {"single_gpu.yaml": "NO", "multi_gpu.yaml": "MULTI_GPU"}.get(name, "DEEPSPEED")
    assert str(config.distributed_type).split(".")[-1] == expected
    if expected == "DEEPSPEED":
        with open(path) as f:
            ds_file = yaml.safe_load(f)["deepspeed_config"]["deepspeed_config_file"]
        assert os.path.isfile(ds_file) and os.path.basename(ds_file) == name.replace(".yaml", ".json")


def test_use_peft_trains_lora_adapters(local_assets, tmp_path):
    pytest.importorskip("peft")
    out = tmp_path / "lora"
    assert main(["train", "--model_name_or_path", str(local_assets / "clip"), "--dataset", str(local_assets / "corpus"),
                 "--output_dir", str(out), "--max_steps", "1", "--per_device_train_batch_size", "4", "--use_cpu",
                 "True", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "True",
                 "--use_peft", "True", "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "q_proj",
                 "v_proj"]) == 0
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["lora_alpha"] == 8 and set(adapter["target_modules"]) == {"q_proj", "v_proj"}
    assert (out / "adapter_model.safetensors").is_file()


def test_bad_lora_settings_are_named(capsys):
    assert main(["train", "--model_name_or_path", "m", "--dataset", "d", "--lora_r", "0"]) == 2
    assert "lora_r must be a positive integer, got 0" in capsys.readouterr().err
