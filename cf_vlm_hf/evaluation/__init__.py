"""Evaluation: benchmarks and our corpus suite, for both model families, through the training scorers.

* `evaluate_checkpoints(models, tasks, data_dir=..., output_dir=...)` — the Python API of ``cf-vlm eval``:
  several checkpoints side by side, results.json / results.md / results.png with provenance (`runner`, `report`);
* `evaluate_model(model, processor, tasks)` — one model already in memory;
* `BenchmarkSuite` — benchmark tasks evaluated during training (``CounterfactualTrainer(benchmarks=...)``);
* `tasks/` — one module per benchmark (Winoground, SugarCrepe, ARO, VL-CheckList, ConMe, POPE, zero-shot,
  retrieval, shapes-world, pairwise, corpus), each reading its official layout into one item type (`items`);
* `metrics` — the metrics as pure functions of scores; `metric_modules/` — the same as `evaluate` modules;
* `scoring/` — S(I, T) of benchmark items for dual encoders and generative VLMs; `images` — processed pixels
  shared across models;
* `evaluate_counterfactual_split` — the corpus suite for dual encoders (`counterfactual`).
"""

from .counterfactual import WINOGROUND_TYPES, BatchedEmbeddings, evaluate_counterfactual_split, recall_at_1
from .results import EvaluationReport
from .runner import evaluate_checkpoints, evaluate_model
from .scoring import NotApplicable, PairScorer, build_pair_scorer
from .tasks import TASKS, get_task, parse_tasks
from .training import BenchmarkSuite

__all__ = [
    "TASKS",
    "WINOGROUND_TYPES",
    "BatchedEmbeddings",
    "BenchmarkSuite",
    "EvaluationReport",
    "NotApplicable",
    "PairScorer",
    "build_pair_scorer",
    "evaluate_checkpoints",
    "evaluate_counterfactual_split",
    "evaluate_model",
    "get_task",
    "parse_tasks",
    "recall_at_1",
]
