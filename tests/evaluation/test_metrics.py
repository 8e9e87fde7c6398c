"""The metric functions against the formulas of the benchmarks' authors' released evaluation code (re-written here as
plain loops over the same definitions) on hand-made and random fixtures with ties."""

import math

import numpy as np
import pytest
import torch

from cf_vlm_hf.evaluation.metrics import (
    choice_correct,
    macro_accuracy,
    parse_yes_no,
    retrieval_recall,
    topk_accuracy,
    winoground_scores,
    yes_no_metrics,
)
from cf_vlm_hf.evaluation.tasks.aro import MIN_GROUP_ITEMS, SYMMETRIC_RELATIONS


def winoground_reference(result):
    """Winoground's statistics script: a result is {"c0_i0", "c0_i1", "c1_i0", "c1_i1"} scores."""
    text = result["c0_i0"] > result["c1_i0"] and result["c1_i1"] > result["c0_i1"]
    image = result["c0_i0"] > result["c0_i1"] and result["c1_i1"] > result["c1_i0"]
    return text, image, text and image


def test_winoground_scores_match_the_authors_formulas_with_ties():
    rng = np.random.default_rng(0)
    scores = torch.tensor(rng.integers(0, 3, size=(500, 2, 2)), dtype=torch.float64)  # many exact ties
    ours = winoground_scores(scores)
    for n in range(len(scores)):
        result = {f"c{i}_i{j}": float(scores[n, i, j]) for i in (0, 1) for j in (0, 1)}
        assert (bool(ours["text"][n]), bool(ours["image"][n]), bool(ours["group"][n])) == winoground_reference(result)
    assert 0 < ours["group"].double().mean() < ours["text"].double().mean() < 1


def aro_reference(scores, relations, min_count=MIN_GROUP_ITEMS, exclude=SYMMETRIC_RELATIONS):
    """ARO's evaluate_scores (argmax over [false, true] == 1, per-relation mean) + the paper's filters."""
    correct = np.argmax(scores, axis=-1) == 1
    relations = np.array(relations)
    records = []
    for relation in np.unique(relations):
        mask = relations == relation
        if mask.sum() >= min_count and relation not in exclude:
            records.append(correct[mask].mean())
    return float(np.mean(records))


def test_aro_macro_accuracy_matches_the_authors_evaluation():
    rng = np.random.default_rng(1)
    names = ["on", "behind", "next to", "near", "holding", "in front of", "pulling"]
    relations = [names[i] for i in rng.integers(0, len(names), size=600)]
    scores = rng.integers(0, 4, size=(600, 2)).astype(float)  # [false, true], ties included
    correct = choice_correct(torch.tensor(scores), [1] * 600).tolist()
    ours, kept = macro_accuracy(correct, relations, MIN_GROUP_ITEMS, SYMMETRIC_RELATIONS)
    assert ours == pytest.approx(aro_reference(scores, relations))
    assert "next to" not in kept and "near" not in kept and "on" in kept
    unfiltered, _ = macro_accuracy(correct, relations)
    assert unfiltered == pytest.approx(aro_reference(scores, relations, 0, ()))


def test_choice_tie_rules():
    scores = torch.tensor([[1.0, 1.0, 0.0], [0.5, 0.9, 0.1], [2.0, 1.0, 1.0]])
    assert choice_correct(scores, [0, 1, 0]).tolist() == [False, True, True]
    assert choice_correct(scores, [0, 1, 0], ties="first").tolist() == [True, True, True]
    assert choice_correct(scores, [1, 1, 2], ties="first").tolist() == [False, True, False]
    with pytest.raises(ValueError, match="ties must be one of"):
        choice_correct(scores, [0, 0, 0], ties="lenient")


def pope_reference(answers, labels):
    """POPE's evaluate script: parse each answer, then TP/FP/TN/FN with yes as positive."""
    pred = []
    for text in answers:
        words = text.split(".")[0].replace(",", "").split(" ")
        pred.append(0 if ("No" in words or "not" in words or "no" in words) else 1)
    label = [1 if y == "yes" else 0 for y in labels]
    tp = sum(p == 1 and y == 1 for p, y in zip(pred, label))
    fp = sum(p == 1 and y == 0 for p, y in zip(pred, label))
    tn = sum(p == 0 and y == 0 for p, y in zip(pred, label))
    fn = sum(p == 0 and y == 1 for p, y in zip(pred, label))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return {"accuracy": (tp + tn) / len(label), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall), "yes_ratio": pred.count(1) / len(pred)}


def test_pope_parsing_and_metrics_match_the_authors_script():
    answers = ["Yes, there is a dog.", "No.", "There is not a cat in the image.", "", "no, it is not", "Yes",
               "I see a nothing burger. No", "The answer is no"]
    labels = ["yes", "no", "yes", "no", "no", "yes", "yes", "no"]
    ours = yes_no_metrics([parse_yes_no(a) for a in answers], [y == "yes" for y in labels])
    reference = pope_reference(answers, labels)
    assert {k: ours[k] for k in reference} == pytest.approx(reference)
    assert [parse_yes_no(a) for a in answers] == [True, False, False, True, False, True, True, False]
    assert (ours["tp"], ours["fp"], ours["fn"], ours["tn"], ours["f1"]) == (3, 1, 1, 3, pytest.approx(0.75))


def test_pope_metrics_when_nothing_is_predicted_yes():
    m = yes_no_metrics([False, False], [True, False])
    assert m["recall"] == 0 and m["f1"] == 0 and math.isnan(m["precision"]) and m["yes_ratio"] == 0


def recall_reference(sim, owner, k):
    """Loops: image->text hit when any own caption is in the top k; text->image when the own image is."""
    sim = np.asarray(sim)
    i2t = []
    for i in range(sim.shape[0]):
        order = sorted(range(sim.shape[1]), key=lambda c: (-sim[i, c], owner[c] == i))  # ties: wrong ones first
        i2t.append(any(owner[c] == i for c in order[:k]))
    t2i = []
    for c in range(sim.shape[1]):
        order = sorted(range(sim.shape[0]), key=lambda i: (-sim[i, c], i == owner[c]))
        t2i.append(owner[c] in order[:k])
    return float(np.mean(i2t)), float(np.mean(t2i))


def test_retrieval_recall_matches_a_loop_with_ties():
    rng = np.random.default_rng(2)
    owner = [i // 3 for i in range(30)] + [9]  # 10 images, 31 captions (one image has 4)
    sim = rng.integers(0, 5, size=(10, 31)).astype(float)
    ours = retrieval_recall(torch.tensor(sim), owner)
    for k in (1, 5, 10):
        i2t, t2i = recall_reference(sim, owner, k)
        assert ours[f"image_to_text/R@{k}"] == pytest.approx(i2t) and ours[f"text_to_image/R@{k}"] == pytest.approx(t2i)


def test_topk_accuracy_counts_ties_against():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0], [0.1, 0.2, 0.3]])
    m = topk_accuracy(scores, [0, 1, 0], ks=(1, 2, 5))
    assert (m["top1"], m["top2"]) == (pytest.approx(1 / 3), pytest.approx(2 / 3)) and "top5" not in m
    assert m["mean_per_class_recall"] == pytest.approx((0.5 + 0.0) / 2)
