"""Shared fixtures: determinism and small spaces."""

from __future__ import annotations

import pytest
import torch

from factornas.presets import space_preset
from factornas.space import SearchSpace


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same RNG state, so results never depend on test order."""
    torch.manual_seed(0)


@pytest.fixture
def darts() -> SearchSpace:
    return space_preset("darts")


@pytest.fixture
def adarts() -> SearchSpace:
    return space_preset("adarts")
