"""The arguments of `cf-vlm train`: what model, what data; the training itself is `CounterfactualConfig`.

A recipe (``recipes/NAME.yaml``) fills these three dataclasses; every field is also a ``--flag`` that overrides
the file. Field names are unique across the three classes (the parser requires it), hence ``shapes_world_seed``
next to the training ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models.loading import DTYPES

SHAPES_WORLD = "shapes-world"
ON_ERROR = ("raise", "skip")


@dataclass
class ModelArguments:
    """Which checkpoint to fine-tune and how to load it."""

    model_name_or_path: str = field(
        metadata={
            "help": "Hub id or local folder of the model to fine-tune: a dual encoder (CLIP, SigLIP, "
            "VisionTextDualEncoder, ...; loaded with AutoModel) or an image-text-to-text VLM (LLaVA, Qwen2-VL, ...; "
            "AutoModelForImageTextToText), or a LoRA adapter folder (loaded on its base). Weights as safetensors."
        }
    )
    processor_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Hub id or local folder of the processor; default: model_name_or_path."},
    )
    model_revision: str = field(
        default="main", metadata={"help": "Branch, tag or commit of the model (and processor) on the Hub."}
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Allow the model's own modelling code from its repository to run. Only for code you trust."},
    )
    dtype: str = field(
        default="float32",
        metadata={
            "help": "dtype the weights are loaded in. Keep float32 for training (mixed precision comes from "
            "--bf16/--fp16); 'auto' takes the checkpoint's own dtype.",
            "choices": list(DTYPES),
        },
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={
            "help": "Attention implementation passed to from_pretrained ('eager', 'sdpa', ...); default: the model's."
        },
    )
    use_peft: bool = field(
        default=False,
        metadata={
            "help": "Train LoRA adapters (PEFT) instead of all weights; the lora_* arguments configure them. Needs "
            "`pip install peft`."
        },
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (with use_peft)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator alpha (with use_peft)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA branch (with use_peft)."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "help": "Names (or name suffixes) of the modules that get LoRA adapters, e.g. q_proj v_proj, or "
            "'all-linear'; default: PEFT's choice for the model type (with use_peft)."
        },
    )

    def __post_init__(self):
        if self.lora_r <= 0:
            raise ValueError(f"lora_r must be a positive integer, got {self.lora_r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")


@dataclass
class DataArguments:
    """Which counterfactual corpus to train (and evaluate) on."""

    dataset: str = field(
        metadata={
            "help": "The corpus: a Hub dataset id; a local folder (parquet shards, save_to_disk, an ImageFolder with "
            "metadata.jsonl, or SPLIT.jsonl files, one split each); a .parquet file; a .jsonl/.json file in the "
            "corpus schema or the CF-VLM authors' format (docs/corpus.md); or 'shapes-world' to generate the "
            "embedded procedural corpus (sized by the shapes_world_* / num_*_anchors arguments)."
        }
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str | None = field(
        default=None,
        metadata={
            "help": "Split to evaluate on after training (and during it, with --eval_strategy); default: no "
            "evaluation. For shapes-world: 'test' (in distribution) or 'heldout' (unseen colour-shape combinations)."
        },
    )
    streaming: bool = field(
        default=False,
        metadata={"help": "Stream the corpus instead of downloading it whole (needs --max_steps > 0)."},
    )
    on_error: str = field(
        default="raise",
        metadata={
            "help": "What to do with a malformed row: 'raise' (stop, naming the row) or 'skip' (drop it; listed "
            "in rejected_path when given).",
            "choices": list(ON_ERROR),
        },
    )
    rejected_path: str | None = field(
        default=None, metadata={"help": "With on_error='skip': a JSONL file listing the rows dropped and why."}
    )
    image_column: str | None = field(
        default=None,
        metadata={"help": "The corpus column (or JSON key) holding the anchor image, when it is not 'image' (e.g. "
                  "image_path)."},
    )
    caption_column: str | None = field(
        default=None,
        metadata={"help": "The corpus column (or JSON key) holding the anchor caption, when it is not 'caption'."},
    )
    allow_outside_root: bool = field(
        default=False,
        metadata={"help": "Accept image paths outside the corpus root (the annotation file's or corpus folder; a "
                  "symlink placed under it is followed anyway). Only for a corpus you trust: see docs/corpus.md."},
    )
    dataset_revision: str | None = field(
        default=None, metadata={"help": "Branch, tag or commit of a Hub dataset; default: the latest."}
    )
    num_train_anchors: int = field(
        default=1000, metadata={"help": "shapes-world only: number of factual anchors in the training split."}
    )
    num_eval_anchors: int = field(
        default=200, metadata={"help": "shapes-world only: number of factual anchors in the evaluation split."}
    )
    shapes_world_seed: int = field(
        default=0, metadata={"help": "shapes-world only: seed of the generated corpus (independent of --seed)."}
    )
    image_size: int = field(default=64, metadata={"help": "shapes-world only: canvas size in pixels."})
    num_counterfactuals: int = field(
        default=2, metadata={"help": "shapes-world only: complete counterfactual pairs per anchor."}
    )
    num_edits: int = field(default=4, metadata={"help": "shapes-world only: minimal edits per anchor."})
    dataset_num_proc: int | None = field(
        default=None, metadata={"help": "shapes-world only: processes that render the corpus; default one."}
    )

    def __post_init__(self):
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")
        for name in ("num_train_anchors", "num_eval_anchors", "num_counterfactuals", "num_edits"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def is_shapes_world(self) -> bool:
        return self.dataset == SHAPES_WORLD

    def shapes_world_spec(self):
        """The `ShapesWorldSpec` of the generated corpus."""
        from ..data.shapes_world import ShapesWorldSpec

        return ShapesWorldSpec(
            image_size=self.image_size, num_counterfactuals=self.num_counterfactuals, num_edits=self.num_edits
        )


def train_dataclasses() -> tuple[type, ...]:
    """(ModelArguments, DataArguments, CounterfactualConfig): the order `parse_train_args` returns them in."""
    from ..config import CounterfactualConfig

    return ModelArguments, DataArguments, CounterfactualConfig


def train_parser():
    """A `trl.TrlParser` over the three dataclasses: ``--config FILE.yaml`` plus flags that override it."""
    try:
        from trl import TrlParser
    except ImportError as err:
        raise ImportError("`cf-vlm train` parses recipes with trl.TrlParser: pip install 'trl>=0.20'") from err

    return TrlParser(
        train_dataclasses(),
        prog="cf-vlm train",
        usage="cf-vlm train [--config recipes/NAME.yaml] [--FIELD VALUE ...]",
        description="Fine-tune a vision-language model with the CF-VLM objectives. A YAML recipe (--config) sets "
        "any of the fields below (plus an optional `env:` mapping exported first); flags override the recipe.",
    )


def known_keys(parser) -> set[str]:
    """Every key a recipe may hold: the parser's destinations (field names), plus ``env``."""
    return {action.dest for action in parser._actions} | {"env"}


