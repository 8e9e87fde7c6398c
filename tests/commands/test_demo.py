"""`cf-vlm demo` end to end at toy sizes: every output exists and the checkpoints load without the package."""

import json
import subprocess
import sys

import pytest

from cf_vlm_hf.commands.demo.report import arm_settings_line, markdown
from cf_vlm_hf.commands.demo.settings import QUICK, DemoSettings, demo_config, parse_demo_args, run_settings

TOY = ["--pretrain-anchors", "48", "--pretrain-steps", "3", "--pretrain-batch-size", "8", "--train-anchors", "24",
       "--steps", "3", "--batch-size", "8", "--eval-anchors", "12", "--num-edits", "2"]


def test_quick_replaces_only_untouched_defaults():
    settings, config = parse_demo_args(["--quick", "--steps", "7", "--pretrain_steps", "9"])
    assert config.max_steps == 7 and settings.pretrain_steps == 9
    assert settings.eval_anchors == QUICK["eval_anchors"] and config.max_edits == QUICK["max_edits"]
    assert config.per_device_train_batch_size == QUICK["per_device_train_batch_size"]
    with pytest.raises(ValueError, match="--max_steps must be >= 1, got 0"):
        parse_demo_args(["--steps", "0"])
    with pytest.raises(ValueError, match="--seeds must be >= 1, got 0"):
        DemoSettings(seeds=0)
    with pytest.raises(SystemExit):  # argparse's choices: "invalid choice: 'both' (choose from paper, cross, ...)"
        parse_demo_args(["--scenario_pairing", "both"])


def test_demo_trains_the_cf_vlm_arm_with_the_parsed_config():
    settings, config = parse_demo_args(["--scenario_pairing", "paper", "--csd_weight", "2", "--max_edits", "3"])
    assert (config.scenario_pairing, config.csd_weight, config.max_edits) == ("paper", 2.0, 3)
    assert config.align_counterfactuals and config.max_counterfactuals == 2 and config.output_dir == "cf-vlm-demo"
    recorded = run_settings(settings, config)
    assert recorded["max_edits"] == 3 and recorded["scenario_pairing"] == "paper" and recorded["seeds"] == 1


def test_cache_key_depends_only_on_named_settings():
    a, b = DemoSettings(pretrain_steps=5), DemoSettings(pretrain_steps=9)
    assert a.key("eval_anchors") == b.key("eval_anchors")
    assert a.key("pretrain_steps") != b.key("pretrain_steps")
    assert a.key("pretrain_steps", extra="fingerprint") != a.key("pretrain_steps")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from cf_vlm_hf.commands.demo import main

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
    import yaml
    from huggingface_hub.repocard_data import model_index_to_eval_results

    for name, model in (("base", "base"), ("baseline", "baseline"), ("cf-vlm", "cf-vlm")):
        meta = yaml.safe_load((out / name / "README.md").read_text().split("---\n")[1])
        _, scores = model_index_to_eval_results(meta["model-index"])
        recorded = {(r.dataset_name, r.metric_type): r.metric_value for r in scores}
        expected = results["models"][model][0]["heldout"]["mean_image_side"]
        assert recorded[("shapes-world heldout", "mean_image_side")] == pytest.approx(expected, abs=1e-6), name
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
    root, first, second = demo_run
    assert (first["pretraining"]["cached"], second["pretraining"]["cached"]) == (False, True)
    assert {**second["pretraining"], "cached": False} == first["pretraining"]
    assert second["timings"]["base"] < first["timings"]["base"]
    assert "(cached)" in (root / "again" / "results.md").read_text()
    assert "(pre-trained in this run)" in (root / "out" / "results.md").read_text()
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
    results = {"models": {"base": [run], "cf-vlm": [run, run2]},
               "settings": run_settings(DemoSettings(seeds=2), demo_config()),
               "total_wall_seconds": 60,
               "arms": [{"name": "cf-vlm", "seed": s, "steps": 10, "wall_seconds": 20.0} for s in (0, 1)]}
    table = markdown(results)
    assert "| cf-vlm | 60.0 ± 14.1 |" in table
    assert "| 10 | 20 s | 2.00 |" in table
    assert "Items per edit type (held-out): color 10" in table
    assert ("CF-VLM arm: K=2, M=4, L_csd 'cross' (weight 1), L_fcd 'hardest' (weight 1); L_align over the anchors "
            "and the complete counterfactual pairs.") in table


