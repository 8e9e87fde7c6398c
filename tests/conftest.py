"""Fixtures shared by every test module; the tiny-model and corpus builders live in `testing_utils`."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

from testing_utils import make_rows  # noqa: E402


@pytest.fixture
def rows():
    return make_rows(8)


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is ~20x faster than two competing ones."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
