"""The built-in activation factor group (the paper's β, Eq. 3), mixed by a fused kernel."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from factornas.factors.activations import Swish
from factornas.factors.base import Candidate, FactorGroup, Placement
from factornas.kernels import fused_mixed_activation

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
    them and stores only its input for backward (DESIGN §4); any other candidate module (a
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
        kernel_names = [_KERNEL_NAMES.get(type(m)) for m in modules]
        names = [name for name in kernel_names if name is not None]
        if len(names) < len(kernel_names) or not x.is_floating_point():
            return super().mix(x, weights, modules)
        kwargs: dict[str, object] = {"prelu_weight": None, "swish_beta": None}
        for module in modules:
            if isinstance(module, nn.PReLU):
                kwargs["prelu_weight"] = module.weight
            elif isinstance(module, Swish):
                kwargs["swish_beta"] = module.beta
            elif isinstance(module, nn.RReLU):
                kwargs["rrelu_lower"], kwargs["rrelu_upper"] = module.lower, module.upper
            elif isinstance(module, nn.LeakyReLU):
                kwargs["leaky_slope"] = module.negative_slope
            elif isinstance(module, nn.CELU):
                kwargs["celu_alpha"] = module.alpha
            elif isinstance(module, nn.ELU):
                kwargs["elu_alpha"] = module.alpha
        training = any(m.training for m in modules)
        return fused_mixed_activation(
            x,
            weights,
            names,
            training=training,
            **kwargs,  # type: ignore[arg-type]
        )
