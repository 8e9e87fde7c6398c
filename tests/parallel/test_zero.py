"""Real two-process training through `cf-vlm train` on CPU (gloo): DDP, DeepSpeed ZeRO-2 and ZeRO-3.

Each launcher configuration trains a tiny CLIP for 4 steps on 2 processes x 4 rows and is compared with one
process x 8 rows (the same global batches):

- the loss curve equals the single-process one: first step within 1e-5 absolute, later steps within 1e-4
  (measured: about 5e-7);
- both ranks end with bit-identical parameters (tests/scripts/probed_train.py digests them);
- the saved model loads with plain ``AutoModel.from_pretrained``; CLIP's ``logit_scale`` has shape () on disk,
  received its gradient (it moved, and equals the single-process value within 1e-6), and every other weight is
  within 1e-4 of the single-process one (4 steps at lr 1e-4 move weights by about 4e-4; measured: < 1e-5);
- evaluation after training gives the single-process eval loss (within 1e-4);
- resuming from the step-2 checkpoint with the plain CLI reproduces steps 3-4 and the final weights.

The launchers differ on purpose, so that each is exercised: DDP through ``accelerate launch --multi_gpu``, ZeRO-2
through ``torchrun``, ZeRO-3 through the ``deepspeed`` launcher. The ZeRO-3 run sets
``stage3_param_persistence_threshold`` to 0 so that even ``logit_scale`` is partitioned (the hard case for
reading it outside the forward). DeepSpeed JIT-builds a CPU communication op once (about a minute); it is
cached in ``TORCH_EXTENSIONS_DIR`` (default here: ``~/.cache/cf-vlm-hf/torch_extensions``) and reused.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from testing_utils import REPO, make_rows, tiny_clip

PROBE = REPO / "tests" / "scripts" / "probed_train.py"
STEPS = 4
LEARNING_RATE = 1e-4
FIRST_LOSS_TOL = 1e-5
LOSS_TOL = 1e-4
WEIGHT_TOL = 1e-4
LOGIT_SCALE_TOL = 1e-6

pytest.importorskip("deepspeed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def executable(name: str) -> str:
    """A console script of the running interpreter's environment (accelerate, deepspeed)."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"the `{name}` launcher is not installed")
    return found


def launch_env(probe_dir: Path | None = None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1",
               TRANSFORMERS_NO_ADVISORY_WARNINGS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(os.path.expanduser("~"), ".cache", "cf-vlm-hf",
                                                        "torch_extensions"))
    if probe_dir is not None:
        env["CF_VLM_PROBE_DIR"] = str(probe_dir)
    return env


def launcher_command(launcher: str, probed: bool) -> list[str]:
    """The command that starts 2 processes running `cf-vlm train` (or the probed copy of it)."""
    program = [str(PROBE)] if probed else None
    if launcher == "accelerate":
        return [executable("accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
                *(program or ["-m", "cf_vlm_hf.cli"])]
    if launcher == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                *(program or ["-m", "cf_vlm_hf.cli"])]
    if launcher == "deepspeed":
        return [executable("deepspeed"), "--num_gpus", "2", "--master_port", str(free_port()),
                *(program or ["--module", "cf_vlm_hf.cli"])]
    raise ValueError(launcher)


def run_launcher(launcher: str, args: list[str], probe_dir: Path | None = None) -> float:
    """Run `cf-vlm train ARGS` on 2 processes; return the wall time in seconds."""
    command = [*launcher_command(launcher, probe_dir is not None), "train", *args]
    start = time.perf_counter()
    done = subprocess.run(command, env=launch_env(probe_dir), capture_output=True, text=True, timeout=900,
                          cwd=REPO, check=False)
    wall = time.perf_counter() - start
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    print(f"\n{launcher} {' '.join(args[-2:])}: {wall:.1f} s wall", file=sys.stderr)
    return wall


def losses(output_dir: Path) -> dict[int, float]:
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return {log["step"]: log["loss"] for log in state["log_history"] if "loss" in log}


