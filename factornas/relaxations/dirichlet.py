"""DrNAS's relaxation: mixing weights sampled from a Dirichlet distribution.

The group's parameters θ give the concentration ``c = elu(θ) + 1`` (DrNAS's reference code;
``softplus`` is the other positive map offered); training mixes with a reparameterized sample
``w ~ Dir(c)`` (``rsample``: pathwise gradients), evaluation and derivation with the mean
``c / Σc``. The regularizer keeps the distribution near a prior: ``KL(Dir(c) ‖ Dir(prior))``
(or ``‖c‖²/2`` for ``l2``) per edge, summed over edges, times ``weight``.

Sampling draws from torch's default generator of the device, checkpointed with every run.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.distributions import Dirichlet as DirichletDistribution
from torch.distributions import kl_divergence
from torch.nn import functional as F

from factornas.relaxations.base import Relaxation
from factornas.relaxations.registry import register_relaxation


class DirichletOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    concentration: Literal["elu", "softplus"] = Field(
        "elu", description="θ → concentration: elu(θ)+1 (DrNAS) or softplus(θ)"
    )
    regularizer: Literal["kl", "l2"] = "kl"
    weight: float = Field(1e-3, ge=0, description="the regularizer's weight (DrNAS: 1e-3)")
    prior: float = Field(1.0, gt=0, description="concentration of the KL's Dirichlet prior")


@register_relaxation
class Dirichlet(Relaxation):
    name = "dirichlet"
    Options = DirichletOptions

    def concentration(self, param: torch.Tensor) -> torch.Tensor:
        if self.options.concentration == "elu":
            return F.elu(param) + 1.0
        return F.softplus(param)

    def weights(self, param: torch.Tensor, training: bool) -> torch.Tensor:
        c = self.concentration(param)
        if training:
            return DirichletDistribution(c, validate_args=False).rsample()
        return c / c.sum(dim=-1, keepdim=True)

    def loss(self, param: torch.Tensor) -> torch.Tensor | None:
        if self.options.weight == 0:
            return None
        c = self.concentration(param)
        if self.options.regularizer == "l2":
            term = 0.5 * c.square().sum()
        else:
            # Unvalidated: validating the arguments reads them on the host (a device sync).
            prior = DirichletDistribution(
                torch.full_like(c, self.options.prior), validate_args=False
            )
            term = kl_divergence(DirichletDistribution(c, validate_args=False), prior).sum()
        return self.options.weight * term
