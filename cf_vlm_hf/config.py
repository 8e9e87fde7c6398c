"""`CounterfactualConfig`: `TrainingArguments` plus the CF-VLM objectives; every field is a CLI flag.

The config only names and checks the choices; what they mean for a batch and for the loss is
`cf_vlm_hf.objective`.

Why this module is long: one dataclass whose fields each carry the help text of their command-line flag (as TRL's
configs do); splitting it would scatter the flags of one parser over several files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from transformers import TrainingArguments

from .models.generative.prompts import (
    DEFAULT_CAPTION_PROMPT,
    DEFAULT_YES_ANSWER,
    DEFAULT_YES_QUESTION,
    GENERATIVE_SCORES,
)

OBJECTIVES = ("cf-vlm", "clip", "negclip")
SCENARIO_PAIRINGS = ("paper", "cross", "symmetric")
FCD_REDUCTIONS = ("hardest", "mean")
ALIGNMENT_KINDS = ("infonce", "sigmoid")
ON_NONFINITE = ("raise", "skip")

# Named settings of the two L_csd choices that the paper leaves open (weights and margins are the paper's in both).
# "recommended" is what the shapes-world demo's ablation chose (README, "Demo ablation"); "paper" is the paper's.
PRESETS: dict[str, dict] = {
    "paper": {"scenario_pairing": "paper", "align_counterfactuals": False},
    "recommended": {"scenario_pairing": "cross", "align_counterfactuals": True},
}
ON_TRUNCATED_DUPLICATE = ("raise", "warn")


@dataclass
class CounterfactualConfig(TrainingArguments):
    r"""Training arguments for `CounterfactualTrainer`: `transformers.TrainingArguments` plus the fields below.

    The total loss is ``align_weight * L_align + csd_weight * L_csd + fcd_weight * L_fcd`` (docs/DESIGN.md). The
    objective presets give the baselines on the same data: ``"clip"`` trains L_align alone on the factual pairs
    (standard fine-tuning), ``"negclip"`` adds the counterfactual and edit captions as extra hard negatives of
    the image->text side of L_align.

    On loss scale: for a dual encoder the InfoNCE gradient per unit of cosine is about ``logit_scale`` times
    (CLIP: up to 100) that of a hinge on cosines, so with weights of 1 the margin terms are weak next to
    L_align. The defaults follow the paper (weights 1, margins 0.25 / 0.30, the paper's L_csd, anchors-only
    L_align); ``preset="recommended"`` keeps the weights and margins and takes ``scenario_pairing="cross"`` with
    ``align_counterfactuals=True``, the two departures the shapes-world demo's ablation chose (README, "Demo
    ablation"). The demo and `recipes/shapes-world.yaml` use it.

    Parameters:
        > Parameters that control the objective

        preset (`str`, *optional*, defaults to `"paper"`):
            `"paper"` or `"recommended"`: the values of `scenario_pairing` and `align_counterfactuals` when those are
            not given (paper: `"paper"`, False; recommended: `"cross"`, True).
        objective (`str`, *optional*, defaults to `"cf-vlm"`):
            `"cf-vlm"` (L_align + L_csd + L_fcd), `"clip"` (L_align only) or `"negclip"` (L_align with text
            hard negatives).
        align_weight, csd_weight, fcd_weight (`float`, *optional*, default to `1.0`):
            Weights of the three terms (the baselines ignore the last two).
        csd_margin, fcd_margin (`float`, *optional*, default to `0.25` and `0.30`):
            Margins m1 and m2, in score units (cosine; log-probability for generative VLMs).
        scenario_pairing (`str`, *optional*, defaults to the preset's):
            Form of L_csd: `"paper"`, `"cross"` or `"symmetric"`.
        fcd_reduction (`str`, *optional*, defaults to `"hardest"`):
            Form of L_fcd: `"hardest"` (the paper) or `"mean"`.
        align_counterfactuals, align_edits (`bool`, *optional*, default to the preset's and `False`):
            Dual encoders: complete counterfactual pairs / captioned minimal edits join L_align as pairs of their own.
        max_counterfactuals, max_edits (`int` or `None`, *optional*, default to `None`):
            Caps on K and M per anchor (a seeded random subset beyond them).

        > Parameters that control dual encoders

        temperature (`float` or `None`, *optional*):
            Fixed temperature of L_align (default: the model's learned `logit_scale`).
        alignment_kind (`str` or `None`, *optional*):
            `"infonce"` or `"sigmoid"` (default: sigmoid for models with a `logit_bias`, such as SigLIP).
        mask_duplicate_captions (`bool`, *optional*, defaults to `False`):
            Identical captions of a batch are neither positives nor negatives of L_align.

        > Parameters that control generative VLMs

        generative_score (`str`, *optional*, defaults to `"caption-likelihood"`):
            S(I, T): `"caption-likelihood"` or `"yes-probability"` (VQAScore).
        caption_prompt, yes_question, yes_answer (`str`, *optional*):
            The prompts of the two scores, rendered with the model's chat template.
        max_sequences_per_forward, generative_max_length (`int` or `None`, *optional*):
            Sequences per model forward (memory) and the longest sequence allowed (never truncated).

        > Parameters that control data parallelism

        gather_across_devices (`bool`, *optional*, defaults to `True`):
            L_align over the global batch (all ranks' negatives; generative: a global token mean).

        > Parameters that control the safeguards

        on_nonfinite (`str`, *optional*, defaults to `"raise"`):
            A NaN/inf loss or gradient norm stops training (`"raise"`) or skips the optimizer step (`"skip"`).
        on_truncated_duplicate (`str`, *optional*, defaults to `"raise"`):
            A caption truncated into its anchor caption's tokens is an error (`"raise"`) or a warning (`"warn"`).
        overwrite_output_dir (`bool`, *optional*, defaults to `False`):
            A fresh run may delete the checkpoints another run left in `output_dir`.
        model_card_template (`str` or `None`, *optional*):
            The model card template (Jinja, rendered with `huggingface_hub.ModelCard`); default: the packaged one.
    """

    # Parameters that control the objective
    preset: str = field(
        default="paper",
        metadata={
            "help": "Named CF-VLM settings for scenario_pairing and align_counterfactuals when those are not given: "
            "'paper' (the paper's L_csd, anchors-only L_align) or 'recommended' (the 'cross' L_csd with the "
            "counterfactual pairs aligned in L_align: the shapes-world demo's ablation winner). Weights and margins "
            "are the paper's in both.",
            "choices": list(PRESETS),
        },
    )
    objective: str = field(
        default="cf-vlm",
        metadata={
            "help": "Training objective: 'cf-vlm' (alignment + scenario + causal discrimination), 'clip' "
            "(alignment only: the plain fine-tuning baseline) or 'negclip' (alignment with the counterfactual "
            "and edit captions as extra hard negatives).",
            "choices": list(OBJECTIVES),
        },
    )
    align_weight: float = field(default=1.0, metadata={"help": "Weight of the alignment loss L_align."})
    csd_weight: float = field(
        default=1.0, metadata={"help": "Weight of the counterfactual scenario discrimination loss L_csd."}
    )
    fcd_weight: float = field(
        default=1.0, metadata={"help": "Weight of the fine-grained causal discrimination loss L_fcd."}
    )
    csd_margin: float = field(
        default=0.25,
        metadata={
            "help": "Margin m1 of L_csd, in score units: cosine for dual encoders, log-probability (nats; mean per "
            "caption token for caption-likelihood) for generative VLMs. The default suits both (README, 'Generative "
            "VLMs': calibration)."
        },
    )
    fcd_margin: float = field(
        default=0.30,
        metadata={
            "help": "Margin m2 of L_fcd, in score units: cosine for dual encoders, log-probability (nats; mean per "
            "caption token for caption-likelihood) for generative VLMs. The default suits both (README, 'Generative "
            "VLMs': calibration)."
        },
    )
    scenario_pairing: str | None = field(
        default=None,
        metadata={
            "help": "Form of L_csd (default: the preset's): 'paper' (the factual pair must beat each complete "
            "counterfactual pair), "
            "'cross' (the anchor image must prefer its caption over each counterfactual caption, and the anchor "
            "caption its image over each counterfactual image) or 'symmetric' ('cross' from both sides: each "
            "counterfactual pair must also beat its crossings with the anchor).",
            "choices": list(SCENARIO_PAIRINGS),
        },
    )
    fcd_reduction: str = field(
        default="hardest",
        metadata={
            "help": "Form of L_fcd: 'hardest' (the paper: one hinge against the highest-scoring minimal edit) or "
            "'mean' (one hinge per minimal edit, averaged).",
            "choices": list(FCD_REDUCTIONS),
        },
    )
    align_counterfactuals: bool | None = field(
        default=None,
        metadata={
            "help": "(Default: the preset's.) Objective 'cf-vlm', dual encoders: also align each complete counterfactual pair (I'_k, T'_k) "
            "in L_align, as a factual pair of its own, so an anchor and its counterfactuals are each other's "
            "in-batch negatives at the logit scale (the paper aligns the anchors only). Ignored by 'clip' and "
            "'negclip'."
        },
    )
    align_edits: bool = field(
        default=False,
        metadata={
            "help": "Objective 'cf-vlm', dual encoders: also align each minimal edit E_j with its own caption (the "
            "corpus's edit_captions, required on every row with edits) in L_align, so an anchor and its edits are "
            "each other's in-batch negatives (the paper uses edits only as negatives of T). Ignored by 'clip' and "
            "'negclip'."
        },
    )
    max_counterfactuals: int | None = field(
        default=None,
        metadata={
            "help": "At most this many complete counterfactual pairs per anchor (a seeded random subset); "
            "default all."
        },
    )
    max_edits: int | None = field(
        default=None,
        metadata={"help": "At most this many minimal edits per anchor (a seeded random subset); default all."},
    )

    # Parameters that control the dual encoders
    temperature: float | None = field(
        default=None,
        metadata={
            "help": "Fixed softmax temperature of L_align (the logit scale becomes 1/temperature). Default: the "
            "model's own learned logit_scale (and logit_bias for SigLIP)."
        },
    )
    alignment_kind: str | None = field(
        default=None,
        metadata={
            "help": "Alignment loss for dual encoders: 'infonce' (CLIP) or 'sigmoid' (SigLIP). Default: 'sigmoid' "
            "when the model has a logit_bias, else 'infonce'.",
            "choices": [None, *ALIGNMENT_KINDS],
        },
    )
    mask_duplicate_captions: bool = field(
        default=False,
        metadata={
            "help": "Leave pairs of anchors with identical captions out of L_align (the other image matches the "
            "caption, so it is not a true negative). Off by default: on a corpus of 8 distinct captions it "
            "stalled training that the plain loss completes (see the README)."
        },
    )

    # Parameters that control the generative VLMs
    generative_score: str = field(
        default=GENERATIVE_SCORES[0],
        metadata={
            "help": "S(I,T) of a generative VLM: 'caption-likelihood' (mean log-probability of the caption tokens "
            "after the image and `caption_prompt`, in the model's chat template) or 'yes-probability' (VQAScore: "
            "log P(`yes_answer`) as the first answer token to `yes_question`). Dual encoders ignore it.",
            "choices": list(GENERATIVE_SCORES),
        },
    )
    caption_prompt: str = field(
        default=DEFAULT_CAPTION_PROMPT,
        metadata={
            "help": "Generative VLMs, caption-likelihood: the user text after the image; the caption is the answer."
        },
    )
    yes_question: str = field(
        default=DEFAULT_YES_QUESTION,
        metadata={"help": "Generative VLMs, yes-probability: the question; {caption} is replaced by the caption."},
    )
    yes_answer: str = field(
        default=DEFAULT_YES_ANSWER,
        metadata={"help": "Generative VLMs, yes-probability: the answer whose first token's log-probability is S."},
    )
    max_sequences_per_forward: int | None = field(
        default=None,
        metadata={
            "help": "Generative VLMs: at most this many (image, text) sequences per model forward; a batch of B "
            "anchors holds B*(1+K+M) of them (more with the cross L_csd), so this bounds activation memory. "
            "Default: one forward per batch."
        },
    )
    generative_max_length: int | None = field(
        default=None,
        metadata={
            "help": "Generative VLMs: longest sequence in tokens (image and prompt tokens included); a longer one is "
            "an error naming the row, never truncated. Default: the smaller of the tokenizer's model_max_length "
            "and the language model's max_position_embeddings."
        },
    )

    # Parameters that control the data parallelism
    gather_across_devices: bool = field(
        default=True,
        metadata={
            "help": "Under data parallelism, gather the factual embeddings of all ranks (with gradient) so L_align "
            "sees the negatives of the global batch (generative VLMs: L_align is the token mean of the caption NLL "
            "over the global batch rather than a mean of per-rank means)."
        },
    )

    # Parameters that control the safeguards
    on_nonfinite: str = field(
        default="raise",
        metadata={
            "help": "A NaN or infinite loss or gradient norm: 'raise' (stop, naming the global step and the rows of "
            "the batch; the weights are not updated) or 'skip' (skip the optimizer step, counted as skipped_steps "
            "in the logs).",
            "choices": list(ON_NONFINITE),
        },
    )
    on_truncated_duplicate: str = field(
        default="raise",
        metadata={
            "help": "Dual encoders: a counterfactual, edit or negative caption that the tokenizer's truncation makes "
            "token-identical to its anchor caption: 'raise' (naming the row) or 'warn' (and keep training).",
            "choices": list(ON_TRUNCATED_DUPLICATE),
        },
    )
    model_card_template: str | None = field(
        default=None,
        metadata={"help": "Jinja template of the model card written with every save (default: the packaged copy of "
                  "the repository's model_card_template.md)."},
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Let a fresh run delete the checkpoints another run left in output_dir (refused otherwise)."},
    )

    # TrainingArguments defaults this trainer needs
    remove_unused_columns: bool = field(
        default=False,
        metadata={"help": "Keep False: the collator needs the corpus columns, which the model forward does not name."},
    )

    def __post_init__(self):
        super().__post_init__()
        # accelerate "dispatches" the batches of an IterableDataset (a streamed corpus): the main process collates
        # and then slices every tensor along dim 0 by the batch size. Our batches hold more images and texts than
        # rows, with indices into them, so slicing would cut them apart: each process reads the stream instead.
        dataloader_config = getattr(self, "accelerator_config", None)
        if hasattr(dataloader_config, "dispatch_batches"):
            if dataloader_config.dispatch_batches:
                raise ValueError(
                    "accelerator_config.dispatch_batches=True is not supported: a CF-VLM batch holds more images and "
                    "texts than rows, which accelerate's batch slicing would cut apart"
                )
            dataloader_config.dispatch_batches = False
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {self.preset!r}")
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.scenario_pairing not in SCENARIO_PAIRINGS:
            raise ValueError(f"scenario_pairing must be one of {SCENARIO_PAIRINGS}, got {self.scenario_pairing!r}")
        if self.fcd_reduction not in FCD_REDUCTIONS:
            raise ValueError(f"fcd_reduction must be one of {FCD_REDUCTIONS}, got {self.fcd_reduction!r}")
        if self.alignment_kind is not None and self.alignment_kind not in ALIGNMENT_KINDS:
            raise ValueError(f"alignment_kind must be one of {ALIGNMENT_KINDS} or None, got {self.alignment_kind!r}")
        if self.generative_score not in GENERATIVE_SCORES:
            raise ValueError(f"generative_score must be one of {GENERATIVE_SCORES}, got {self.generative_score!r}")
        if "{caption}" not in self.yes_question:
            raise ValueError(f"yes_question must contain '{{caption}}', got {self.yes_question!r}")
        if self.max_sequences_per_forward is not None and self.max_sequences_per_forward < 1:
            raise ValueError(f"max_sequences_per_forward must be >= 1 or None, got {self.max_sequences_per_forward}")
        for name in ("align_weight", "csd_weight", "fcd_weight", "csd_margin", "fcd_margin"):
            value = getattr(self, name)
            if not value >= 0:  # also catches NaN
                raise ValueError(f"{name} must be a non-negative number, got {value}")
        from .safeguards import check_temperature

        check_temperature(self.temperature)
        if self.on_nonfinite not in ON_NONFINITE:
            raise ValueError(f"on_nonfinite must be one of {ON_NONFINITE}, got {self.on_nonfinite!r}")
        if self.on_truncated_duplicate not in ON_TRUNCATED_DUPLICATE:
            raise ValueError(
                f"on_truncated_duplicate must be one of {ON_TRUNCATED_DUPLICATE}, got {self.on_truncated_duplicate!r}"
            )
        if self.model_card_template is not None and not os.path.isfile(self.model_card_template):
            raise FileNotFoundError(f"model_card_template: no such file {self.model_card_template!r}")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_counterfactuals", "max_edits"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value}")
        if not any(self.loss_weights.values()):
            raise ValueError(
                f"objective {self.objective!r} has every loss weight at zero ({self.loss_weights}); nothing would train"
            )

    @property
    def loss_weights(self) -> dict[str, float]:
        """The weights the objective actually uses (`cf_vlm_hf.objective.loss_weights`)."""
        from .objective import loss_weights

        return loss_weights(self)
