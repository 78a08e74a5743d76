"""FairDARTS's relaxation: independent sigmoids, pushed to 0 or 1 by the zero-one loss.

Every candidate gets its own weight ``σ(α)`` (no competition through a shared normalization,
so a skip connection's advantage does not suppress the others). The zero-one loss
``−mean((σ(α) − 0.5)²)``, times ``weight`` (FairDARTS: 10), rewards weights far from 0.5.
Derivation ranks by ``σ(α)`` within the DARTS cell's rule (the ``edges_per_node`` strongest
incoming edges, the best non-zero op on each); FairDARTS's own threshold rule (keep every op
above 0.85) does not fit a cell with exactly two inputs per node.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from factornas.relaxations.base import Relaxation
from factornas.relaxations.registry import register_relaxation


class SigmoidOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    weight: float = Field(10.0, ge=0, description="the zero-one loss's weight (FairDARTS: 10)")


def zero_one_loss(weights: torch.Tensor) -> torch.Tensor:
    """FairDARTS's ``L_01 = −mean((w − 0.5)²)``."""
    return -(weights - 0.5).square().mean()


@register_relaxation
class Sigmoid(Relaxation):
    name = "sigmoid"
    Options = SigmoidOptions

    def weights(self, param: torch.Tensor, training: bool) -> torch.Tensor:
        return torch.sigmoid(param)

    def loss(self, param: torch.Tensor) -> torch.Tensor | None:
        if self.options.weight == 0:
            return None
        return self.options.weight * zero_one_loss(torch.sigmoid(param))
