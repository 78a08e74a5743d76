"""Shared fixtures: determinism and small spaces."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from factornas.presets import space_preset
from factornas.space import SearchSpace

# One intra-op thread: the tests use tiny tensors, where a second OpenMP thread buys nothing
# and, on a busy 2-core machine, its spin-waiting makes steps ten times slower.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by the CLI subprocesses we spawn


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same RNG state, so results never depend on test order."""
    torch.manual_seed(0)


@pytest.fixture
def float64() -> Iterator[None]:
    """float64 as the default dtype for the test (exactness tests), restored afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@pytest.fixture
def darts() -> SearchSpace:
    return space_preset("darts")


@pytest.fixture
def adarts() -> SearchSpace:
    return space_preset("adarts")


@pytest.fixture
def pc_darts() -> SearchSpace:
    return space_preset("pc_darts")


@pytest.fixture
def apc_darts() -> SearchSpace:
    return space_preset("apc_darts")
