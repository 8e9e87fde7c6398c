"""The CF-VLM model card: what was trained, on what, with which objective, and what it scored.

`model_card` renders ``model_card_template.md`` (the packaged copy by default; a user's own with
``template_path``) through `huggingface_hub.ModelCard`, with metadata the Hub reads (base model, tags, pipeline,
``model-index`` evaluation results). `CounterfactualTrainer` writes it with every saved model and checkpoint;
`update_card_results` adds evaluation results to a saved checkpoint's card.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE = Path(__file__).with_name("model_card_template.md")
README = "README.md"
CITATION = """@article{zhang2025cfvlm,
  title   = {{CF-VLM}: CounterFactual Vision-Language Fine-tuning},
  author  = {Zhang, Jusheng and Cai, Kaitong and Fan, Yijia and Wang, Jian and Wang, Keze},
  journal = {arXiv preprint arXiv:2506.17267},
  year    = {2025}
}"""
# Metrics of a training run that say nothing about the model.
_NOT_RESULTS = re.compile(r"(runtime|per_second|_steps?$|epoch|flos|^eval_loss_scale)")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass
class CardInfo:
    """Everything a card says, gathered from a trainer (`from_trainer`) or given by hand.

    ``results`` maps a metric name to its value; ``results_dataset`` names the data they were measured on.
    """

    model_name: str
    family: str = "dual-encoder"  # or "generative"
    architecture: str = ""
    base_model: str | None = None
    adapter: str | None = None  # e.g. "LoRA r=16 on q_proj, v_proj"
    corpus_name: str | None = None
    corpus_stats: dict[str, Any] | None = None
    objective: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    results: dict[str, float] = field(default_factory=dict)
    results_dataset: str | None = None
    license: str | None = None
    tags: list[str] = field(default_factory=list)


def is_hub_id(name: str | None) -> bool:
    """Whether ``name`` can be a Hub repo id (and is not a local path)."""
    return bool(name) and not os.path.exists(name) and bool(_HUB_ID.match(name)) and name.count("/") <= 1


def dataset_type(name: str | None) -> str:
    """The ``model-index`` dataset type of ``name``: its Hub id, else a slug of it (results group by this field)."""
    if is_hub_id(name):
        return name
    return re.sub(r"[^a-z0-9]+", "-", (name or "custom").lower()).strip("-") or "custom"


def objective_summary(args) -> dict[str, Any]:
    """The CF-VLM settings of a `CounterfactualConfig`, as the card's objective table shows them."""
    from ..objective import loss_weights

    weights = loss_weights(args)
    aligned = ["the anchors"]
    if args.objective == "cf-vlm" and args.align_counterfactuals:
        aligned.append("the complete counterfactual pairs")
    if args.objective == "cf-vlm" and args.align_edits:
        aligned.append("the minimal edits with their own captions")
    loss = {"cf-vlm": "w_align L_align + w_csd L_csd + w_fcd L_fcd", "clip": "L_align only (plain fine-tuning)",
            "negclip": "L_align with counterfactual and edit captions as hard negatives (NegCLIP)"}[args.objective]
    return {
        "objective": args.objective, "loss": loss, "preset": args.preset,
        "align_weight": weights["align"], "csd_weight": weights["csd"], "fcd_weight": weights["fcd"],
        "csd_margin": args.csd_margin, "fcd_margin": args.fcd_margin, "scenario_pairing": args.scenario_pairing,
        "fcd_reduction": args.fcd_reduction, "aligned": " and ".join(aligned),
        "max_counterfactuals": "all" if args.max_counterfactuals is None else args.max_counterfactuals,
        "max_edits": "all" if args.max_edits is None else args.max_edits,
    }


def hyperparameters(args, world_size: int = 1) -> dict[str, Any]:
    """The training hyperparameters a reader needs to reproduce the run."""
    per_device = args.per_device_train_batch_size
    return {
        "learning_rate": args.learning_rate,
        "train_batch_size (per device)": per_device,
        "total_train_batch_size": per_device * world_size * args.gradient_accumulation_steps,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "max_steps" if args.max_steps > 0 else "num_train_epochs": args.max_steps if args.max_steps > 0
        else args.num_train_epochs,
        "lr_scheduler_type": getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type),
        "warmup_steps": args.warmup_steps,
        "weight_decay": args.weight_decay,
        "optimizer": getattr(args.optim, "value", args.optim),
        "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
        "seed": args.seed,
    }


