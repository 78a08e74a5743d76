"""The built-in activation factor group (the paper's β, Eq. 3), mixed by a fused kernel."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import cast

import torch
from torch import nn

from factornas.factors.activations import Swish
from factornas.factors.base import Candidate, FactorGroup, Placement
from factornas.kernels import (
    MixedActivationSettings,
    fused_mixed_activation,
    grouped_mixed_activation,
)

# Module type → kernel name. Matched on the exact type: a subclass may compute anything.
_KERNEL_NAMES: dict[type, str] = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.LeakyReLU: "leaky_relu",
    nn.PReLU: "prelu",
    nn.RReLU: "rrelu",
    nn.ELU: "elu",
    nn.CELU: "celu",
    nn.SELU: "selu",
    Swish: "swish",
}


class ActivationGroup(FactorGroup):
    """Activations mixed once per edge in front of every ``conv``-tagged op (Figure 2).

    :meth:`mix` hands the built-in activations to the fused kernel, which shares work across
    them and stores only its input for backward (docs/performance.md); any other candidate module (a
    user's own activation) falls back to the plain weighted sum.
    """

    def __init__(
        self,
        name: str = "activation",
        *,
        candidates: Mapping[str, Callable[[int], nn.Module]],
        attach_to: tuple[str, ...] = ("conv",),
    ) -> None:
        super().__init__(
            name,
            placement=Placement.INPUT,
            attach_to=attach_to,
            candidates=(Candidate(n, factory=f) for n, f in candidates.items()),
            description="activation in front of each parameterized op (weights β)",
        )

    def mix(
        self, x: torch.Tensor, weights: torch.Tensor, modules: Sequence[nn.Module]
    ) -> torch.Tensor:
        kernel = _kernel_call(modules)
        if kernel is None or not x.is_floating_point():
            return super().mix(x, weights, modules)
        names, settings = kernel
        return fused_mixed_activation(
            x,
            weights,
            names,
            prelu_weight=_single(modules, nn.PReLU, "weight"),
            swish_beta=_single(modules, Swish, "beta"),
            training=any(m.training for m in modules),
            settings=settings,
        )

    def mix_shared(
        self,
        x: torch.Tensor,
        weights: torch.Tensor,
        modules: Sequence[Sequence[nn.Module]],
    ) -> torch.Tensor | None:
        """Every edge's mixture of the one input ``x`` in a single kernel call, each edge with
        its own β row, PReLU slope and Swish ``b``."""
        kernel = _kernel_call(modules[0])
        if kernel is None or not x.is_floating_point():
            return None
        names, settings = kernel
        return grouped_mixed_activation(
            x,
            weights,
            names,
            prelu_weight=_per_edge(modules, nn.PReLU, "weight"),
            swish_beta=_per_edge(modules, Swish, "beta"),
            training=any(m.training for m in modules[0]),
            settings=settings,
        )


def _kernel_call(
    modules: Sequence[nn.Module],
) -> tuple[list[str], MixedActivationSettings] | None:
    """The kernel's activation names and settings for these candidate modules, or None when
    one of them is not a built-in activation (a user's own: the plain weighted sum)."""
    names = [_KERNEL_NAMES.get(type(m)) for m in modules]
    if any(name is None for name in names):
        return None
    settings: dict[str, float] = {}
    for module in modules:
        if isinstance(module, nn.RReLU):
            settings["rrelu_lower"], settings["rrelu_upper"] = module.lower, module.upper
        elif isinstance(module, nn.LeakyReLU):
            settings["leaky_slope"] = module.negative_slope
        elif isinstance(module, nn.CELU):
            settings["celu_alpha"] = module.alpha
        elif isinstance(module, nn.ELU):
            settings["elu_alpha"] = module.alpha
    return cast(list[str], names), MixedActivationSettings(**settings)


def _single(modules: Sequence[nn.Module], kind: type, attribute: str) -> torch.Tensor | None:
    """The learnable scalar of the candidate of type ``kind`` (PReLU's slope, Swish's b)."""
    for module in modules:
        if isinstance(module, kind):
            return cast(torch.Tensor, getattr(module, attribute))
    return None


def _per_edge(
    modules: Sequence[Sequence[nn.Module]], kind: type, attribute: str
) -> torch.Tensor | None:
    """Every edge's learnable scalar of the candidate of type ``kind``, as one ``(k,)`` tensor
    (None when the group has no such candidate)."""
    values = [_single(edge, kind, attribute) for edge in modules]
    if any(v is None for v in values):
        return None
    return torch.cat([cast(torch.Tensor, v).reshape(1) for v in values])
