"""Checkpoints a resume can trust: a completion marker written last, the newest complete one found, strays refused.

`transformers.Trainer` writes ``checkpoint-N/`` file by file; a kill in the middle leaves a folder that
``resume_from_checkpoint=True`` would pick and crash on (or silently resume from half a state). Here a checkpoint
counts only once its marker file exists, written atomically after everything else; resuming goes to the newest
complete checkpoint and moves newer incomplete ones aside; a fresh run into a folder that holds another run's
checkpoints is refused unless asked to overwrite them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil

logger = logging.getLogger(__name__)

MARKER = "cf_vlm_checkpoint.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
RESUME_LAST = ("true", "last", "latest")


def checkpoints(output_dir: str) -> list[tuple[int, str]]:
    """(step, path) of every ``checkpoint-N`` folder of ``output_dir``, oldest first."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        match = _CHECKPOINT.match(name)
        if match and os.path.isdir(os.path.join(output_dir, name)):
            found.append((int(match.group(1)), os.path.join(output_dir, name)))
    return sorted(found)


def is_complete(folder: str) -> bool:
    """Whether ``folder`` holds a checkpoint whose save finished (its marker parses)."""
    try:
        with open(os.path.join(folder, MARKER), encoding="utf-8") as f:
            return isinstance(json.load(f).get("global_step"), int)
    except (OSError, ValueError):
        return False


def mark_complete(folder: str, global_step: int) -> None:
    """Write ``folder``'s marker atomically (a temporary file renamed over it): the last write of a checkpoint."""
    path = os.path.join(folder, MARKER)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump({"global_step": global_step}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def newest_complete(output_dir: str) -> str | None:
    """The newest complete checkpoint of ``output_dir``, or None."""
    for _, path in reversed(checkpoints(output_dir)):
        if is_complete(path):
            return path
    return None


def resolve_resume(resume, output_dir: str) -> str | None:
    """The checkpoint folder a ``resume_from_checkpoint`` value means (None: a fresh run).

    ``True`` / ``"true"`` / ``"last"``: the newest complete checkpoint of ``output_dir``; newer incomplete ones are
    moved aside (renamed ``checkpoint-N.incomplete``) so nothing resumes from them later. A path must hold a
    checkpoint (``trainer_state.json``); one of ours must be complete.
    """
    if resume is None or resume is False or (isinstance(resume, str) and resume.lower() in ("", "false", "none")):
        return None
    if resume is True or (isinstance(resume, str) and resume.lower() in RESUME_LAST):
        path = newest_complete(output_dir)
        if path is None:
            found = [os.path.basename(p) for _, p in checkpoints(output_dir)]
            raise ValueError(
                f"resume_from_checkpoint={resume!r}: {output_dir!r} holds no complete checkpoint"
                + (f" ({', '.join(found)} were cut short)" if found else "")
            )
        _set_aside_incomplete(output_dir, after=path)
        return path
    path = os.fspath(resume)
    if not os.path.isfile(os.path.join(path, "trainer_state.json")):
        raise FileNotFoundError(f"resume_from_checkpoint: {path!r} is not a checkpoint folder (no trainer_state.json)")
    siblings = [p for _, p in checkpoints(os.path.dirname(os.path.abspath(path)))]
    if any(is_complete(p) for p in siblings) and not is_complete(path):
        raise ValueError(f"resume_from_checkpoint: {path!r} was cut short while being saved; resume from "
                         f"{newest_complete(os.path.dirname(os.path.abspath(path)))!r} (or pass 'last')")
    return path


def _set_aside_incomplete(output_dir: str, after: str) -> None:
    step = int(_CHECKPOINT.match(os.path.basename(after)).group(1))
    for other_step, path in checkpoints(output_dir):
        if other_step > step and not is_complete(path):
            target = f"{path}.incomplete"
            if os.path.exists(target):
                shutil.rmtree(target)
            os.replace(path, target)
            logger.warning("moved the incomplete checkpoint %s aside to %s", path, target)


def check_fresh_output_dir(output_dir: str, overwrite: bool) -> None:
    """ValueError when a fresh run would write into ``output_dir`` over another run's checkpoints.

    With ``overwrite`` those checkpoint folders are deleted instead.
    """
    found = checkpoints(output_dir)
    if not found:
        return
    if overwrite:
        for _, path in found:
            shutil.rmtree(path)
        logger.warning("overwrite_output_dir: deleted %d checkpoint(s) of an earlier run in %s", len(found), output_dir)
        return
    names = ", ".join(os.path.basename(p) for _, p in found[-3:])
    raise ValueError(
        f"output_dir {output_dir!r} holds checkpoints of another run ({names}): pass resume_from_checkpoint='last' to "
        "continue it, overwrite_output_dir=True to delete them and start over, or another output_dir"
    )
