"""The benchmarks' metrics as pure functions of scores: no model, no files.

Accuracies are fractions in [0, 1] (tables print them as percentages). Unless a function says otherwise a
comparison is strict: a tie between the right answer and a wrong one counts as wrong (SugarCrepe's, Winoground's
and VL-CheckList's rule). ``ties="first"`` reproduces tools that take an ``argmax`` with the right answer first
(clip-benchmark; ARO's Order tasks), where a tie counts as right.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import torch

TIE_RULES = ("strict", "first")


def choice_correct(scores: torch.Tensor, answer: torch.Tensor | Sequence[int], ties: str = "strict") -> torch.Tensor:
    """(N,) bool: whether option ``answer[n]`` wins row n of ``scores``.

    Args:
        scores: (N, C) score of each option (padded rows may hold ``-inf``).
        answer: (N,) index of the right option.
        ties: "strict" (it must beat every other option) or "first" (``argmax`` over the options: on a tie the
            lowest index wins, so a tie is right when the answer comes first).
    """
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    scores = torch.as_tensor(scores, dtype=torch.float64)
    answer = torch.as_tensor(answer, dtype=torch.long)
    if scores.ndim != 2 or answer.shape != scores.shape[:1]:
        raise ValueError(f"scores must be (N, C) and answer (N,), got {tuple(scores.shape)} and {tuple(answer.shape)}")
    if ties == "first":
        return scores.argmax(dim=1) == answer
    right = scores.gather(1, answer[:, None]).squeeze(1)
    others = scores.scatter(1, answer[:, None], float("-inf"))
    return right > others.max(dim=1).values


def accuracy(correct: Sequence[bool] | torch.Tensor) -> float:
    """Share of True values (nan for none)."""
    values = torch.as_tensor(correct, dtype=torch.float64)
    return float(values.mean()) if values.numel() else float("nan")


def grouped_accuracy(correct: Sequence[bool], groups: Sequence[str]) -> dict[str, tuple[float, int]]:
    """group -> (accuracy, item count), groups in sorted order."""
    sums, counts = defaultdict(int), Counter()
    for ok, group in zip(correct, groups, strict=True):
        sums[group] += bool(ok)
        counts[group] += 1
    return {g: (sums[g] / counts[g], counts[g]) for g in sorted(counts)}


def macro_accuracy(
    correct: Sequence[bool], groups: Sequence[str], min_count: int = 0, exclude: Iterable[str] = ()
) -> tuple[float, dict[str, tuple[float, int]]]:
    """Mean over groups of the per-group accuracy (ARO's VG-Relation / VG-Attribution).

    Groups with fewer than ``min_count`` items, and groups named in ``exclude``, are left out.

    Returns:
        (macro accuracy, {kept group: (accuracy, count)}); nan when no group is kept.
    """
    excluded = set(exclude)
    kept = {g: v for g, v in grouped_accuracy(correct, groups).items() if v[1] >= min_count and g not in excluded}
    value = sum(acc for acc, _ in kept.values()) / len(kept) if kept else float("nan")
    return value, kept


def winoground_scores(scores: torch.Tensor) -> dict[str, torch.Tensor]:
    """Winoground's text, image and group scores per example.

    Args:
        scores: (N, 2, 2), ``scores[n, i, j]`` = S(caption i, image j); caption k describes image k.

    Returns:
        {"text", "image", "group"}: (N,) bool each. text: s(C0,I0) > s(C1,I0) and s(C1,I1) > s(C0,I1) (each image
        prefers its caption); image: s(C0,I0) > s(C0,I1) and s(C1,I1) > s(C1,I0) (each caption prefers its image);
        group: both. Strict inequalities, as the authors define them.
    """
    s = torch.as_tensor(scores, dtype=torch.float64)
    if s.ndim != 3 or s.shape[1:] != (2, 2):
        raise ValueError(f"scores must be (N, 2, 2), got {tuple(s.shape)}")
    c0_i0, c0_i1, c1_i0, c1_i1 = s[:, 0, 0], s[:, 0, 1], s[:, 1, 0], s[:, 1, 1]
    text = (c0_i0 > c1_i0) & (c1_i1 > c0_i1)
    image = (c0_i0 > c0_i1) & (c1_i1 > c1_i0)
    return {"text": text, "image": image, "group": text & image}


def parse_yes_no(answer: str) -> bool:
    """POPE's rule for a generated answer: True ("yes") unless a word of its first sentence is "No", "no" or "not".

    The text before the first "." is kept, commas are removed, and it is split on spaces; an empty or unparseable
    answer therefore counts as "yes".
    """
    first = answer.split(".", 1)[0].replace(",", "")
    return not any(word in ("No", "no", "not") for word in first.split(" "))


def yes_no_metrics(predictions: Sequence[bool], labels: Sequence[bool]) -> dict[str, float]:
    """POPE's metrics with "yes" as the positive class: accuracy, precision, recall, F1, yes-ratio and the counts.

    Precision (recall) is nan when nothing is predicted (labelled) "yes"; F1 is 2TP / (2TP + FP + FN), which equals
    2PR / (P + R) and is 0 when there is no true positive.
    """
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    tp = sum(1 for p, y in zip(predictions, labels) if p and y)
    fp = sum(1 for p, y in zip(predictions, labels) if p and not y)
    tn = sum(1 for p, y in zip(predictions, labels) if not p and not y)
    fn = sum(1 for p, y in zip(predictions, labels) if not p and y)
    total = tp + fp + tn + fn
    nan = float("nan")
    precision = tp / (tp + fp) if tp + fp else nan
    recall = tp / (tp + fn) if tp + fn else nan
    f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else nan  # = 2PR / (P + R), and 0 when TP = 0
    return {
        "accuracy": (tp + tn) / total if total else nan,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": (tp + fp) / total if total else nan,
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
    }


def retrieval_recall(similarity: torch.Tensor, caption_image: Sequence[int], ks: Sequence[int] = (1, 5, 10)
                     ) -> dict[str, float]:
    """Image->text and text->image recall@K of a (num_images, num_captions) score matrix.

    * image->text: an image is a hit at K when one of its own captions ranks in the top K of all captions;
      averaged over images.
    * text->image: a caption is a hit at K when its image ranks in the top K of all images; averaged over captions.

    A rank counts the wrong candidates scoring at least as high as the best right one (ties count against).

    Returns:
        ``image_to_text/R@K``, ``text_to_image/R@K`` for each K, and ``mean_recall`` (their mean).
    """
    sim = torch.as_tensor(similarity)
    sim = sim if sim.is_floating_point() else sim.double()  # float32 stays float32: COCO's matrix is 125M entries
    owner = torch.as_tensor(caption_image, dtype=torch.long)
    num_images, num_captions = sim.shape
    if owner.shape != (num_captions,):
        raise ValueError(f"caption_image must have {num_captions} entries, got {tuple(owner.shape)}")
    truth = owner[None, :] == torch.arange(num_images)[:, None]  # (I, C)
    best_own = sim.masked_fill(~truth, float("-inf")).max(dim=1).values  # (I,)
    image_rank = (sim.masked_fill(truth, float("-inf")) >= best_own[:, None]).sum(dim=1)
    own = sim.gather(0, owner[None, :]).squeeze(0)  # (C,) score of each caption with its own image
    others = sim.t().masked_fill(truth.t(), float("-inf"))  # (C, I)
    text_rank = (others >= own[:, None]).sum(dim=1)
    results = {}
    for k in ks:
        results[f"image_to_text/R@{k}"] = float((image_rank < k).double().mean())
    for k in ks:
        results[f"text_to_image/R@{k}"] = float((text_rank < k).double().mean())
    results["mean_recall"] = sum(results.values()) / len(results)
    return results


def topk_accuracy(scores: torch.Tensor, labels: Sequence[int], ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Top-K accuracy of (N, C) class scores, and the mean per-class recall of the top-1 prediction.

    A class is in the top K when fewer than K other classes score at least as high as it (ties count against).
    K larger than the number of classes is skipped.
    """
    s = torch.as_tensor(scores, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    own = s.gather(1, y[:, None])
    rank = (s.scatter(1, y[:, None], float("-inf")) >= own).sum(dim=1)
    results = {f"top{k}": float((rank < k).double().mean()) for k in ks if k <= s.shape[1]}
    per_class = [float((rank[y == c] < 1).double().mean()) for c in range(s.shape[1]) if (y == c).any()]
    results["mean_per_class_recall"] = sum(per_class) / len(per_class) if per_class else float("nan")
    return results
