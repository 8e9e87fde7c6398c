"""Two real processes (torchrun, gloo, CPU) against one: gathering makes L_align see the global batch."""

import json
import os
import subprocess
import sys

import pytest
from testing_utils import SCRIPTS

SCRIPT = SCRIPTS / "one_step.py"


def run(tmp_path, name, processes, *flags, uneven=False):
    out = tmp_path / f"{name}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    if uneven:
        env["CF_UNEVEN"] = "1"
    if processes == 1:
        command = [sys.executable, str(SCRIPT), str(out), *flags]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   str(SCRIPT), str(out), "--per_device_train_batch_size", "4", *flags]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return run(tmp_path_factory.mktemp("single"), "single", 1)


def test_two_processes_with_gathering_match_one_process(tmp_path, single):
    ddp = run(tmp_path, "ddp", 2)
    assert single["world_size"] == 1 and ddp["world_size"] == 2
    assert ddp["align_loss"] == pytest.approx(single["align_loss"], abs=1e-5)
    # Every row has counterfactuals and edits, so the per-rank margin means average to the global ones too:
    # the total loss and the synchronised gradient equal the single-process ones.
    assert ddp["loss"] == pytest.approx(single["loss"], abs=1e-5)
    assert ddp["grad_norm"] == pytest.approx(single["grad_norm"], rel=1e-4)


def test_two_processes_without_gathering_differ(tmp_path, single):
    local = run(tmp_path, "local", 2, "--gather_across_devices", "False")
    # Each rank contrasts 4 pairs instead of 8: fewer negatives, a clearly lower InfoNCE.
    assert local["align_loss"] < single["align_loss"] - 0.1
    assert local["grad_norm"] != pytest.approx(single["grad_norm"], rel=1e-2)


def test_margin_terms_are_global_means_when_ranks_hold_uneven_counterfactuals(tmp_path):
    # 5 of the 8 rows have counterfactuals and edits, so the two ranks hold different numbers of valid anchors;
    # each rank's margin means are re-weighted so that DDP's average is the mean over the global batch.
    single = run(tmp_path, "single-uneven", 1, uneven=True)
    ddp = run(tmp_path, "ddp-uneven", 2, uneven=True)
    for name in ("csd_loss", "fcd_loss", "loss"):
        assert ddp[name] == pytest.approx(single[name], abs=1e-5), name
    assert ddp["grad_norm"] == pytest.approx(single["grad_norm"], rel=1e-4)
