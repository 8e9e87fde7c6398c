"""`cf-vlm eval`: checkpoints of either family on benchmark tasks and counterfactual corpora, side by side.

    cf-vlm eval --model PATH_OR_ID [PATH_OR_ID ...] --task NAME[,NAME...] [--data-dir DIR] [--output-dir DIR]
    cf-vlm eval --model DIR --dataset CORPUS [--split NAME] [--output FILE]      (our corpus suite, as before)

A thin layer over `cf_vlm_hf.evaluation.evaluate_checkpoints`; docs/evaluation.md documents every task.
"""

from __future__ import annotations

import argparse
import json
import os

import yaml

PROG = "cf-vlm eval"
CORPUS_SUITES = ("corpus", "shapes-world")


def _flag(parser, *names, **kwargs):
    """Add a flag under both spellings (``--a-b`` and ``--a_b``)."""
    spellings = []
    for name in names:
        spellings += [name, "--" + name[2:].replace("-", "_")] if name.startswith("--") else [name]
    parser.add_argument(*dict.fromkeys(spellings), **kwargs)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Score checkpoints (dual encoders or generative VLMs; LoRA adapter folders load with their base "
        "model) on benchmark tasks and counterfactual corpora. Several --model values are compared side by side: "
        "results.json, results.md (one column per model, differences to the first) and results.png in --output-dir. "
        "Task folders and protocols: docs/evaluation.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _flag(parser, "--model", "--model-name-or-path", dest="model", nargs="+", action="extend", required=True,
          help="Hub ids or local folders; the first is the reference of the comparison")
    _flag(parser, "--label", "--labels", dest="labels", nargs="+", action="extend", default=None,
          help="column names, one per model (default: the folder names / Hub ids)")
    _flag(parser, "--task", "--tasks", dest="tasks", action="append", default=None,
          help="NAME[,NAME...], each NAME or NAME=PATH (run --list-tasks for the names)")
    _flag(parser, "--data-dir", default=None, help="the folder holding each task's folder (<data-dir>/<task>)")
    _flag(parser, "--output-dir", default=None, help="where results.json, results.md and results.png go")
    _flag(parser, "--dataset", default=None,
          help="our corpus suite on a corpus: Hub id, local folder, .parquet, .jsonl/.json, or 'shapes-world'")
    _flag(parser, "--split", default=None,
          help="--dataset only: split to score; default: every split (shapes-world: 'test' and 'heldout')")
    _flag(parser, "--output", default=None, help="JSON file for the results (with one model and --dataset: the "
                                                "format cf-vlm eval always wrote)")
    _flag(parser, "--base-model", default=None, help="base model of LoRA adapter folders (default: the one recorded)")
    _flag(parser, "--revision", default=None, help="branch, tag or commit of Hub checkpoints")
    _flag(parser, "--batch-size", type=int, default=None,
          help="images or texts (dual encoders, default 64) or sequences (generative VLMs, default 16) per forward")
    _flag(parser, "--device", default=None, help="torch device; default: cuda when available, else cpu")
    _flag(parser, "--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
          help="weights' dtype ('auto': the checkpoint's)")
    _flag(parser, "--trust-remote-code", action="store_true", help="allow the checkpoints' own code to run")
    _flag(parser, "--generative-score", default="caption-likelihood", choices=("caption-likelihood", "yes-probability"),
          help="S(I, T) of generative VLMs")
    _flag(parser, "--caption-prompt", default=None, help="generative VLMs: user text of the caption-likelihood prompt")
    _flag(parser, "--yes-question", default=None, help="generative VLMs: yes-probability question with {caption}")
    _flag(parser, "--task-option", dest="task_options", action="append", default=[], metavar="TASK.KEY=VALUE",
          help="a task option, e.g. pope.answer_mode=generate, vl-checklist.max_items_per_file=null")
    _flag(parser, "--skip-missing-images", action="store_true",
          help="leave out benchmark entries whose image file is missing (counted in the results) instead of failing")
    _flag(parser, "--download", action="store_true",
          help="fetch each task that has no local folder from its authors' sources into --cache-dir (resumable, "
               "SHA-256 checked; docs/evaluation.md lists every source and licence)")
    _flag(parser, "--cache-dir", default=None,
          help="where --download puts benchmarks (default $CF_VLM_BENCHMARKS_CACHE or $HF_HOME/cf_vlm_hf/benchmarks)")
    _flag(parser, "--force-download", action="store_true", help="with --download: fetch the files anew")
    _flag(parser, "--num-anchors", type=int, default=200, help="shapes-world only: anchors per split")
    _flag(parser, "--seed", type=int, default=0, help="shapes-world only: seed of the generated corpus")
    _flag(parser, "--image-size", type=int, default=64, help="shapes-world only: canvas size in pixels")
    _flag(parser, "--update-card", action="store_true",
          help="add each model's headline results to the model card (README.md) of its local folder")
    _flag(parser, "--no-progress", action="store_true", help="do not show progress bars")
    _flag(parser, "--list-tasks", action="store_true", help="list the tasks and exit")
    return parser


