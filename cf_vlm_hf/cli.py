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


# What a user's mistake raises (a bad path, value, corpus row, missing model): one line, exit status 2. Anything
# else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError, FloatingPointError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `cf-vlm`; returns the exit status.

    A user's mistake (``ValueError``, including `CorpusError`, or ``OSError``: a missing file or model) is printed
    as one line ``cf-vlm CMD: error: ...`` with exit status 2; ``--debug`` anywhere on the command line shows the
    traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [arg for arg in argv if arg != "--debug"]
    try:
        argv = _take_local_rank(argv)
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
        return 2 if str(exit_.code).startswith(f"{PROG} {command}: error:") else 1
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"{PROG} {command}: error: {one_line(err)}", file=sys.stderr)
        print("(run with --debug for the traceback)", file=sys.stderr)
        return 2


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (a multi-line message keeps its first paragraph)."""
    text = str(err).strip() or type(err).__name__
    if "Original Traceback" in text:  # raised in a dataloader worker: torch appends the worker's traceback
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    first = text.split("\n\n", 1)[0]
    return " ".join(line.strip() for line in first.splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
