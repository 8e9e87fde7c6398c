"""The evaluation metrics as `evaluate` metric modules shipped inside the package, loadable offline by path.

    >>> import evaluate
    >>> from cf_vlm_hf.evaluation.metric_modules import metric_path
    >>> winoground = evaluate.load(metric_path("winoground"))
    >>> winoground.compute(c0_i0=[0.9], c0_i1=[0.2], c1_i0=[0.1], c1_i1=[0.8])
    {'text_score': 1.0, 'image_score': 1.0, 'group_score': 1.0, 'count': 1}

Modules: ``winoground`` (text / image / group scores), ``pairwise_accuracy`` (a positive score against one or
several negative scores), ``pope`` (yes/no answers: accuracy, precision, recall, F1, yes-ratio). Each is a thin
wrapper over `cf_vlm_hf.evaluation.metrics`, so a script using ``evaluate`` (a Trainer's ``compute_metrics``, say)
gets the numbers ``cf-vlm eval`` prints. Loading a module by its path needs no network.
"""

from __future__ import annotations

import os

METRICS = ("winoground", "pairwise_accuracy", "pope")


def metric_path(name: str) -> str:
    """The absolute path of a packaged metric module's folder (what ``evaluate.load`` takes)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric module {name!r}; the package ships {', '.join(METRICS)}")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


def load_metric(name: str, **kwargs):
    """``evaluate.load`` of a packaged metric module (``kwargs``: ``keep_in_memory``, ``experiment_id``, ...)."""
    import evaluate

    return evaluate.load(metric_path(name), **kwargs)