def test_markdown_names_what_the_cf_vlm_arm_aligned():
    settings = run_settings(DemoSettings(), demo_config(align_counterfactuals=True, align_edits=True, csd_weight=3.0))
    line = arm_settings_line(settings)
    assert "L_csd 'cross' (weight 3)" in line
    assert line.endswith("L_align over the anchors and the complete counterfactual pairs and the minimal edits with "
                         "their own captions.")


def test_markdown_reports_differences_against_the_targets_per_seed():
    def run(image, binding, recall):
        heldout = {"mean_image_side": image, "winoground/binding/group": binding, "recall@1": recall}
        return {"heldout": heldout, "test": heldout}

    results = {
        "models": {"base": [run(0.5, 0.1, 0.2)], "baseline": [run(0.70, 0.20, 0.40), run(0.72, 0.22, 0.40)],
                   "cf-vlm": [run(0.82, 0.45, 0.39), run(0.80, 0.40, 0.36)],
                   "baseline (equal wall time)": [run(0.8, 0.3, 0.3), run(0.8, 0.3, 0.3)]},
        "settings": run_settings(DemoSettings(seeds=2), demo_config()), "total_wall_seconds": 600,
        "arms": [{"name": "baseline (equal wall time)", "seed": s, "steps": n, "wall_seconds": w}
                 for s, n, w in ((0, 300, 90.0), (1, 400, 160.0))],
        "pretraining": {"wall_seconds": 100.0, "cached": True},
        "timings": {"corpora": 3.0, "base": 1.0, "evaluation/base": 0.1, "evaluation/cf-vlm": 30.0},
    }
    table = markdown(results)
    assert "| edit acc (image side) | +12.0 | +8.0 | +10.0 ± 2.8 | ≥ +10 | yes |" in table
    assert "| binding group | +25.0 | +18.0 | +21.5 ± 4.9 | ≥ +20 | yes |" in table
    assert "| recall@1 | -1.0 | -4.0 | -2.5 ± 2.1 | ≥ -2 | no |" in table
    assert "| 300–400 | 125 s | 0.35 |" in table  # steps differ per seed: their range, mean wall, mean s/step
    assert "Wall time: corpora 3 s, base 1 s (cached), fine-tuning 250 s, evaluation 30 s; total 10.0 min." in table
    assert "| base | 50.0 | – | 10.0 | – | 20.0 | – | cached | – |" in table
    results["pretraining"] = {"wall_seconds": 100.0, "steps": 300, "cached": False}
    assert "| base | 50.0 | – | 10.0 | – | 20.0 | 300 | 100 s | 0.33 |" in markdown(results)


def test_equal_time_steps_counts_the_start_up_cost_once():
    from cf_vlm_hf.commands.demo.pipeline import equal_time_steps

    # 3 s of start-up before the clock, 10 warm-up steps of 1 s, then 90 steps of 0.5 s: 58 s in all.
    step_ends = [1.0 * (i + 1) for i in range(10)] + [10 + 0.5 * (i + 1) for i in range(90)]
    wall = 3 + step_ends[-1]
    # Steady rate 0.5 s/step, fixed cost 58 - 0.5 * 100 = 8 s: 120 s hold (120 - 8) / 0.5 = 224 steps.
    assert equal_time_steps(step_ends, wall, 120.0, least=100) == 224
    # The plain ratio (120 / 0.58 = 207 steps) would undershoot; never fewer steps than the other arm.
    assert equal_time_steps(step_ends, wall, 30.0, least=100) == 100
    assert equal_time_steps([2.0], 2.5, 10.0, least=1) == 4


def test_one_seed_difference_table_has_no_spread():
    scores = {"mean_image_side": 0.5, "winoground/binding/group": 0.2, "recall@1": 0.3}
    run = {"heldout": scores, "test": scores}
    better = {split: {**scores, "winoground/binding/group": 0.5} for split in ("heldout", "test")}
    results = {"models": {"base": [run], "baseline": [run], "cf-vlm": [better]},
               "settings": run_settings(DemoSettings(seeds=1), demo_config()), "total_wall_seconds": 60, "arms": []}
    assert "| binding group | +30.0 | +30.0 | ≥ +20 | yes |" in markdown(results)
