"""The paper's search configurations as plain :class:`SearchConfig` objects."""

from __future__ import annotations

from collections.abc import Callable

from factornas.presets.spaces import SPACE_PRESETS, UnknownPresetError, space_preset
from factornas.search.config import SearchConfig


def adarts_search() -> SearchConfig:
    """A-DARTS on CIFAR-10 (§4.2): C=16, 8 cells, batch 64, 25 epochs, SGD 0.05 → 0.001
    cosine, momentum 0.9, wd 3e-4, clip 5; two Adams lr 6e-4, betas (0.5, 0.999), wd 1e-3;
    train split 50/50 into train/val. These are :class:`SearchConfig`'s defaults."""
    return SearchConfig(space=space_preset("adarts"))


def darts_search() -> SearchConfig:
    """The same search over DARTS's space (ReLU only): the paper's ReLU baseline (Table 2)."""
    return SearchConfig(space=space_preset("darts"))


def flat40_search() -> SearchConfig:
    """The same search over A-DARTS's flat twin: 40 candidates under one α."""
    return SearchConfig(space=space_preset("flat40"))


SEARCH_PRESETS: dict[str, Callable[[], SearchConfig]] = {
    "darts": darts_search,
    "adarts": adarts_search,
    "flat40": flat40_search,
}


def search_preset(name: str) -> SearchConfig:
    """The search configuration of a named preset; an unknown name lists the presets."""
    try:
        return SEARCH_PRESETS[name]()
    except KeyError:
        raise UnknownPresetError(
            f"unknown search preset {name!r}; choose one of: {', '.join(SEARCH_PRESETS)}"
        ) from None


__all__ = ["SEARCH_PRESETS", "SPACE_PRESETS", "search_preset"]
