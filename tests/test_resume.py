"""Real SIGKILLs: a run resumed after a kill (mid-training, or mid-checkpoint) ends with the uninterrupted run's
weights, bit for bit on CPU, with random counterfactual/edit subsets drawn per (seed, epoch, row)."""

import json
import os
import subprocess
import sys

import pytest
from testing_utils import SCRIPTS

from cf_vlm_hf.checkpoints import MARKER, is_complete, newest_complete

SCRIPT = SCRIPTS / "killable_train.py"


def run(out, *flags, killed=False):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, str(SCRIPT), str(out), *flags], capture_output=True, text=True,
                          timeout=600, env=env)
    if killed:
        assert done.returncode == -9, done.stderr[-2000:]
        return None
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "digest.json").read_text())


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    return run(tmp_path_factory.mktemp("straight"))


def test_resume_after_a_kill_mid_training_is_exact(tmp_path, straight):
    run(tmp_path, "--kill-after-step", "3", killed=True)
    assert newest_complete(str(tmp_path)).endswith("checkpoint-2")
    resumed = run(tmp_path, "--resume", "last")
    assert resumed["params"] == straight["params"]
    assert {k: v for k, v in resumed["losses"].items() if int(k) > 2} == \
        {k: v for k, v in straight["losses"].items() if int(k) > 2}


def test_a_kill_while_writing_a_checkpoint_leaves_one_that_resume_skips(tmp_path, straight):
    run(tmp_path, "--kill-in-save", "4", killed=True)
    cut = tmp_path / "checkpoint-4"
    assert cut.is_dir() and (cut / "model.safetensors").exists() and not is_complete(str(cut))
    assert not (cut / MARKER).exists() and is_complete(str(tmp_path / "checkpoint-2"))
    resumed = run(tmp_path, "--resume", "last")
    assert resumed["params"] == straight["params"]
    assert is_complete(str(tmp_path / "checkpoint-4"))  # saved again, whole, by the resumed run
    assert (tmp_path / "checkpoint-4.incomplete").is_dir()  # the cut one, set aside


def test_resume_is_exact_with_a_dataloader_worker(tmp_path, straight):
    run(tmp_path, "--kill-after-step", "3", "--workers", "1", killed=True)
    resumed = run(tmp_path, "--resume", "last", "--workers", "1")
    assert resumed["params"] == straight["params"]  # the worker draws the same subsets as the main process
