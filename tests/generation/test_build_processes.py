"""Real processes: a build SIGKILLed mid-way and restarted, and a build split over two processes (torchrun, gloo),
each give exactly the shards of one uninterrupted one-process build, byte for byte."""

import os
import signal
import subprocess
import sys
import time

import pytest
from testing_utils import REPO
from testing_utils.diffusion import save_tiny_sdxl
from testing_utils.photos import write_photo_folder

NAMES = ["astronaut", "chelsea", "coffee", "coins", "rocket", "china", "flower"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("processes")
    save_tiny_sdxl(root / "sdxl")
    write_photo_folder(root / "photos", NAMES)
    return root


def command(root, out):
    return ["-m", "cf_vlm_hf.cli", "generate", "--input", str(root / "photos"), "--output", str(out),
            "--image-model", str(root / "sdxl"), "--num-counterfactuals", "1", "--num_edits", "1",
            "--edit-strategy", "img2img", "--num-inference-steps", "4", "--resolution", "64",
            "--rows-per-shard", "1", "--batch-size", "1", "--device", "cpu", "--no-progress", "--seed", "3"]


def environment():
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run(args, timeout=300):
    result = subprocess.run([sys.executable, *args], env=environment(), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def shards(out):
    data = out / "data"
    return {name: (data / name).read_bytes() for name in sorted(os.listdir(data))}


@pytest.fixture(scope="module")
def reference(setup):
    out = setup / "reference"
    result = run(command(setup, out))
    assert f"wrote {len(NAMES)} rows in {len(NAMES)} shard(s)" in result.stdout
    return out


def test_a_killed_build_resumes_without_duplicated_or_lost_rows(setup, reference):
    out = setup / "killed"
    process = subprocess.Popen([sys.executable, *command(setup, out)], env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            written = [n for n in os.listdir(out / "data") if n.endswith(".parquet")] if (out / "data").exists() \
                else []
            if len(written) >= 2:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the build ended before it could be killed: " + process.stderr.read()[-2000:]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    partial = shards(out)
    assert 2 <= len(partial) < len(NAMES) and not (out / "README.md").exists()
    assert all(partial[name] == shards(reference)[name] for name in partial)  # what was written is whole
    run(command(setup, out))
    assert shards(out) == shards(reference)
    assert (out / "README.md").read_text() == (reference / "README.md").read_text().replace(
        str(setup / "reference"), str(out))


def test_two_processes_build_the_same_corpus_as_one(setup, reference):
    out = setup / "two"
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    run(torchrun + command(setup, out))
    assert shards(out) == shards(reference)
    ranks = sorted(os.listdir(out / "generation" / "ranks"))
    assert ranks == ["rank-0-of-2.json", "rank-1-of-2.json"]
    assert (out / "README.md").read_text() == (reference / "README.md").read_text().replace(
        str(setup / "reference"), str(out))