def eval_loss(output_dir: Path) -> float:
    return json.loads((output_dir / "eval_results.json").read_text())["eval_loss"]


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny CLIP checkpoint, a 32-row local corpus, and the recipe both runs share."""
    from datasets import Dataset, DatasetDict

    from cf_vlm_hf.data import counterfactual_features

    root = tmp_path_factory.mktemp("zero")
    model, processor = tiny_clip(seed=0)
    model.save_pretrained(root / "tiny-clip")
    processor.save_pretrained(root / "tiny-clip")
    # save_to_disk: loaded with load_from_disk, which never serves another folder's cached copy.
    rows = Dataset.from_list(make_rows(32, seed=1), features=counterfactual_features())
    DatasetDict(train=rows).save_to_disk(str(root / "corpus"))
    recipe = {
        "model_name_or_path": str(root / "tiny-clip"), "dataset": str(root / "corpus"),
        "per_device_train_batch_size": 4, "learning_rate": LEARNING_RATE, "lr_scheduler_type": "constant",
        "max_steps": STEPS, "logging_steps": 1, "save_strategy": "steps", "save_steps": 2, "report_to": "none",
        "use_cpu": True, "disable_tqdm": True, "seed": 0,
        # evaluation after training, on the training rows: 2 steps of 2 x 8 rows (one process: 16 rows per step)
        "eval_split": "train", "per_device_eval_batch_size": 8,
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    zero3 = json.loads((REPO / "recipes" / "deepspeed" / "zero3.json").read_text())
    zero3["zero_optimization"]["stage3_param_persistence_threshold"] = 0  # partition even the 1-element logit_scale
    (root / "zero3-partition-all.json").write_text(json.dumps(zero3))
    return root


@pytest.fixture(scope="module")
def reference(setup):
    """One process, 8 rows per step, in this process: the loss curve and weights the 2-process runs must match."""
    from cf_vlm_hf.cli import main

    out = setup / "single"
    assert main(["train", "--config", str(setup / "recipe.yaml"), "--output_dir", str(out),
                 "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16",
                 "--save_strategy", "no"]) == 0
    return {"losses": losses(out), "weights": weights(out), "eval": eval_loss(out)}


CONFIGS = {
    # name: (launcher, DeepSpeed config or None, expected ZeRO files per DeepSpeed checkpoint)
    "ddp": ("accelerate", None, 0),
    "zero2": ("torchrun", "recipes/deepspeed/zero2.json", 2),
    "zero3": ("deepspeed", "zero3-partition-all.json", 2),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_two_process_training_matches_one_process_and_resumes(name, setup, reference):
    from transformers import AutoModel

    launcher, ds_config, zero_files = CONFIGS[name]
    extra = []
    if ds_config is not None:
        path = REPO / ds_config if ds_config.startswith("recipes/") else setup / ds_config
        extra = ["--deepspeed", str(path)]
    out, probe = setup / name, setup / f"{name}-probe"
    wall = run_launcher(launcher, ["--config", str(setup / "recipe.yaml"), *extra, "--output_dir", str(out)], probe)

    # The loss curve is the single-process one.
    curve, ref = losses(out), reference["losses"]
    assert sorted(curve) == list(range(1, STEPS + 1))
    assert curve[1] == pytest.approx(ref[1], abs=FIRST_LOSS_TOL)
    for step in range(2, STEPS + 1):
        assert curve[step] == pytest.approx(ref[step], abs=LOSS_TOL), step

    # Both ranks ran (under DeepSpeed when configured) and hold bit-identical parameters.
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["deepspeed"] for r in ranks] == [ds_config is not None] * 2
    assert ranks[0]["digests"] and ranks[0]["digests"] == ranks[1]["digests"]
    if zero_files:  # each rank wrote its own ZeRO shard of the optimizer state
        assert len(glob.glob(str(out / "checkpoint-2" / "global_step2" / "*zero_pp_rank_*optim_states.pt"))) == zero_files

    # The final model and the intermediate checkpoint are plain Hugging Face folders.
    model = AutoModel.from_pretrained(out, use_safetensors=True)
    assert type(model).__name__ == "CLIPModel" and tuple(model.logit_scale.shape) == ()
    assert tuple(AutoModel.from_pretrained(out / "checkpoint-2").logit_scale.shape) == ()
    final, ref_weights = weights(out), reference["weights"]
    assert set(final) == set(ref_weights)
    initial = weights(setup / "tiny-clip")["logit_scale"].item()
    assert final["logit_scale"].shape == ()
    assert abs(final["logit_scale"].item() - initial) > 2 * LEARNING_RATE  # it received its gradient...
    assert final["logit_scale"].item() == pytest.approx(ref_weights["logit_scale"].item(), abs=LOGIT_SCALE_TOL)
    # ...and so did everything else. Attention key biases are left out: softmax is invariant to them, their true
    # gradient is 0, and Adam turns rounding noise into steps of up to the learning rate.
    worst = max(
        ((final[key] - ref_weights[key]).abs().max().item(), key)
        for key in final if not key.endswith("k_proj.bias")
    )
    assert worst[0] <= WEIGHT_TOL, worst
    # Evaluation after training (under ZeRO-3 too) scores the same global batches as one process.
    assert eval_loss(out) == pytest.approx(reference["eval"], abs=LOSS_TOL)

    # Resuming from step 2 with the plain CLI continues the same curve and reaches the same weights.
    resumed = setup / f"{name}-resumed"
    wall += run_launcher(launcher, ["--config", str(setup / "recipe.yaml"), *extra, "--output_dir", str(resumed),
                                    "--resume_from_checkpoint", str(out / "checkpoint-2")])
    again = losses(resumed)
    assert sorted(again) == [1, 2, 3, 4]  # steps 1-2 come with the checkpoint's trainer state
    for step in (3, 4):
        assert again[step] == pytest.approx(curve[step], abs=FIRST_LOSS_TOL), step
    resumed_weights = weights(resumed)
    assert resumed_weights["logit_scale"].shape == ()
    assert max((resumed_weights[k] - final[k]).abs().max().item() for k in final) <= 1e-6
    assert math.isfinite(wall)
