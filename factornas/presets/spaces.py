"""The paper's search spaces as plain :class:`SearchSpace` objects."""

from __future__ import annotations

from collections.abc import Callable

from factornas.errors import FactorNASError
from factornas.space.config import GroupSpec, SearchSpace


def darts_space() -> SearchSpace:
    """DARTS: eight working ops, ReLU in front of every convolution (≈1.1e18)."""
    return SearchSpace(
        name="darts",
        normal=(GroupSpec(group="op"), GroupSpec(group="activation", candidates=("relu",))),
    )


def adarts_space() -> SearchSpace:
    """A-DARTS: eight working ops × nine activations, factorized (≈9.3e29, paper §3.3)."""
    return SearchSpace(name="adarts", normal=(GroupSpec(group="op"), GroupSpec(group="activation")))


def flat40_space() -> SearchSpace:
    """The flat twin of A-DARTS: 40 fused candidates under one α (paper §3.3: 9×4+4)."""
    return adarts_space().flat_twin().model_copy(update={"name": "flat40"})


SPACE_PRESETS: dict[str, Callable[[], SearchSpace]] = {
    "darts": darts_space,
    "adarts": adarts_space,
    "flat40": flat40_space,
}


class UnknownPresetError(FactorNASError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def space_preset(name: str) -> SearchSpace:
    """The space of a named preset; an unknown name lists the presets."""
    try:
        return SPACE_PRESETS[name]()
    except KeyError:
        raise UnknownPresetError(
            f"unknown preset {name!r}; choose one of: {', '.join(SPACE_PRESETS)}"
        ) from None
