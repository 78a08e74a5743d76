"""The PC-DARTS space presets, as fixtures."""

from __future__ import annotations

import pytest

from factornas.presets import space_preset
from factornas.space import SearchSpace


@pytest.fixture
def pc_darts() -> SearchSpace:
    return space_preset("pc_darts")


@pytest.fixture
def apc_darts() -> SearchSpace:
    return space_preset("apc_darts")
