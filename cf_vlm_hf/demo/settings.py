"""Settings of `cf-vlm demo`: every field is a command-line flag (``--output-dir``, ``--quick``, ``--seeds``...)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

from ..config import FCD_REDUCTIONS, SCENARIO_PAIRINGS


@dataclass
class DemoSettings:
    """What the demo generates, pre-trains, fine-tunes and evaluates.

    The defaults are the full run (about 10 minutes on a 2-core CPU once the base is cached); ``--quick`` swaps
    in the sizes of `QUICK` (under 3 minutes from nothing, what CI runs).
    """

    output_dir: str = field(default="cf-vlm-demo", metadata={"help": "Where checkpoints and results go."})
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Cache of corpora and base models (default: $XDG_CACHE_HOME/cf_vlm_hf or ~/.cache/cf_vlm_hf)."},
    )
    quick: bool = field(default=False, metadata={"help": "A small run (< 3 minutes on CPU) with the same steps."})
    seeds: int = field(default=1, metadata={"help": "Fine-tune both arms with seeds 0..N-1; report mean and std."})
    image_size: int = field(default=64, metadata={"help": "Canvas size of the shapes-world images (pixels)."})

    # Base model: a dual encoder whose ViT is pre-trained contrastively on plain shapes-world pairs.
    pretrain_anchors: int = field(default=20000, metadata={"help": "Image-caption pairs for base pre-training."})
    pretrain_steps: int = field(
        default=300,
        metadata={"help": "Steps of base pre-training. Short on purpose: a base that still matches captions "
                  "partly by their bag of words leaves fine-tuning something to add (README, demo results)."},
    )
    pretrain_batch_size: int = field(default=64, metadata={"help": "Batch size of base pre-training."})
    pretrain_vision_lr: float = field(default=1e-3, metadata={"help": "Learning rate of the ViT (from scratch)."})
    pretrain_frozen_text_layers: int = field(
        default=4, metadata={"help": "Pre-training: MiniLM layers (of 6) kept frozen, with its embeddings."}
    )

    # Fine-tuning arms: same anchors, order, steps and seed.
    train_anchors: int = field(default=2000, metadata={"help": "Anchors of the fine-tuning corpus."})
    steps: int = field(default=200, metadata={"help": "Fine-tuning steps of each arm."})
    batch_size: int = field(default=32, metadata={"help": "Anchors per fine-tuning step."})
    vision_lr: float = field(default=1e-3, metadata={"help": "Fine-tuning learning rate of the vision tower."})
    text_lr: float = field(default=5e-5, metadata={"help": "Fine-tuning learning rate of the MiniLM text tower."})
    frozen_text_layers: int = field(
        default=0,
        metadata={"help": "Fine-tuning: MiniLM layers (of 6) kept frozen, with its embeddings (0: train it all; binding "
                  "needs the text tower to tell word order apart)."},
    )
    num_counterfactuals: int = field(
        default=2,
        metadata={"help": "Complete counterfactual pairs per anchor (K). Of K=2 M=4, K=2 M=2 and K=1 M=2, only "
                  "K=2 M=4 gained clearly over the baseline across 3 seeds (README, demo ablation)."},
    )
    num_edits: int = field(default=4, metadata={"help": "Minimal edits per anchor (M)."})
    csd_weight: float = field(default=1.0, metadata={"help": "CF-VLM arm: weight of L_csd."})
    fcd_weight: float = field(default=1.0, metadata={"help": "CF-VLM arm: weight of L_fcd."})
    scenario_pairing: str = field(
        default="cross", metadata={"help": "CF-VLM arm: 'paper', 'cross' or 'symmetric' L_csd."}
    )
    fcd_reduction: str = field(default="hardest", metadata={"help": "CF-VLM arm: 'hardest' or 'mean' L_fcd."})
    align_counterfactuals: bool = field(
        default=True,
        metadata={"help": "CF-VLM arm: also align the complete counterfactual pairs in L_align (the paper aligns the "
                  "anchors only; --no_align_counterfactuals runs the paper's form). Over 3 seeds it took the binding "
                  "gain from +7 to +22 points at no cost per step (README, demo ablation)."},
    )
    align_edits: bool = field(
        default=False,
        metadata={"help": "CF-VLM arm: also align each minimal edit with its own caption in L_align (not the paper)."},
    )
    equal_time_baseline: bool = field(
        default=True, metadata={"help": "Also train a baseline for the CF-VLM arm's wall time (equal compute)."}
    )

    # Evaluation.
    eval_anchors: int = field(
        default=2200,
        metadata={"help": "Anchors per test split, each with every applicable edit (2,200 gives >= 500 items of every "
                  "edit type on both splits)."},
    )

    def __post_init__(self):
        for name in ("seeds", "steps", "batch_size", "pretrain_steps", "train_anchors", "eval_anchors"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.scenario_pairing not in SCENARIO_PAIRINGS:
            raise ValueError(f"--scenario_pairing must be one of {SCENARIO_PAIRINGS}, got {self.scenario_pairing!r}")
        if self.fcd_reduction not in FCD_REDUCTIONS:
            raise ValueError(f"--fcd_reduction must be one of {FCD_REDUCTIONS}, got {self.fcd_reduction!r}")
        if self.quick:
            for name, value in QUICK.items():
                if getattr(self, name) == _DEFAULTS[name]:
                    setattr(self, name, value)

    def key(self, *names: str, extra: str = "") -> str:
        """A short hash of the named settings and ``extra`` (a corpus fingerprint): a cached stage's key."""
        values = asdict(self)
        payload = json.dumps({n: values[n] for n in names}, sort_keys=True) + extra
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


# The CI run (< 3 minutes from nothing): a smaller pool and base (more, smaller pre-training batches), half-size
# fine-tuning batches with K=1, M=2, a smaller evaluation, no equal-time arm.
QUICK = dict(pretrain_anchors=4000, pretrain_steps=200, pretrain_batch_size=32, train_anchors=600, steps=100,
             batch_size=16, num_counterfactuals=1, num_edits=2, eval_anchors=400, equal_time_baseline=False)
_DEFAULTS = {f.name: f.default for f in fields(DemoSettings)}
