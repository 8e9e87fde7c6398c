"""Settings of `cf-vlm demo`: its own stages (`DemoSettings`) parsed together with `CounterfactualConfig`.

The CF-VLM arm trains with the parsed `CounterfactualConfig` as is; the baselines and the base's pre-training
are the same config with their own objective, steps and learning rate. Every field is a flag
(``--output_dir``, ``--quick``, ``--seeds``, ``--max_steps``, ``--scenario_pairing`` ...); the demo's defaults
for the config's fields are `CONFIG_DEFAULTS`, and a few older demo flags are accepted as aliases (`ALIASES`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

from ...config import CounterfactualConfig


@dataclass
class DemoSettings:
    """What the demo generates, pre-trains, fine-tunes and evaluates, besides the training config.

    The defaults are the full run (about 10 minutes on a 2-core CPU once the base is cached); ``--quick`` swaps
    in the sizes of `QUICK` (under 3 minutes from nothing, what CI runs).
    """

    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Cache of corpora and base models (default: $XDG_CACHE_HOME/cf_vlm_hf, else "
                  "~/.cache/cf_vlm_hf)."},
    )
    quick: bool = field(default=False, metadata={"help": "A small run (< 3 minutes on CPU) with the same stages."})
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

    # Fine-tuning arms: same anchors, order, steps and seed. Their steps, batch size, vision learning rate, K, M
    # and objective settings are the CounterfactualConfig's (--max_steps, --per_device_train_batch_size, ...).
    train_anchors: int = field(default=2000, metadata={"help": "Anchors of the fine-tuning corpus."})
    text_lr: float = field(
        default=5e-5,
        metadata={"help": "Fine-tuning learning rate of the MiniLM text tower (--learning_rate is the vision tower's)."},
    )
    frozen_text_layers: int = field(
        default=0,
        metadata={"help": "Fine-tuning: MiniLM layers (of 6) kept frozen, with its embeddings (0: train it all; binding "
                  "needs the text tower to tell word order apart)."},
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
        for name in ("seeds", "pretrain_steps", "train_anchors", "eval_anchors"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.quick:
            _apply_quick(self)

    def key(self, *names: str, extra: str = "") -> str:
        """A short hash of the named settings and ``extra`` (a corpus fingerprint): a cached stage's key."""
        values = asdict(self)
        payload = json.dumps({n: values[n] for n in names}, sort_keys=True) + extra
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


# The demo's values for CounterfactualConfig fields. The CF-VLM arm: K=2, M=4, the paper's weights and margins, and
# the "recommended" preset: the two departures the ablation chose, the "cross" L_csd and the complete counterfactual
# pairs in L_align (README, "Demo ablation"; --preset paper runs the paper's form).
CONFIG_DEFAULTS = dict(
    output_dir="cf-vlm-demo",
    max_steps=200,
    per_device_train_batch_size=32,
    learning_rate=1e-3,
    max_counterfactuals=2,
    max_edits=4,
    preset="recommended",
    lr_scheduler_type="cosine",
    weight_decay=0.01,
    save_strategy="no",
    report_to="none",
    use_cpu=True,
    dataloader_drop_last=True,
    log_level="warning",
)

# The CI run (< 3 minutes from nothing): a smaller pool and base (more, smaller pre-training batches), half-size
# fine-tuning batches with K=1, M=2, a smaller evaluation, no equal-time arm.
QUICK = dict(pretrain_anchors=4000, pretrain_steps=200, pretrain_batch_size=32, train_anchors=600, eval_anchors=400,
             equal_time_baseline=False, max_steps=100, per_device_train_batch_size=16, max_counterfactuals=1,
             max_edits=2)

# Flags of earlier demo versions -> the CounterfactualConfig fields they now are.
ALIASES = {"steps": "max_steps", "batch_size": "per_device_train_batch_size", "vision_lr": "learning_rate",
           "num_counterfactuals": "max_counterfactuals", "num_edits": "max_edits"}

_DEFAULTS = {f.name: f.default for f in fields(DemoSettings)}


def _apply_quick(target) -> None:
    """Swap in `QUICK`'s value for each of ``target``'s fields that still has its demo default."""
    defaults = _DEFAULTS if isinstance(target, DemoSettings) else CONFIG_DEFAULTS
    for name, value in QUICK.items():
        if name in defaults and getattr(target, name) == defaults[name]:
            setattr(target, name, value)


def _alias(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        if arg.replace("-", "_") == "--no_align_counterfactuals":  # the flag of the demo's earlier bool field
            out += ["--align_counterfactuals", "False"]
            continue
        name, eq, value = arg.partition("=")
        key = name[2:].replace("-", "_") if name.startswith("--") else None
        out.append(f"--{ALIASES[key]}{eq}{value}" if key in ALIASES else arg)
    return out


def make_parser():
    """An `HfArgumentParser` over (DemoSettings, CounterfactualConfig) with the demo's defaults."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        (DemoSettings, CounterfactualConfig),
        prog="cf-vlm demo",
        description="The shapes-world demo: pre-train a base dual encoder, fine-tune it with plain fine-tuning and "
        "with CF-VLM on the same anchors, evaluate every model on held-out scenes (results.md, results.png).",
    )
    parser.set_defaults(**CONFIG_DEFAULTS)
    return parser


def parse_demo_args(argv: list[str] | None = None) -> tuple[DemoSettings, CounterfactualConfig]:
    """(DemoSettings, the CF-VLM arm's CounterfactualConfig) from command-line arguments; ``--quick`` applied."""
    settings, config = make_parser().parse_args_into_dataclasses(_alias(list(argv or [])))
    if settings.quick:
        _apply_quick(config)
    for name in ("max_steps", "per_device_train_batch_size"):
        if getattr(config, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(config, name)}")
    return settings, config


def demo_config(**overrides) -> CounterfactualConfig:
    """The CF-VLM arm's config with the demo's defaults and ``overrides`` (no ``--quick``)."""
    return CounterfactualConfig(**{**CONFIG_DEFAULTS, **overrides})


def run_settings(settings: DemoSettings, config: CounterfactualConfig) -> dict:
    """What a run records under ``results["settings"]``: the demo's settings and the CF-VLM arm's objective."""
    arm = ("objective", "max_steps", "per_device_train_batch_size", "learning_rate", "max_counterfactuals", "max_edits",
           "csd_weight", "fcd_weight", "align_weight", "csd_margin", "fcd_margin", "scenario_pairing", "fcd_reduction",
           "align_counterfactuals", "align_edits")
    return {**asdict(settings), "output_dir": config.output_dir, **{name: getattr(config, name) for name in arm}}
