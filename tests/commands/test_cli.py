"""`cf-vlm` train / generate / eval / demo dispatch, recipes, and training from a streamed corpus."""

import glob
import json
import math
import os
import subprocess
import sys

import pytest
import yaml
from datasets import Dataset, DatasetDict
from testing_utils import REPO as REPO_PATH
from testing_utils import make_rows, tiny_clip, tiny_llava

from cf_vlm_hf.cli import main
from cf_vlm_hf.commands.train_args import DataArguments, ModelArguments, parse_train_args
from cf_vlm_hf.data import counterfactual_features, load_counterfactual_dataset, save_counterfactual_dataset

REPO = str(REPO_PATH)
CORPUS_COLUMNS = {"image", "caption", "cf_images", "cf_captions", "edit_images", "edit_types"}


def corpus(rows):
    return Dataset.from_list(rows, features=counterfactual_features())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny CLIP (model + processor) saved as a standard Hugging Face folder."""
    folder = tmp_path_factory.mktemp("tiny-clip")
    model, processor = tiny_clip(seed=0)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """A local parquet corpus, 'train' (8 rows) and 'test' (4 rows), as save_counterfactual_dataset writes it."""
    folder = tmp_path_factory.mktemp("corpus")
    splits = DatasetDict(train=corpus(make_rows(8, seed=1)), test=corpus(make_rows(4, seed=2)))
    save_counterfactual_dataset(splits, folder, source="unit-test")
    return str(folder)


def write_recipe(path, **values):
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return str(path)


def recipe_values(tmp_path, checkpoint, corpus_dir, **overrides):
    values = dict(
        model_name_or_path=checkpoint,
        dataset=corpus_dir,
        eval_split="test",
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        learning_rate=1e-4,
        max_steps=5,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    values.update(overrides)
    return values


def subprocess_env():
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([REPO, *filter(None, [env.get("PYTHONPATH")])])
    return env


def test_train_from_recipe_flags_override_and_checkpoint_loads(tmp_path, checkpoint, corpus_dir):
    from transformers import AutoModel, AutoProcessor

    recipe = write_recipe(tmp_path / "recipe.yaml", **recipe_values(tmp_path, checkpoint, corpus_dir))
    done = subprocess.run(
        [sys.executable, "-m", "cf_vlm_hf.cli", "train", "--config", recipe, "--max_steps", "2"],
        env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = tmp_path / "out"
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and state["max_steps"] == 2  # the flag beat the recipe's 5
    train_logs = [log for log in state["log_history"] if "loss" in log]
    assert [log["step"] for log in train_logs] == [1, 2]
    assert all(math.isfinite(log["loss"]) and "fcd_loss" in log for log in train_logs)
    eval_results = json.loads((out / "eval_results.json").read_text())
    assert math.isfinite(eval_results["eval_loss"])
    assert glob.glob(str(out / "*.safetensors"))
    model = AutoModel.from_pretrained(out, use_safetensors=True)
    assert type(model).__name__ == "CLIPModel"
    AutoProcessor.from_pretrained(out)


def test_unknown_recipe_key_is_named(tmp_path, checkpoint, corpus_dir, capsys):
    values = recipe_values(tmp_path, checkpoint, corpus_dir, learning_rat=1e-4)
    recipe = write_recipe(tmp_path / "typo.yaml", **values)
    assert main(["train", "--config", recipe]) == 2
    err = capsys.readouterr().err
    assert "unknown key" in err and "'learning_rat'" in err and "typo.yaml" in err


def test_env_block_is_applied_and_flags_override(tmp_path, checkpoint, corpus_dir, monkeypatch):
    monkeypatch.setenv("CF_VLM_TEST_ENV", "before")  # restored after the test
    values = recipe_values(tmp_path, checkpoint, corpus_dir, env={"CF_VLM_TEST_ENV": "from-recipe"})
    recipe = write_recipe(tmp_path / "env.yaml", **values)
    model_args, data_args, training_args = parse_train_args(["--config", recipe, "--learning_rate", "0.5"])
    assert os.environ["CF_VLM_TEST_ENV"] == "from-recipe"
    assert model_args.model_name_or_path == checkpoint and data_args.eval_split == "test"
    assert training_args.learning_rate == 0.5 and training_args.max_steps == 5
    assert training_args.remove_unused_columns is False


def test_generate_shapes_world_writes_loadable_shards(tmp_path, capsys):
    out = tmp_path / "sw"
    status = main([
        "generate", "shapes-world", "--output-dir", str(out), "--num-train", "6", "--num-test", "3",
        "--num-heldout", "2", "--image-size", "32", "--num-counterfactuals", "1", "--num-edits", "2", "--seed", "3",
    ])
    assert status == 0
    assert "wrote" in capsys.readouterr().out
    assert (out / "README.md").is_file()
    loaded = load_counterfactual_dataset(str(out))
    assert {name: len(part) for name, part in loaded.items()} == {"train": 6, "test": 3, "heldout": 2}
    for part in loaded.values():
        assert CORPUS_COLUMNS <= set(part.column_names)
    row = loaded["train"][0]
    assert row["image"].size == (32, 32)
    assert len(row["cf_images"]) == 1 and len(row["edit_images"]) == 2


def test_eval_writes_json(tmp_path, checkpoint, corpus_dir, capsys):
    output = tmp_path / "results.json"
    status = main(["eval", "--model", checkpoint, "--dataset", corpus_dir, "--split", "test",
                   "--output", str(output), "--no-progress"])
    assert status == 0
    assert "mean_image_side" in capsys.readouterr().out  # the printed table
    written = json.loads(output.read_text())
    scores = written["results"]["test"]
    for name in ("mean_image_side", "recall@1"):
        assert 0.0 <= scores[name] <= 1.0


def test_help_and_unknown_command(capsys):
    assert main(["--help"]) == 0
    assert "generate" in capsys.readouterr().out
    for command in ("train", "generate", "eval", "demo"):
        assert main([command, "--help"]) == 0, command
        assert "usage" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert main([]) == 2


def test_trainer_runs_from_a_streamed_parquet_corpus(tmp_path, checkpoint, corpus_dir):
    from datasets import IterableDataset
    from transformers import AutoModel, AutoProcessor

    from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer

    train = load_counterfactual_dataset(corpus_dir, split="train", streaming=True)
    assert isinstance(train, IterableDataset)
    args = CounterfactualConfig(
        output_dir=str(tmp_path / "stream"), per_device_train_batch_size=4, max_steps=3, logging_steps=1,
        learning_rate=1e-4, save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, seed=0,
    )
    trainer = CounterfactualTrainer(
        model=AutoModel.from_pretrained(checkpoint), args=args, train_dataset=train,
        processing_class=AutoProcessor.from_pretrained(checkpoint),
    )
    result = trainer.train()
    assert trainer.state.global_step == 3  # 8 rows / batch 4: the stream is re-read for the third step
    assert math.isfinite(result.training_loss)
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(logs) == 3
    for log in logs:
        assert math.isfinite(log["loss"])
        assert {"align_loss", "csd_loss", "fcd_loss", "csd_accuracy", "fcd_accuracy"} <= set(log)


def test_demo_forwards_its_arguments(monkeypatch):
    import cf_vlm_hf.commands.demo

    seen = []
    monkeypatch.setattr(cf_vlm_hf.commands.demo, "main", lambda argv: seen.append(argv) or 0)
    assert main(["demo", "--steps", "3", "--help"]) == 0
    assert seen == [["--steps", "3", "--help"]]


def test_train_without_model_or_dataset_is_a_usage_error(capsys):
    assert main(["train", "--dataset", "shapes-world"]) == 2
    assert "model_name_or_path" in capsys.readouterr().err


def test_streaming_needs_max_steps(tmp_path, checkpoint, corpus_dir, capsys):
    values = recipe_values(tmp_path, checkpoint, corpus_dir, streaming=True)
    del values["max_steps"]
    recipe = write_recipe(tmp_path / "stream.yaml", **values)
    assert main(["train", f"--config={recipe}"]) == 2
    assert "--max_steps" in capsys.readouterr().err


def test_every_train_argument_has_help():
    from dataclasses import fields

    for cls in (ModelArguments, DataArguments):
        for f in fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name}"


def test_train_on_generated_shapes_world(tmp_path, checkpoint):
    values = recipe_values(tmp_path, checkpoint, "shapes-world", eval_split="heldout", num_train_anchors=4,
                           num_eval_anchors=2, image_size=32, num_counterfactuals=1, num_edits=2, max_steps=1)
    recipe = write_recipe(tmp_path / "sw.yaml", **values)
    assert main(["train", "--config", recipe]) == 0
    eval_results = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert math.isfinite(eval_results["eval_loss"]) and "eval_fcd_accuracy" in eval_results


def test_train_loads_a_generative_checkpoint_with_its_lm_head_and_lora(tmp_path, corpus_dir, one_thread):
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    folder = tmp_path / "tiny-llava"
    model, processor = tiny_llava(seed=0)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    values = recipe_values(tmp_path, str(folder), corpus_dir, max_steps=2, use_peft=True, lora_r=4, lora_alpha=8,
                           lora_target_modules=["q_proj", "v_proj"], scenario_pairing="cross")
    recipe = write_recipe(tmp_path / "llava.yaml", **values)
    assert main(["train", "--config", recipe]) == 0
    out = tmp_path / "out"
    adapter = load_file(out / "adapter_model.safetensors")
    assert adapter and all("lora_" in name for name in adapter)  # only the adapter is written
    eval_results = json.loads((out / "eval_results.json").read_text())
    assert math.isfinite(eval_results["eval_loss"]) and "eval_fcd_accuracy" in eval_results
    base = AutoModelForImageTextToText.from_pretrained(folder)
    assert type(base).__name__ == "LlavaForConditionalGeneration"
