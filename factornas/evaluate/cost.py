"""Parameters, multiply-adds, and the width that fits a multiply-add budget.

Conventions (docs/evaluation.md):

* **params** count every parameter except the auxiliary head's, as DARTS's
  ``count_parameters_in_MB`` does and as every paper in the field reports; ``params_total``
  includes the head.
* **MACs** are multiply-accumulates of one forward pass of one image in eval mode (so without
  the auxiliary head), measured by torch's own :class:`torch.utils.flop_counter.FlopCounterMode`.
  It counts FLOPs = 2 × MACs for convolutions and matrix products and nothing for batch norm,
  pooling, activations or additions; we report MACs = FLOPs / 2, the quantity the mobile
  setting's "≤ 600M FLOPs" bounds.

Networks are measured on the ``meta`` device: shapes propagate through the forward pass but
nothing is allocated, initialized or computed, so the cost of measuring (about 0.4 s for either
network) does not grow with the width or the image, nor depend on what else the CPU is doing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from factornas.evaluate.config import NetworkConfig
from factornas.evaluate.network import (
    NETWORKS,
    EvalNetwork,
    NetworkCIFAR,
    NetworkImageNet,
    build_network,
)
from factornas.space.genotype import Genotype

#: The input side at which each network's cost is stated (CIFAR 32×32, ImageNet 224×224).
DEFAULT_IMAGE_SIZE = {"cifar": 32, "imagenet": 224}


def count_parameters(model: nn.Module, *, auxiliary: bool = False) -> int:
    """Parameters of ``model``; the auxiliary head only with ``auxiliary=True``."""
    if not auxiliary and isinstance(model, NetworkCIFAR | NetworkImageNet):
        return sum(p.numel() for p in model.main_parameters())
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one eval-mode forward pass on an input of ``input_shape``."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(input_shape, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


@dataclass(frozen=True)
class NetworkCost:
    """What one network configuration costs."""

    params: int
    params_total: int
    macs: int
    image_size: int


def _meta_network(genotype: Genotype, config: NetworkConfig) -> EvalNetwork:
    with torch.device("meta"):
        return build_network(genotype, config)


def network_params(genotype: Genotype, config: NetworkConfig) -> tuple[int, int]:
    """(params without the auxiliary head, params with it), without a forward pass."""
    model = _meta_network(genotype, config)
    return count_parameters(model), count_parameters(model, auxiliary=True)


def network_cost(
    genotype: Genotype, config: NetworkConfig, image_size: int | None = None
) -> NetworkCost:
    """Parameters and MACs of the network ``config`` builds from ``genotype``.

    ``image_size`` defaults to the network's standard input (32 CIFAR, 224 ImageNet).
    """
    size = image_size or DEFAULT_IMAGE_SIZE[config.kind]
    model = _meta_network(genotype, config)
    return NetworkCost(
        params=count_parameters(model),
        params_total=count_parameters(model, auxiliary=True),
        macs=count_macs(model, (1, config.in_channels, size, size)),
        image_size=size,
    )


@dataclass(frozen=True)
class WidthSolution:
    """The widest network within a MAC budget, with the evidence that it is the widest.

    ``next_channels`` is the next valid width (``channels + channel_multiple``) and
    ``next_macs`` its cost, which exceeds the budget; since MACs grow strictly with the width,
    every wider network exceeds it too.
    """

    channels: int
    macs: int
    next_channels: int
    next_macs: int
    budget: int


def solve_width(
    genotype: Genotype,
    config: NetworkConfig,
    max_macs: int,
    image_size: int | None = None,
) -> WidthSolution:
    """The largest initial channel count whose network costs at most ``max_macs`` MACs.

    Only valid widths are considered: multiples of the network's ``channel_multiple`` (the
    ImageNet network needs an even count for its first FactorizedReduce). Every conv's MACs
    are a polynomial in the width with non-negative coefficients, so the cost is strictly
    increasing on that grid. The search gallops from ``config.channels`` (usually close to the
    answer) until it brackets the budget, then bisects; the first width past the answer is
    measured and returned as the proof that nothing wider fits.

    Raises:
        ValueError: if even the narrowest valid width exceeds the budget.
    """
    step = NETWORKS[config.kind].channel_multiple
    costs: dict[int, int] = {}

    def macs(k: int) -> int:
        if k not in costs:
            wider = config.model_copy(update={"channels": k * step})
            costs[k] = network_cost(genotype, wider, image_size).macs
        return costs[k]

    def fits(k: int) -> bool:
        return macs(k) <= max_macs

    # Bracket: low fits, high does not.
    start, jump = max(1, config.channels // step), 1
    if fits(start):
        low, high = start, start + jump
        while fits(high):
            low, jump = high, jump * 2
            high = low + jump
    else:
        high, low = start, start - jump
        while low >= 1 and not fits(low):
            high, jump = low, jump * 2
            low = high - jump
        if low < 1:
            low = 1
            if not fits(low):
                raise ValueError(
                    f"even {step} initial channel(s) cost {macs(low):,} MACs, over the budget "
                    f"of {max_macs:,}"
                )
    while high - low > 1:
        mid = (low + high) // 2
        if fits(mid):
            low = mid
        else:
            high = mid
    return WidthSolution(
        channels=low * step,
        macs=macs(low),
        next_channels=high * step,
        next_macs=macs(high),
        budget=max_macs,
    )
