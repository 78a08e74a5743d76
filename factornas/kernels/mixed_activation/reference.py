"""The naive reference: one ``torch.nn.functional`` call per activation, then a weighted sum.

It exists as the oracle the fused kernel is tested against, values, gradients (to any order,
by plain autograd) and errors alike (it runs the same :mod:`.checks`), and as the baseline the
benchmarks compare with. It shares nothing with the fused computation but the argument checks
and the RReLU noise of :mod:`.rrelu`, without which no two implementations of a random
function could be compared.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from factornas.kernels.mixed_activation import rrelu
from factornas.kernels.mixed_activation.checks import _validate
from factornas.kernels.mixed_activation.settings import DEFAULT_SETTINGS, MixedActivationSettings


def naive_mixed_activation(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    *,
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
    training: bool,
    settings: MixedActivationSettings = DEFAULT_SETTINGS,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Reference implementation: one ``torch.nn.functional`` call per activation, then a sum.

    Same signature and semantics as :func:`fused_mixed_activation`, differentiable to any
    order by plain autograd. Training-mode RReLU is the one exception to "use F directly":
    ``F.rrelu`` accepts no generator and hides its noise, so this uses the same slopes as the
    fused kernel (:meth:`RReLUNoise.slopes`, drawn identically from ``generator``) in torch's own
    formula ``x · (x > 0 ? 1 : slope)``; given equal generator states both implementations
    therefore compute the same random function. The slopes come from a seed or from levels
    drawn on the device exactly as the fused kernel's do (:func:`rrelu.draw_noise`).
    """
    ordered, _ = _validate(x, weights, names, prelu_weight, swish_beta)
    total: Tensor | None = None
    for weight, name in zip(weights.unbind(), ordered, strict=True):
        if name == "relu":
            y = F.relu(x)
        elif name == "relu6":
            y = F.relu6(x)
        elif name == "leaky_relu":
            y = F.leaky_relu(x, settings.leaky_slope)
        elif name == "prelu":
            assert prelu_weight is not None
            y = F.prelu(x, prelu_weight.reshape(1))
        elif name == "rrelu":
            if training:
                noise = rrelu.draw_noise(x, 1, generator)
                slopes = noise.slopes(x, settings.rrelu_lower, settings.rrelu_upper)
                y = torch.where(x > 0, x, x * slopes)
            else:
                y = F.rrelu(x, settings.rrelu_lower, settings.rrelu_upper, training=False)
        elif name == "elu":
            y = F.elu(x, settings.elu_alpha)
        elif name == "celu":
            y = F.celu(x, settings.celu_alpha)
        elif name == "selu":
            y = F.selu(x)
        else:
            assert swish_beta is not None
            y = x * torch.sigmoid(swish_beta.reshape(()) * x)
        total = weight * y if total is None else total + weight * y
    assert total is not None
    return total