def check_recipe_keys(path: str, parser) -> None:
    """Raise ValueError naming every top-level key of the YAML recipe that no dataclass field matches."""
    import yaml

    with open(path, encoding="utf-8") as f:
        recipe = yaml.safe_load(f)
    if recipe is None:
        return
    if not isinstance(recipe, dict):
        raise ValueError(f"recipe {path} must be a YAML mapping of argument names to values")
    unknown = sorted(str(key) for key in recipe if key not in known_keys(parser))
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise ValueError(
            f"unknown key{'s' if len(unknown) > 1 else ''} in recipe {path}: {names}. A recipe holds fields of "
            "ModelArguments, DataArguments or CounterfactualConfig (see `cf-vlm train --help`), and an optional "
            "`env:` mapping."
        )


def parse_train_args(argv: list[str] | None = None):
    """Parse ``argv`` (``--config FILE`` and flags) into (ModelArguments, DataArguments, CounterfactualConfig).

    The recipe's ``env:`` block is exported to ``os.environ`` before the dataclasses are built.
    """
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = train_parser()
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):  # TrlParser understands only the two-word form
            argv[i : i + 1] = ["--config", arg.split("=", 1)[1]]
    try:
        if "--config" in argv:
            index = argv.index("--config")
            if index + 1 >= len(argv):
                raise ValueError("--config needs a YAML file")
            check_recipe_keys(argv[index + 1], parser)
        return parser.parse_args_and_config(argv)
    except (ValueError, OSError) as err:  # a bad recipe or value: argparse's usage message, exit status 2
        parser.error(str(err))
