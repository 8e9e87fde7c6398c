"""`cf-vlm`: the command line. Each subcommand parses its own arguments.

    cf-vlm train --config recipes/shapes-world.yaml [--FIELD VALUE ...]   fine-tune (cf_vlm_hf.train)
    cf-vlm generate shapes-world --output-dir DIR [...]                     write a corpus (parquet + card)
    cf-vlm eval --model DIR --dataset SOURCE [--split NAME] [--output F]  compositional scores of a checkpoint
    cf-vlm demo [...]                                                      the shapes-world demo (cf_vlm_hf.demo)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

PROG = "cf-vlm"


# ----------------------------------------------------------------------------------------------------- train
def train_command(argv: list[str]) -> int:
    from .train import main as train_main

    return train_main(argv)


# -------------------------------------------------------------------------------------------------- generate
# Corpus sources of `cf-vlm generate SOURCE`: name -> (add its arguments to a parser, build the splits).
# A source returns a `datasets.DatasetDict`; `generate_command` validates nothing more and saves it.


def _add_shapes_world_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-train", type=int, default=1000, help="anchors in the 'train' split")
    parser.add_argument("--num-test", type=int, default=200, help="anchors in the in-distribution 'test' split")
    parser.add_argument(
        "--num-heldout", type=int, default=None,
        help="anchors in the 'heldout' split (colour-shape combinations never seen in training); default --num-test",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus (each split derives its own)")
    parser.add_argument("--image-size", type=int, default=64, help="canvas size in pixels")
    parser.add_argument("--num-counterfactuals", type=int, default=2, help="complete counterfactual pairs per anchor")
    parser.add_argument("--num-edits", type=int, default=4, help="minimal edits per anchor")
    parser.add_argument(
        "--edit-types", nargs="+", default=None,
        help="edit types to draw from (default: all of cf_vlm_hf.data.shapes_world.EDIT_TYPES)",
    )
    parser.add_argument("--num-proc", type=int, default=None, help="processes rendering each split")


def _build_shapes_world(args: argparse.Namespace):
    from .data.shapes_world import shapes_world_splits

    for name in ("num_train", "num_test", "num_heldout"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise SystemExit(f"{PROG} generate shapes-world: --{name.replace('_', '-')} must be >= 0, got {value}")
    splits = shapes_world_splits(
        args.num_train,
        args.num_test,
        seed=args.seed,
        num_heldout=args.num_heldout,
        image_size=args.image_size,
        num_counterfactuals=args.num_counterfactuals,
        num_edits=args.num_edits,
        edit_types=args.edit_types,
        num_proc=args.num_proc,
    )
    return splits


GENERATORS: dict[str, tuple[str, Callable, Callable]] = {
    "shapes-world": (
        "the embedded procedural corpus (coloured shapes; exact counterfactuals and minimal edits)",
        _add_shapes_world_arguments,
        _build_shapes_world,
    ),
}


def generate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} generate",
        description="Generate a counterfactual corpus and save it as parquet shards with a dataset card "
        "(loadable with load_counterfactual_dataset or datasets.load_dataset, publishable as is).",
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for name, (help_text, add_arguments, _) in GENERATORS.items():
        sub = sources.add_parser(name, help=help_text, description=help_text,
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        sub.add_argument("--output-dir", required=True, help="folder to write data/*.parquet and README.md into")
        sub.add_argument("--max-shard-size", default="500MB", help="largest parquet shard (e.g. 500MB, 2GB)")
        add_arguments(sub)
    return parser


def generate_command(argv: list[str]) -> int:
    from datasets import DatasetDict

    from .data import save_counterfactual_dataset

    args = generate_parser().parse_args(argv)
    _, _, build = GENERATORS[args.source]
    splits = build(args)
    kept = DatasetDict({name: part for name, part in splits.items() if len(part) > 0})
    if not kept:
        raise SystemExit(f"{PROG} generate {args.source}: every split is empty; nothing to write")
    shards = save_counterfactual_dataset(
        kept, args.output_dir, max_shard_size=args.max_shard_size, source=f"{PROG} generate {args.source}",
        pretty_name=args.source,
    )
    sizes = ", ".join(f"{name}: {len(part)}" for name, part in kept.items())
    print(f"wrote {len(shards)} shard(s) to {args.output_dir} ({sizes})")
    return 0


# ------------------------------------------------------------------------------------------------------ eval
def eval_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} eval",
        description="Score a dual-encoder checkpoint on a counterfactual corpus: minimal-edit accuracy (image "
        "and text side) per edit type, Winoground-style scores for binding and relation edits, recall@1.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="Hub id or local folder of the checkpoint (AutoModel)")
    parser.add_argument(
        "--dataset", required=True,
        help="the corpus: Hub id, local folder, .parquet, .jsonl/.json, or 'shapes-world' (generated on the fly)",
    )
    parser.add_argument(
        "--split", default=None,
        help="split to score; default: every split of the corpus (shapes-world: 'test' and 'heldout')",
    )
    parser.add_argument("--output", default=None, help="JSON file to write the results to")
    parser.add_argument("--batch-size", type=int, default=64, help="images or texts per forward pass")
    parser.add_argument("--device", default=None, help="torch device; default: cuda when available, else cpu")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow the checkpoint's own code to run")
    parser.add_argument("--revision", default=None, help="branch, tag or commit of a Hub checkpoint")
    parser.add_argument("--num-anchors", type=int, default=200, help="shapes-world only: anchors per split")
    parser.add_argument("--seed", type=int, default=0, help="shapes-world only: seed of the generated corpus")
    parser.add_argument("--image-size", type=int, default=64, help="shapes-world only: canvas size in pixels")
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    return parser


def _eval_splits(args: argparse.Namespace) -> dict:
    """split name -> rows."""
    if args.dataset == "shapes-world":
        from .data.shapes_world import shapes_world_dataset

        names = [args.split] if args.split else ["test", "heldout"]
        return {
            name: shapes_world_dataset(args.num_anchors, split=name, seed=args.seed, image_size=args.image_size)
            for name in names
        }
    from datasets import DatasetDict

    from .data import load_counterfactual_dataset

    loaded = load_counterfactual_dataset(args.dataset, split=args.split)
    if isinstance(loaded, DatasetDict):
        return dict(loaded)
    return {args.split or str(loaded.split or "train"): loaded}


def format_table(results: dict[str, dict[str, float]]) -> str:
    """A plain-text table: one row per metric, one column per split."""
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
            if value is None:
                text = ""
            else:
                text = f"{value:d}" if name.startswith("count/") else f"{value:.3f}"
            cells.append(text.rjust(10))
        lines.append("  ".join([name.ljust(width), *cells]))
    return "\n".join(lines)


def eval_command(argv: list[str]) -> int:
    args = eval_parser().parse_args(argv)
    import torch
    from transformers import AutoModel, AutoProcessor

    from .evaluation import evaluate_counterfactual_split

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    kwargs = dict(trust_remote_code=args.trust_remote_code)
    if args.revision:
        kwargs["revision"] = args.revision
    model = AutoModel.from_pretrained(args.model, use_safetensors=True, **kwargs).to(device)
    processor = AutoProcessor.from_pretrained(args.model, **kwargs)
    # SigLIP was pre-trained on captions padded to the maximum length (as the trainer's collator pads them).
    padding = "max_length" if str(getattr(model.config, "model_type", "")).startswith("siglip") else True
    results = {}
    for name, rows in _eval_splits(args).items():
        results[name] = evaluate_counterfactual_split(
            model, processor, rows, batch_size=args.batch_size, padding=padding, progress=not args.no_progress,
            description=f"evaluating {name}",
        )
    print(format_table(results))
    if args.output:
        folder = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(folder, exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "dataset": args.dataset, "results": results}, f, indent=2)
        print(f"wrote {args.output}")
    return 0


# ------------------------------------------------------------------------------------------------------ demo
def demo_command(argv: list[str]) -> int:
    """Forward everything after ``demo`` to `cf_vlm_hf.demo.main`, which parses it."""
    from . import demo

    try:
        return demo.main(argv)
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("cf_vlm_hf.demo"):
            raise
        print(f"{PROG} demo: this installation has no demo ({err.name} is missing)", file=sys.stderr)
        return 1


# ------------------------------------------------------------------------------------------------------ main
COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {
    "train": ("fine-tune a model with the CF-VLM objectives from a YAML recipe and flags", train_command),
    "generate": ("generate a counterfactual corpus (parquet shards + dataset card)", generate_command),
    "eval": ("score a dual-encoder checkpoint on a counterfactual corpus", eval_command),
    "demo": ("run the shapes-world demo", demo_command),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [ARGS ...]", "", "CF-VLM counterfactual fine-tuning of vision-language models.",
             "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_text}" for name, (help_text, _) in COMMANDS.items()]
    lines += ["", f"Run `{PROG} COMMAND --help` for the arguments of a command."]
    return "\n".join(lines)


def _take_local_rank(argv: list[str]) -> list[str]:
    """``argv`` without the ``--local_rank=N`` that the ``deepspeed`` launcher puts before the subcommand.

    The launcher also sets ``LOCAL_RANK`` in the environment (kept when already there), which is what accelerate
    and the Trainer read.
    """
    argv = list(argv)
    while argv and argv[0].split("=", 1)[0] in ("--local_rank", "--local-rank"):
        flag = argv.pop(0)
        value = flag.split("=", 1)[1] if "=" in flag else (argv.pop(0) if argv else "")
        if not value.lstrip("-").isdigit():
            raise ValueError(f"--local_rank needs an integer, got {value!r}")
        os.environ.setdefault("LOCAL_RANK", value)
    return argv


def main(argv: list[str] | None = None) -> int:
    """Entry point of `cf-vlm`; returns the exit status."""
    try:
        argv = _take_local_rank(sys.argv[1:] if argv is None else argv)
    except ValueError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from . import __version__

        print(f"{PROG} {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"{PROG}: unknown command {command!r} (choose from {', '.join(COMMANDS)})", file=sys.stderr)
        print(f"Run `{PROG} --help` for usage.", file=sys.stderr)
        return 2
    try:
        return COMMANDS[command][1](rest) or 0
    except SystemExit as exit_:  # argparse's --help and usage errors: report the status, do not exit the caller
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
