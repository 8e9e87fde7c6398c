"""The benchmark scripts keep working: CI runs each in its short mode and checks the numbers it prints.

Timings are not asserted (these machines are noisy and differ by 3x); the scripts' JSON must hold finite, positive
numbers of the right kind, so a script that breaks or prints nonsense fails here.
"""

import json
import math
import os
import subprocess
import sys

import pytest
from testing_utils import REPO


def run(script, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=900, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next((line for line in reversed(done.stdout.splitlines()) if line.startswith("{")), None)
    return (json.loads(line) if line else None), done.stdout


def positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_train_step_quick():
    result, text = run("train_step.py", "--quick")
    (row,) = result["results"]
    assert row["images"] == 4 * (1 + 2 + 4) and row["texts"] == 4 * (1 + 2)
    assert all(positive(v) for v in row["median_s"].values())
    assert "| tiny | 4 |" in text


def test_demo_profile_quick():
    result, text = run("demo_profile.py", "--quick")
    stages = result["step"]["seconds"]
    assert positive(stages["total"]) and stages["total"] >= stages["backward"]
    assert set(result["loader_samples_per_s"]) == {"0", "1", "2"}
    assert all(positive(v) for v in result["loader_samples_per_s"].values())
    assert positive(result["evaluation"]["seconds"]["total"])


def test_gpu_benchmark_runs_at_toy_sizes_on_cpu():
    result, _ = run("gpu_benchmark.py", "--smoke", "--device", "cpu")
    parts = {row["part"] for row in result["results"]}
    assert parts == {"clip", "vlm", "sdxl"} and not any("error" in row for row in result["results"])
    clip = [row for row in result["results"] if row["part"] == "clip"]
    assert {row["setting"] for row in clip} == {"plain CLIP", "CF-VLM fused (K=1, M=2)"}
    assert all(positive(row["samples_per_s"]) for row in clip)


def test_eval_speed_short():
    """The dual-encoder suite at 1/200 of its items: every unique image decoded, preprocessed and embedded once in the
    run as in the floor; every unique text embedded once (tokenized twice by the pair scorer today)."""
    result, text = run("eval_speed.py", "--short")
    assert positive(result["total_s"]) and positive(result["floor_s"]) and positive(result["ratio"])
    assert result["items"] == 700 and set(result["items_per_s"]) == {"sugarcrepe", "winoground", "aro",
                                                                     "vl-checklist", "all"}
    images, texts = result["unique_images"], result["unique_texts"]
    for counts in (result["stage_counts"], result["floor_stage_counts"]):
        assert counts["decoding"] == counts["preprocessing"] == counts["image tower"] == images
        assert counts["text tower"] == texts
    assert "ratio run / floor" in text


@pytest.mark.skipif(not os.environ.get("CI"), reason="~40 s; CI runs it")
def test_generation_speed_quick():
    _, text = run("generation_speed.py", "--rows", "8", "--rows-per-shard", "4", "--strategies", "img2img")
    rate = next(line for line in text.splitlines() if line.startswith("rows/s"))
    assert positive(float(rate.split()[1])) and "rows               8 in 2 shards" in text
