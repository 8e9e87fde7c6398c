"""Each task's primary metric (with its direction) drives the Trainer's best-checkpoint selection."""

import os

import pytest
import torch
from safetensors.torch import load_file
from testing_utils import make_rows
from testing_utils.benchmarks import FixedScorer, fixture_clip, write_sugarcrepe, write_winoground

from cf_vlm_hf.evaluation import TASKS, BenchmarkSuite, get_task


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("benchmarks")
    write_sugarcrepe(str(root / "sugarcrepe"))
    write_winoground(str(root / "winoground"))
    return root


def test_every_benchmark_names_a_primary_metric_it_reports(data_dir):
    expected = {"winoground": "group", "sugarcrepe": "overall", "aro": "mean", "vl-checklist": "mean",
                "conme": "mean", "pope": "mean/f1", "zero-shot": "mean/top1", "retrieval": "mean_recall"}
    assert {name: TASKS[name].primary_metric for name in expected} == expected
    assert all(TASKS[name].greater_is_better for name in expected)
    task = get_task("sugarcrepe", str(data_dir / "sugarcrepe"))
    result = task.evaluate(FixedScorer(default=0.0), task.load())  # every pair ties: every item wrong
    assert result.metrics["overall"] == result.metrics["overall/micro"] == 0.0
    suite = BenchmarkSuite("sugarcrepe,winoground", data_dir=str(data_dir))
    assert suite.primary_metrics == {"sugarcrepe": "sugarcrepe/overall", "winoground": "winoground/group"}
    assert suite.metric_for_best_model == "eval_benchmarks/primary_mean" and suite.greater_is_better
    assert BenchmarkSuite("sugarcrepe").metric_for_best_model == "eval_sugarcrepe/overall"


def train(data_dir, out, benchmarks, **options):
    from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer

    model, processor = fixture_clip(seed=5)
    args = CounterfactualConfig(output_dir=str(out), per_device_train_batch_size=4, max_steps=3, eval_strategy="steps",
                                eval_steps=1, save_strategy="steps", save_steps=1, load_best_model_at_end=True,
                                logging_steps=1, report_to="none", use_cpu=True, disable_tqdm=True, learning_rate=3e-2,
                                seed=3, **options)
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=make_rows(12, seed=1),
                                    processing_class=processor, benchmarks=benchmarks)
    trainer.train()
    return trainer


def best_step(trainer, key):
    """The step of the first evaluation with the highest ``key`` (what Trainer keeps: a later tie is not better)."""
    logged = [(log["step"], log[key]) for log in trainer.state.log_history if key in log]
    assert [step for step, _ in logged] == [1, 2, 3]
    values = [value for _, value in logged]
    return logged[values.index(max(values))][0], values


def same_weights(model, checkpoint):
    saved = load_file(os.path.join(checkpoint, "model.safetensors"))
    state = model.state_dict()
    return all(torch.equal(state[name], tensor) for name, tensor in saved.items())


def test_load_best_model_at_end_selects_on_a_benchmark_primary_metric(data_dir, tmp_path, one_thread):
    suite = BenchmarkSuite("sugarcrepe", data_dir=str(data_dir))
    trainer = train(data_dir, tmp_path / "out", suite, metric_for_best_model="eval_sugarcrepe/overall")
    step, values = best_step(trainer, "eval_sugarcrepe/overall")
    assert len(set(values)) > 1, values  # the evaluations differ: the selection is a real choice
    assert trainer.state.best_model_checkpoint == str(tmp_path / "out" / f"checkpoint-{step}")
    assert trainer.state.best_metric == max(values)
    assert same_weights(trainer.model, trainer.state.best_model_checkpoint)


def test_benchmarks_alone_select_on_their_primary_metric_by_default(data_dir, tmp_path, one_thread):
    """No eval_dataset, no metric_for_best_model: Trainer's default 'loss' does not exist, the suite's primary does
    (the mean of the tasks' primary metrics for several tasks)."""
    suite = BenchmarkSuite("sugarcrepe,winoground", data_dir=str(data_dir))
    trainer = train(data_dir, tmp_path / "out", suite)
    assert trainer.args.metric_for_best_model == "eval_benchmarks/primary_mean" and trainer.args.greater_is_better
    for log in trainer.state.log_history:
        if "eval_benchmarks/primary_mean" in log:
            expected = (log["eval_sugarcrepe/overall"] + log["eval_winoground/group"]) / 2
            assert log["eval_benchmarks/primary_mean"] == pytest.approx(expected)
    step, _ = best_step(trainer, "eval_benchmarks/primary_mean")
    assert trainer.state.best_model_checkpoint == str(tmp_path / "out" / f"checkpoint-{step}")
    assert same_weights(trainer.model, trainer.state.best_model_checkpoint)
