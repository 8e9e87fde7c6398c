"""`cf-vlm demo` end to end at toy sizes: every output exists and the checkpoints load without the package."""

import json
import subprocess
import sys

import pytest

from cf_vlm_hf.demo.report import markdown
from cf_vlm_hf.demo.settings import QUICK, DemoSettings

TOY = ["--pretrain-anchors", "48", "--pretrain-steps", "3", "--pretrain-batch-size", "8", "--train-anchors", "24",
       "--steps", "3", "--batch-size", "8", "--eval-anchors", "12", "--num-edits", "2"]


def test_quick_replaces_only_untouched_defaults():
    quick = DemoSettings(quick=True, steps=7)
    assert quick.steps == 7
    assert quick.pretrain_steps == QUICK["pretrain_steps"] and quick.eval_anchors == QUICK["eval_anchors"]
    with pytest.raises(ValueError, match="--steps must be >= 1, got 0"):
        DemoSettings(steps=0)
    with pytest.raises(ValueError, match="--scenario-pairing must be 'paper' or 'cross'"):
        DemoSettings(scenario_pairing="both")


def test_cache_key_depends_only_on_named_settings():
    a, b = DemoSettings(steps=5), DemoSettings(steps=9)
    assert a.key("pretrain_steps") == b.key("pretrain_steps")
    assert a.key("steps") != b.key("steps")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from cf_vlm_hf.demo import main

    root = tmp_path_factory.mktemp("demo")
    argv = ["--output-dir", str(root / "out"), "--cache-dir", str(root / "cache"), *TOY]
    assert main(argv) == 0
    first = json.loads((root / "out" / "results.json").read_text())
    assert main(argv + ["--output-dir", str(root / "again")]) == 0
    return root, first, json.loads((root / "again" / "results.json").read_text())


def test_demo_writes_every_output(demo_run):
    root, results, _ = demo_run
    out = root / "out"
    for name in ("base", "baseline", "cf-vlm", "baseline-equal-time"):
        assert (out / name / "model.safetensors").exists(), name
    assert (out / "results.png").stat().st_size > 10_000
    table = (out / "results.md").read_text()
    for model in ("base", "baseline", "cf-vlm", "baseline (equal wall time)"):
        assert f"| {model} |" in table
    assert set(results["models"]) == {"base", "baseline", "cf-vlm", "baseline (equal wall time)"}
    heldout = results["models"]["cf-vlm"][0]["heldout"]
    assert 0.0 <= heldout["mean_image_side"] <= 1.0 and 0.0 <= heldout["recall@1"] <= 1.0
    arms = {arm["name"]: arm for arm in results["arms"]}
    assert arms["baseline"]["steps"] == arms["cf-vlm"]["steps"] == 3
    assert arms["baseline (equal wall time)"]["steps"] >= 3
    assert any("fcd_loss" in log for log in arms["cf-vlm"]["log_history"])
    assert not any("fcd_loss" in log for log in arms["baseline"]["log_history"])


def test_second_run_reuses_the_cached_base(demo_run):
    _, first, second = demo_run
    assert second["pretraining"] == first["pretraining"]
    assert second["models"]["base"] == first["models"]["base"]


def test_demo_checkpoints_load_without_the_package(demo_run):
    root, _, _ = demo_run
    code = (
        "import sys, torch; from PIL import Image; from transformers import AutoModel, AutoProcessor\n"
        f"m = AutoModel.from_pretrained({str(root / 'out' / 'cf-vlm')!r}).eval()\n"
        f"p = AutoProcessor.from_pretrained({str(root / 'out' / 'cf-vlm')!r})\n"
        "x = p(text=['a large red circle'], images=[Image.new('RGB', (64, 64), 'white')], return_tensors='pt')\n"
        "o = m(**x)\n"
        "assert not any(n.startswith('cf_vlm_hf') for n in sys.modules)\n"
        "print(tuple(o.image_embeds.shape), tuple(o.text_embeds.shape))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "(1, 256) (1, 256)"


def test_markdown_reports_mean_and_std_over_seeds():
    run = {"heldout": {"mean_image_side": 0.5, "count/color": 10}, "test": {"mean_image_side": 0.7}}
    run2 = {"heldout": {"mean_image_side": 0.7}, "test": {"mean_image_side": 0.9}}
    results = {"models": {"base": [run], "cf-vlm": [run, run2]}, "settings": {"seeds": 2}, "total_wall_seconds": 60,
               "arms": [{"name": "cf-vlm", "seed": s, "steps": 10, "wall_seconds": 20.0} for s in (0, 1)]}
    table = markdown(results)
    assert "| cf-vlm | 60.0 ± 14.1 |" in table
    assert "| 10 | 20 s | 2.00 |" in table
    assert "Items per edit type (held-out): color 10" in table