def parse_task_options(values: list[str]) -> dict[str, dict]:
    """``["pope.answer_mode=generate", ...]`` -> ``{"pope": {"answer_mode": "generate"}}`` (values read as YAML)."""
    from ..evaluation import get_task

    options: dict[str, dict] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        task, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"--task-option {value!r}: expected TASK.KEY=VALUE, e.g. pope.answer_mode=generate")
        options.setdefault(get_task(task).name, {})[name.replace("-", "_")] = yaml.safe_load(raw) if raw else None
    return options


def format_table(results: dict[str, dict[str, float]]) -> str:
    """A plain-text table of the corpus suite: one row per metric, one column per split."""
    splits = list(results)
    metrics = []
    for split_results in results.values():
        metrics += [name for name in split_results if name not in metrics]
    first = ["recall@1", "mean_image_side", "mean_text_side"]
    metrics = [m for m in first if m in metrics] + sorted(m for m in metrics if m not in first)
    width = max([len("metric"), *map(len, metrics)])
    lines = ["  ".join(["metric".ljust(width), *(s.rjust(10) for s in splits)])]
    for name in metrics:
        cells = []
        for split in splits:
            value = results[split].get(name)
            text = "" if value is None else f"{value:d}" if name.startswith("count/") else f"{value:.3f}"
            cells.append(text.rjust(10))
        lines.append("  ".join([name.ljust(width), *cells]))
    return "\n".join(lines)


def _per_split(metrics: dict[str, float], splits) -> dict[str, dict[str, float]]:
    """Corpus-suite metrics ``"split/name"`` -> ``{split: {name: value}}``."""
    return {split: {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith(split + "/")} for split in splits}


def _tasks(args):
    from ..evaluation import TASKS, parse_tasks

    options = parse_task_options(args.task_options)
    missing = "skip" if args.skip_missing_images else "error"
    fetching = dict(download=args.download, cache_dir=args.cache_dir, force_download=args.force_download)
    tasks = parse_tasks(args.tasks, options, missing_images=missing, **fetching) if args.tasks else []
    if args.dataset:
        if args.dataset == "shapes-world":
            shapes = dict(num_anchors=args.num_anchors, seed=args.seed, image_size=args.image_size,
                          splits=args.split, **options.get("shapes-world", {}))
            tasks.append(TASKS["shapes-world"](**shapes))
        else:
            tasks.append(TASKS["corpus"](path=args.dataset, split=args.split, **options.get("corpus", {})))
    if not tasks:
        raise ValueError(f"give --task NAME[,NAME...] (known: {', '.join(TASKS)}) or --dataset CORPUS")
    return tasks


def main(argv: list[str] | None = None) -> int:
    """`cf-vlm eval`: ``argv`` are the arguments after the subcommand."""
    args = make_parser().parse_args(argv)
    from ..evaluation import TASKS, evaluate_checkpoints
    from ..evaluation.report import markdown_table, report_dict

    if args.list_tasks:
        for name, task in TASKS.items():
            print(f"{name:14s} {task.summary}")
        return 0
    tasks = _tasks(args)
    generative = {"score": args.generative_score}
    if args.caption_prompt:
        generative["caption_prompt"] = args.caption_prompt
    if args.yes_question:
        generative["yes_question"] = args.yes_question
    report = evaluate_checkpoints(
        args.model, tasks, data_dir=args.data_dir, output_dir=args.output_dir, labels=args.labels,
        base_model=args.base_model, revision=args.revision, dtype=args.dtype, trust_remote_code=args.trust_remote_code,
        device=args.device, batch_size=args.batch_size, progress=not args.no_progress, **generative,
    )
    for task in tasks:
        if task.name in CORPUS_SUITES and len(report.models) == 1:
            label = report.labels[0]
            splits = report.tasks[task.name]["subset_counts"]
            print(format_table(_per_split(report.results[task.name][label], splits)))
            print()
    print(markdown_table(report))
    if args.output:
        legacy = args.dataset and not args.tasks and len(report.models) == 1
        if legacy:
            task = tasks[-1].name
            splits = report.tasks[task]["subset_counts"]
            content = {"model": args.model[0], "dataset": args.dataset,
                       "results": _per_split(report.results[task][report.labels[0]], splits)}
        else:
            content = report_dict(report)
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2)
        print(f"wrote {args.output}")
    if args.update_card:
        update_cards(report, args.model)
    if args.output_dir:
        chart = os.path.isfile(os.path.join(args.output_dir, "results.png"))
        print(f"wrote {os.path.join(args.output_dir, 'results.json')}, results.md"
              + (" and results.png" if chart else " (no results.png: pip install 'cf-vlm-hf[eval]' for matplotlib)"))
    return 0


def update_cards(report, models: list[str]) -> None:
    """Add each local checkpoint's headline results, task by task, to its model card (`hub.update_card_results`)."""
    from ..hub import update_card_results

    for model, record in zip(models, report.models):
        label = record["label"]
        if not os.path.isfile(os.path.join(model, "README.md")):
            print(f"{PROG}: no model card in {model} to update (write one with CounterfactualTrainer.save_model)")
            continue
        for task, per_model in report.results.items():
            metrics = per_model.get(label) or {}
            headline = {name: metrics[name] for name in report.headline.get(task, []) if name in metrics}
            if headline:
                update_card_results(model, headline, dataset_name=task, family=record.get("family"))
        print(f"updated the model card of {model}")

