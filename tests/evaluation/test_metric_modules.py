"""The packaged `evaluate` metric modules load offline by path and give the numbers of
`cf_vlm_hf.evaluation.metrics`."""

import numpy as np
import pytest
import torch

from cf_vlm_hf.evaluation.metric_modules import METRICS, load_metric, metric_path
from cf_vlm_hf.evaluation.metrics import parse_yes_no, winoground_scores, yes_no_metrics

evaluate = pytest.importorskip("evaluate")


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory):
    """No network, and evaluate's module and metric caches in a folder of the test's (one for the whole module:
    evaluate registers its module cache on sys.path once)."""
    hf = tmp_path_factory.mktemp("hf")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
            patch.setenv(name, "1")
        patch.setenv("HF_HOME", str(hf))
        patch.setattr(evaluate.config, "HF_MODULES_CACHE", hf / "modules", raising=False)
        patch.setattr(evaluate.config, "HF_METRICS_CACHE", hf / "metrics", raising=False)
        yield


def test_every_module_is_a_folder_with_its_script():
    for name in METRICS:
        path = metric_path(name)
        assert path.endswith(f"evaluation/metric_modules/{name}")
    with pytest.raises(ValueError, match="ships winoground, pairwise_accuracy, pope"):
        metric_path("bleu")


def test_winoground_module():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(50, 2, 2)).astype(float)
    metric = load_metric("winoground", keep_in_memory=True)
    out = metric.compute(c0_i0=scores[:, 0, 0], c0_i1=scores[:, 0, 1], c1_i0=scores[:, 1, 0], c1_i1=scores[:, 1, 1])
    wins = winoground_scores(torch.tensor(scores))
    mean = {name: float(value.double().mean()) for name, value in wins.items()}
    assert out == {"text_score": mean["text"], "image_score": mean["image"], "group_score": mean["group"], "count": 50}


def test_pairwise_accuracy_module_one_or_several_negatives_and_batches():
    metric = evaluate.load(metric_path("pairwise_accuracy"), keep_in_memory=True)
    assert metric.compute(positive_scores=[0.9, 0.5, 0.2], negative_scores=[0.1, 0.5, 0.3]) == \
        {"accuracy": pytest.approx(1 / 3), "count": 3}
    assert metric.compute(positive_scores=[0.9, 0.5], negative_scores=[0.1, 0.5], ties="first")["accuracy"] == 1.0
    several = evaluate.load(metric_path("pairwise_accuracy"), keep_in_memory=True)
    several.add_batch(positive_scores=[0.9], negative_scores=[[0.1, 0.95]])
    several.add_batch(positive_scores=[0.9], negative_scores=[[0.1, 0.2]])
    assert several.compute() == {"accuracy": 0.5, "count": 2}


def test_pope_module_parses_generated_answers():
    predictions = ["Yes, there is.", "No.", "There is not one.", "yes", ""]
    references = ["yes", "no", "yes", "no", "no"]
    out = load_metric("pope", keep_in_memory=True).compute(predictions=predictions, references=references)
    expected = yes_no_metrics([parse_yes_no(p) for p in predictions], [r == "yes" for r in references])
    assert out == pytest.approx(expected)
    assert (out["tp"], out["fp"], out["fn"]) == (1, 2, 1)
