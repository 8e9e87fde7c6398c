"""Seeds: one per row, from the build's seed and the row's id, through a stable hash.

Python's ``hash`` is salted per process, so it cannot be used: a row must get the same seed in every process,
on every machine and after a restart, or a resumed or multi-process build would not reproduce the same bytes.
Every random choice made for a row (which caption edits, the diffusion noise of each image) comes from
:func:`row_seed` and the :func:`sub_seed` of a named purpose.
"""

from __future__ import annotations

import hashlib

import torch

SEED_BITS = 63  # torch.Generator.manual_seed and numpy accept any non-negative int below 2**64; stay signed-safe


def _hash(*parts) -> int:
    text = "\x1f".join(str(part) for part in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") & ((1 << SEED_BITS) - 1)


def row_seed(seed: int, row_id: str) -> int:
    """The seed of row ``row_id`` in a build seeded with ``seed`` (a 63-bit int; the same everywhere)."""
    return _hash("row", int(seed), row_id)


def sub_seed(seed: int, purpose: str, index: int = 0) -> int:
    """An independent seed for one use of a row's seed: ``sub_seed(s, "counterfactual", 1)``."""
    return _hash(purpose, int(seed), int(index))


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``.

    diffusers draws its initial noise on the generator's device and moves it to the pipeline's device, so a CPU
    generator gives the same noise whatever device the pipeline runs on.
    """
    return torch.Generator("cpu").manual_seed(int(seed))