def numeric_results(metrics: dict[str, Any]) -> dict[str, float]:
    """The model's own scores among ``metrics`` (runtimes, step counts and the like left out)."""
    out = {}
    for name, value in (metrics or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not _NOT_RESULTS.search(name):
            out[name] = float(value)
    return out


def _usage(info: CardInfo, repo: str) -> str:
    if info.adapter:
        loader = "AutoModelForImageTextToText" if info.family == "generative" else "AutoModel"
        return (f"from peft import PeftModel\nfrom transformers import AutoProcessor, {loader}\n\n"
                f"base = {loader}.from_pretrained({info.base_model or 'BASE_MODEL'!r})\n"
                f"model = PeftModel.from_pretrained(base, {repo!r}).merge_and_unload()\n"
                f"processor = AutoProcessor.from_pretrained({repo!r})")
    if info.family == "generative":
        return (f"from transformers import AutoModelForImageTextToText, AutoProcessor\n\n"
                f"model = AutoModelForImageTextToText.from_pretrained({repo!r})\n"
                f"processor = AutoProcessor.from_pretrained({repo!r})")
    return (f"import torch\nfrom PIL import Image\nfrom transformers import AutoModel, AutoProcessor\n\n"
            f"model = AutoModel.from_pretrained({repo!r}).eval()\nprocessor = AutoProcessor.from_pretrained({repo!r})\n"
            "inputs = processor(text=[\"a red cube left of a blue ball\", \"a blue cube left of a red ball\"],\n"
            "                   images=[Image.open(\"scene.png\")], return_tensors=\"pt\", padding=True)\n"
            "with torch.no_grad():\n    out = model(**inputs)\n"
            "print(out.logits_per_image.softmax(dim=-1))  # which caption the image matches")


def model_card(info: CardInfo, template_path: str | os.PathLike | None = None, repo_id: str | None = None) -> ModelCard:
    """Render the card of ``info`` (with the packaged template unless ``template_path`` is given)."""
    from .. import __version__

    pipeline = "image-text-to-text" if info.family == "generative" else "zero-shot-image-classification"
    tags = list(dict.fromkeys(["cf-vlm", "counterfactual", info.objective.get("objective", "cf-vlm"), *info.tags]))
    if info.adapter:
        tags += ["peft", "lora"]
    dataset = info.corpus_name if is_hub_id(info.corpus_name) else None
    eval_results = [
        EvalResult(task_type=pipeline, dataset_type=dataset or dataset_type(info.results_dataset),
                   dataset_name=info.results_dataset or info.corpus_name or "evaluation corpus",
                   metric_type=name, metric_name=name, metric_value=round(value, 6))
        for name, value in sorted(info.results.items())
    ]
    data = ModelCardData(
        base_model=info.base_model if is_hub_id(info.base_model) else None,
        datasets=[dataset] if dataset else None,
        library_name="peft" if info.adapter else "transformers",
        pipeline_tag=pipeline,
        license=info.license,
        tags=tags,
        model_name=info.model_name,
        eval_results=eval_results or None,
    )
    rows = [{"name": name, "dataset": info.results_dataset or info.corpus_name or "–", "value": f"{value:.4f}"}
            for name, value in sorted(info.results.items())]
    return ModelCard.from_template(
        data,
        template_path=str(template_path or TEMPLATE),
        model_name=info.model_name,  # ModelCardData drops it from the template's variables once eval_results exist
        base_model=info.base_model,
        base_model_on_hub=is_hub_id(info.base_model),
        architecture=info.architecture or "vision-language model",
        adapter=info.adapter,
        corpus_name=info.corpus_name,
        corpus_stats=info.corpus_stats,
        objective=info.objective,
        hyperparameters=info.hyperparameters,
        results=rows,
        usage=_usage(info, repo_id or info.model_name),
        citation=CITATION,
        library_version=__version__,
    )


def update_card_results(folder: str | os.PathLike, results: dict[str, float], dataset_name: str,
                        family: str | None = None) -> ModelCard:
    """Add ``results`` (measured on ``dataset_name``) to the model-index and the table of a saved card; return it.

    Results of the same metric on the same dataset are replaced; the rest of the card is kept as it is.
    """
    path = Path(folder) / README
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no {README} to add results to (save the model with "
                                "CounterfactualTrainer, or write a card first)")
    card = ModelCard.load(path)
    data = card.data
    name = data.model_name or Path(folder).name
    kept = [r for r in (data.eval_results or []) if not (r.dataset_name == dataset_name and r.metric_type in results)]
    task = family and ("image-text-to-text" if family == "generative" else "zero-shot-image-classification")
    task = task or (kept[0].task_type if kept else data.pipeline_tag or "zero-shot-image-classification")
    added = [EvalResult(task_type=task, dataset_type=dataset_type(dataset_name),
                        dataset_name=dataset_name, metric_type=metric, metric_name=metric,
                        metric_value=round(float(value), 6)) for metric, value in sorted(results.items())]
    data.model_name, data.eval_results = name, kept + added
    table = "\n".join(f"| {r.metric_name or r.metric_type} | {r.dataset_name} | {r.metric_value:.4f} |"
                      for r in data.eval_results)
    text = re.sub(r"(## Evaluation\n)(.*?)(\n## )",
                  lambda m: f"{m.group(1)}\n| metric | dataset | value |\n|---|---|---:|\n{table}\n{m.group(3)}",
                  card.text, count=1, flags=re.DOTALL)
    updated = ModelCard(f"---\n{data.to_yaml()}\n---\n{text if text.startswith(chr(10)) else chr(10) + text}")
    updated.save(path)
    return updated


_GENERIC_BUILDERS = {"generator", "parquet", "json", "arrow", "imagefolder", "csv", "text", "webdataset"}


def corpus_name_of(dataset) -> str | None:
    """The corpus's own name when `datasets` knows it (not a generic builder such as "parquet" or "generator")."""
    info = getattr(dataset, "info", None)
    name = getattr(info, "dataset_name", None)
    return name if name and name not in _GENERIC_BUILDERS else None


def card_info_from_trainer(trainer, model_name: str | None = None, dataset_name: str | None = None,
                           tags: list[str] | None = None, license: str | None = None) -> CardInfo:
    """A `CardInfo` from a `CounterfactualTrainer`: its model, config, corpus and latest evaluation metrics."""
    from ..data import corpus_totals
    from ..models import GENERATIVE, core_model, model_family

    model = trainer.model
    core = core_model(model)
    try:
        family = model_family(model)
    except ValueError:
        family = "custom"
    base = getattr(getattr(core, "config", None), "_name_or_path", None) or None
    adapter = None
    peft_config = getattr(model, "peft_config", None)
    if isinstance(peft_config, dict) and peft_config:
        config = next(iter(peft_config.values()))
        targets = sorted(config.target_modules) if isinstance(config.target_modules, (set, list)) else \
            config.target_modules
        adapter = f"{getattr(config, 'peft_type', 'LoRA')} r={getattr(config, 'r', '?')}, " \
                  f"alpha={getattr(config, 'lora_alpha', '?')} on {targets}"
        adapter = adapter.replace("PeftType.", "")
        base = getattr(config, "base_model_name_or_path", None) or base
    args = trainer.args
    name = model_name or (args.hub_model_id.split("/")[-1] if args.hub_model_id else Path(args.output_dir).name)
    corpus = dataset_name or getattr(trainer, "corpus_name", None) or corpus_name_of(trainer.train_dataset)
    latest = getattr(trainer, "latest_eval_metrics", None) or {}
    eval_corpus = getattr(trainer, "eval_corpus_name", None) or (f"{corpus} (evaluation split)" if corpus else None)
    objective = objective_summary(args)
    objective["score"] = (f"`{args.generative_score}` log-probability" if family == GENERATIVE else
                          "cosine of the L2-normalised image and text embeddings")
    return CardInfo(
        model_name=name,
        family="generative" if family == GENERATIVE else "dual-encoder",
        architecture=type(core).__name__,
        base_model=base,
        adapter=adapter,
        corpus_name=corpus,
        corpus_stats=corpus_totals(trainer.train_dataset),
        objective=objective,
        hyperparameters=hyperparameters(args, getattr(args, "world_size", 1)),
        results=numeric_results(latest),
        results_dataset=eval_corpus,
        license=license,
        tags=list(tags or []),
    )
