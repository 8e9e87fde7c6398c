"""`cf-vlm`: the command line. This module only dispatches; each subcommand is a module of `cf_vlm_hf.commands`.

    cf-vlm train --config recipes/shapes-world.yaml [--FIELD VALUE ...]   fine-tune (commands/train.py)
    cf-vlm generate shapes-world --output-dir DIR [...]                     write a corpus (commands/generate.py)
    cf-vlm eval --model DIR --dataset SOURCE [--split NAME] [--output F]  score a checkpoint (commands/eval.py)
    cf-vlm demo [...]                                                      the shapes-world demo (commands/demo/)
"""

from __future__ import annotations

import os
import sys
from importlib import import_module

from .commands import COMMANDS

PROG = "cf-vlm"


def run_command(name: str, argv: list[str]) -> int:
    """Import `cf_vlm_hf.commands.<module>` and run its ``main(argv)``."""
    module = import_module(f"cf_vlm_hf.commands.{COMMANDS[name][1]}")
    return module.main(argv)


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
        return run_command(command, rest) or 0
    except SystemExit as exit_:  # argparse's --help and usage errors: report the status, do not exit the caller
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
