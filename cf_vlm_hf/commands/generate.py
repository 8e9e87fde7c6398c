"""`cf-vlm generate SOURCE`: write a counterfactual corpus as parquet shards with a dataset card.

A source adds its own arguments to a sub-parser and builds a `datasets.DatasetDict`; `main` saves it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

PROG = "cf-vlm generate"

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
    from ..data.shapes_world import ShapesWorldSpec, shapes_world_splits

    for name in ("num_train", "num_test", "num_heldout"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise SystemExit(f"{PROG} shapes-world: --{name.replace('_', '-')} must be >= 0, got {value}")
    spec = ShapesWorldSpec(
        image_size=args.image_size,
        num_counterfactuals=args.num_counterfactuals,
        num_edits=args.num_edits,
        edit_types=args.edit_types,
    )
    return shapes_world_splits(
        args.num_train, args.num_test, seed=args.seed, num_heldout=args.num_heldout, spec=spec, num_proc=args.num_proc
    )


GENERATORS: dict[str, tuple[str, Callable, Callable]] = {
    "shapes-world": (
        "the embedded procedural corpus (coloured shapes; exact counterfactuals and minimal edits)",
        _add_shapes_world_arguments,
        _build_shapes_world,
    ),
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
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


def main(argv: list[str] | None = None) -> int:
    """`cf-vlm generate`: ``argv`` are the arguments after the subcommand."""
    from datasets import DatasetDict

    from ..data import save_counterfactual_dataset

    args = make_parser().parse_args(argv)
    _, _, build = GENERATORS[args.source]
    splits = build(args)
    kept = DatasetDict({name: part for name, part in splits.items() if len(part) > 0})
    if not kept:
        raise SystemExit(f"{PROG} {args.source}: every split is empty; nothing to write")
    shards = save_counterfactual_dataset(
        kept, args.output_dir, max_shard_size=args.max_shard_size, source=f"{PROG} {args.source}",
        pretty_name=args.source,
    )
    sizes = ", ".join(f"{name}: {len(part)}" for name, part in kept.items())
    print(f"wrote {len(shards)} shard(s) to {args.output_dir} ({sizes})")
    return 0
