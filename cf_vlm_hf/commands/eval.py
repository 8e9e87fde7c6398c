"""`cf-vlm eval`: compositional scores of a dual-encoder checkpoint on a counterfactual corpus."""

from __future__ import annotations

import argparse
import json
import os

PROG = "cf-vlm eval"

def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
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
        from ..data.shapes_world import ShapesWorldSpec, shapes_world_dataset

        names = [args.split] if args.split else ["test", "heldout"]
        spec = ShapesWorldSpec(image_size=args.image_size)
        return {name: shapes_world_dataset(args.num_anchors, name, args.seed, spec) for name in names}
    from datasets import DatasetDict

    from ..data import load_counterfactual_dataset

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


def main(argv: list[str] | None = None) -> int:
    """`cf-vlm eval`: ``argv`` are the arguments after the subcommand."""
    args = make_parser().parse_args(argv)
    import torch

    from ..evaluation import evaluate_counterfactual_split
    from ..models import is_dual_encoder, model_type
    from ..models.dual_encoder import text_padding
    from ..models.loading import load_model_and_processor

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, processor = load_model_and_processor(
        args.model, revision=args.revision, trust_remote_code=args.trust_remote_code, dtype="auto", adapter="merged"
    )
    if not is_dual_encoder(model):
        raise SystemExit(
            f"{PROG}: error: {args.model} is a {type(model).__name__}, not a dual encoder: this corpus suite scores "
            "dual encoders (models with get_image_features and get_text_features)"
        )
    model = model.to(device)
    padding = text_padding(model_type(model))
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
