"""FairDARTS's relaxation: independent sigmoids, pushed to 0 or 1 by the zero-one loss.

Every candidate gets its own weight ``σ(α)`` (no competition through a shared normalization,
so a skip connection's advantage does not suppress the others). The zero-one loss is
FairDARTS's ``ConvSeparateLoss`` (``fairdarts/separate_loss.py``): ``−weight · MSE(σ, 0.5)``
over the normal and reduction weights *concatenated* (``train_search.py`` and
``architect.py`` build ``aux_input = cat([σ(α_normal), σ(α_reduce)])``), one mean over both
cell types, ``weight`` 10 (its ``aux_loss_weight``). Derivation ranks by ``σ(α)``: DARTS's
rule, or FairDARTS's own ``threshold_sparse`` (``derivation.rule = "threshold"``).
"""

from __future__ import annotations

from collections.abc import Sequence

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
    simplex = False

    def weights(self, param: torch.Tensor, training: bool) -> torch.Tensor:
        return torch.sigmoid(param)

    def loss(self, params: Sequence[torch.Tensor]) -> torch.Tensor | None:
        if self.options.weight == 0 or not params:
            return None
        return self.options.weight * zero_one_loss(torch.sigmoid(torch.cat(list(params))))
