"""What `CounterfactualTrainer` refuses before and during training, each with a message that says what to do.

* a corpus that cannot be CF-VLM (no rows; no counterfactuals, negative captions or edits under ``"cf-vlm"``);
* a ``processing_class`` that is a bare tokenizer or image processor (a dual encoder needs both halves);
* a custom ``data_collator`` whose batches lack what the scorers read;
* a model with nothing to train, or with non-finite parameters;
* a non-finite loss or gradient (`NonFiniteLossError`, naming the global step and the rows of the batch).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping

import torch

logger = logging.getLogger(__name__)

# What the scorers read from every batch (both collators write them).
REQUIRED_BATCH_KEYS = ("cf_mask", "edit_mask")


class NonFiniteLossError(FloatingPointError):
    """A loss term, score or gradient norm that is NaN or infinite; the message names the step and the rows."""


def check_processing_class(processing_class) -> None:
    """ValueError for a tokenizer or an image processor alone: the collators need the model's whole processor."""
    from transformers import PreTrainedTokenizerBase
    from transformers.image_processing_utils import BaseImageProcessor

    if isinstance(processing_class, (PreTrainedTokenizerBase, BaseImageProcessor)):
        kind = "tokenizer" if isinstance(processing_class, PreTrainedTokenizerBase) else "image processor"
        raise ValueError(
            f"processing_class is a {kind} ({type(processing_class).__name__}), but a counterfactual batch holds "
            "images and captions: pass the model's processor, processing_class=AutoProcessor.from_pretrained(...), "
            "which holds both the tokenizer and the image processor"
        )


def check_trainable(model: torch.nn.Module) -> None:
    """ValueError when no parameter of ``model`` requires a gradient, or when a parameter is not finite."""
    params = list(model.named_parameters())
    if params and not any(p.requires_grad for _, p in params):
        raise ValueError(
            f"nothing to train: every parameter of {type(model).__name__} is frozen (requires_grad=False); unfreeze "
            "some, or pass peft_config= to train LoRA adapters"
        )
    bad = [name for name, p in params if p.numel() and p.dtype.is_floating_point and not torch.isfinite(p).all()]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ValueError(f"the model's parameters are not finite before training: {shown} hold NaN or inf values")


def check_corpus(dataset, weights: dict[str, float], objective: str, name: str = "training corpus") -> None:
    """ValueError for an empty corpus, or for a ``"cf-vlm"`` corpus whose margin terms would all be empty.

    A corpus with counterfactuals but no edits (or the reverse) trains, with a warning: one term stays at 0.
    """
    from .data import corpus_totals

    counts = corpus_totals(dataset)
    if counts is None:
        return
    if counts["rows"] == 0:
        raise ValueError(
            f"the {name} has no rows. If it was loaded with on_error='skip', every row was rejected: the "
            "CorpusWarning printed while loading says why, and rejected_path lists them"
        )
    if objective != "cf-vlm":
        return
    texts = counts["counterfactuals"] + counts["negative_captions"]
    csd, fcd = weights["csd"] > 0 and texts > 0, weights["fcd"] > 0 and counts["edits"] > 0
    if (weights["csd"] > 0 or weights["fcd"] > 0) and not (csd or fcd):
        raise ValueError(
            f"objective 'cf-vlm' needs complete counterfactual pairs, negative captions or minimal edits, but the "
            f"{name} ({counts['rows']} rows) has none, so L_csd and L_fcd would stay 0 and training would be plain "
            "fine-tuning. Build counterfactuals first (cf-vlm generate), or train with objective='clip' on purpose"
        )
    for term, present, what in (("csd", csd, "counterfactual pairs or negative captions"), ("fcd", fcd, "edits")):
        if weights[term] > 0 and not present:
            warnings.warn(f"the {name} has no {what}: L_{term} stays 0 for every batch", UserWarning, stacklevel=3)


def check_batch(batch, data_collator) -> None:
    """ValueError when a collated batch lacks what the scorers read (a custom collator's batch, usually)."""
    missing = [key for key in REQUIRED_BATCH_KEYS if not (isinstance(batch, Mapping) and key in batch)]
    if missing:
        raise ValueError(
            f"the batches of data_collator={type(data_collator).__name__} lack {missing}: CounterfactualTrainer scores "
            "the batches of CounterfactualCollator (dual encoders) or GenerativeCollator (generative VLMs). Drop "
            "data_collator= and pass processing_class=<the model's processor>: the right collator is built from it"
        )


def nonfinite_message(step: int, terms: Mapping[str, torch.Tensor], rows, what: str = "loss") -> str:
    """The error text of a non-finite step: which term, at which global step, on which rows."""
    values = ", ".join(f"{name}_loss={value.item():g}" for name, value in terms.items())
    return (
        f"non-finite {what} at global step {step} ({values}) on the batch of rows {list(rows or [])}: the weights "
        "were not updated. Check those rows and the learning rate, or set on_nonfinite='skip' to skip such steps "
        "(counted as skipped_steps in the logs)"
    )


def check_temperature(temperature: float | None) -> None:
    """ValueError for a temperature whose inverse (the logit scale) is not finite or absurd (over 10,000)."""
    if temperature is None:
        return
    if not (temperature > 0 and math.isfinite(temperature) and math.isfinite(1.0 / temperature)):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    if 1.0 / temperature > 1e4:
        raise ValueError(f"temperature {temperature} gives a logit scale of {1.0 / temperature:g}; CLIP's is at most "
                         "100 (temperature 0.01)")
