"""The paper's search spaces as plain :class:`SearchSpace` objects."""

from __future__ import annotations

from collections.abc import Callable

from factornas.errors import UnknownNameError
from factornas.factors.registry import get_group
from factornas.registry import Registry
from factornas.space.config import GroupSpec, SearchSpace

#: Space presets by name, each registered beside its definition.
SPACE_PRESETS: Registry[Callable[[], SearchSpace]] = Registry(
    "space preset", unknown=UnknownNameError
)


@SPACE_PRESETS.register("darts")
def darts_space() -> SearchSpace:
    """DARTS: eight working ops, ReLU in front of every convolution (≈1.1e18)."""
    return SearchSpace(
        name="darts",
        normal=(GroupSpec(group="op"), GroupSpec(group="activation", candidates=("relu",))),
    )


@SPACE_PRESETS.register("darts_without_none")
def darts_without_none_space() -> SearchSpace:
    """DARTS's space without the ``none`` op (seven ops, ReLU in front of every convolution):
    the op set of DrNAS (``DARTS-space/genotypes.py``) and FairDARTS
    (``fairdarts/genotypes.py``), whose ``PRIMITIVES`` leave ``none`` out."""
    ops = tuple(name for name in get_group("op").names if name != "none")
    return SearchSpace(
        name="darts_without_none",
        normal=(
            GroupSpec(group="op", candidates=ops),
            GroupSpec(group="activation", candidates=("relu",)),
        ),
    )


@SPACE_PRESETS.register("adarts")
def adarts_space() -> SearchSpace:
    """A-DARTS: eight working ops × nine activations, factorized (≈9.3e29, paper §3.3)."""
    return SearchSpace(name="adarts", normal=(GroupSpec(group="op"), GroupSpec(group="activation")))


@SPACE_PRESETS.register("flat40")
def flat40_space() -> SearchSpace:
    """The flat twin of A-DARTS: 40 fused candidates under one α (paper §3.3: 9×4+4)."""
    return adarts_space().flat_twin().model_copy(update={"name": "flat40"})


@SPACE_PRESETS.register("adarts_norm")
def adarts_norm_space() -> SearchSpace:
    """A-DARTS plus the normalization after each conv (§5): op × activation × normalization.

    The convs end bare and the searched norm replaces their trailing BN: 3 + 4 × 9 × 4 = 147
    choices per kept edge, (180 · 147⁸)² ≈ 1.5e39 architectures.
    """
    return SearchSpace(
        name="adarts_norm",
        normal=(
            GroupSpec(group="op_bare"),
            GroupSpec(group="activation"),
            GroupSpec(group="normalization"),
        ),
    )


@SPACE_PRESETS.register("adarts_conv")
def adarts_conv_space() -> SearchSpace:
    """Convolutions factorized too (§5): one conv of type × kernel, × activation × norm.

    3 + 3 types × 2 kernels × 9 × 4 = 219 choices per kept edge, (180 · 219⁸)² ≈ 9.1e41.
    """
    return SearchSpace(
        name="adarts_conv",
        normal=(
            GroupSpec(group="conv_op"),
            GroupSpec(group="conv_type"),
            GroupSpec(group="kernel_size"),
            GroupSpec(group="activation"),
            GroupSpec(group="normalization"),
        ),
    )


@SPACE_PRESETS.register("pc_darts")
def pc_darts_space() -> SearchSpace:
    """PC-DARTS on CIFAR-10: DARTS's space searched on 1/4 of each edge's channels, with edge
    normalization (299,578 weights and 252 architecture parameters at C=16, 8 cells)."""
    return SearchSpace(
        name="pc_darts",
        normal=(GroupSpec(group="op"), GroupSpec(group="activation", candidates=("relu",))),
        partial_channels=4,
        edge_normalization=True,
    )


@SPACE_PRESETS.register("apc_darts")
def apc_darts_space() -> SearchSpace:
    """A-PC-DARTS (§4.3, searched on ImageNet): A-DARTS's space on 1/2 of each edge's channels,
    with edge normalization; the mixed activation acts on the sampled channels only. Search it
    with the ImageNet stem (``SearchConfig.stem = "imagenet"``)."""
    return SearchSpace(
        name="apc_darts",
        normal=(GroupSpec(group="op"), GroupSpec(group="activation")),
        partial_channels=2,
        edge_normalization=True,
    )


def space_preset(name: str) -> SearchSpace:
    """The space of a named preset; an unknown name lists the presets."""
    return SPACE_PRESETS.get(name)()
