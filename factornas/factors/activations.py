"""The nine activation candidates of the paper (§3.3) as module factories."""

from __future__ import annotations

import torch
from torch import nn


class Swish(nn.Module):
    """``x · sigmoid(b · x)`` with a learnable scalar ``b`` (Ramachandran et al.)."""

    def __init__(self, beta_init: float = 1.0) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(float(beta_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.beta * x)


def relu(channels: int) -> nn.Module:
    return nn.ReLU(inplace=False)


def relu6(channels: int) -> nn.Module:
    return nn.ReLU6(inplace=False)


def leaky_relu(channels: int) -> nn.Module:
    return nn.LeakyReLU(0.01, inplace=False)


def prelu(channels: int) -> nn.Module:
    # One shared slope, torch's default: the paper does not ask for per-channel slopes.
    return nn.PReLU(num_parameters=1, init=0.25)


def rrelu(channels: int) -> nn.Module:
    return nn.RReLU(lower=1.0 / 8.0, upper=1.0 / 3.0, inplace=False)


def elu(channels: int) -> nn.Module:
    return nn.ELU(alpha=1.0, inplace=False)


def celu(channels: int) -> nn.Module:
    return nn.CELU(alpha=1.0, inplace=False)


def selu(channels: int) -> nn.Module:
    return nn.SELU(inplace=False)


def swish(channels: int) -> nn.Module:
    return Swish()


#: The paper's nine activations in canonical order (the order of β).
PAPER_ACTIVATIONS = {
    "relu": relu,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "prelu": prelu,
    "rrelu": rrelu,
    "elu": elu,
    "celu": celu,
    "selu": selu,
    "swish": swish,
}
