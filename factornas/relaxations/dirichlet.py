"""DrNAS's relaxation: mixing weights sampled from a Dirichlet distribution.

The group's parameters θ give the concentration ``c = elu(θ) + 1`` (DrNAS's reference code,
``DARTS-space/model_search.py``; ``softplus`` is the other positive map offered); training mixes
with a reparameterized sample ``w ~ Dir(c)`` (``rsample``: pathwise gradients), evaluation with
the mean ``c / Σc``. A genotype is derived from ``softmax(θ)``, as DrNAS's ``genotype()`` does
(the Dirichlet mean ranks the edges of a node differently).

The regularizer is DrNAS's ``reg_type``:

* ``l2`` (its default): ``weight · ‖θ‖² / 2`` over the group's parameters of both cell types.
  DrNAS applies it as the architecture Adam's ``weight_decay = reg_scale``
  (``architect.py``), which adds ``reg_scale · θ`` to the gradient: exactly this term's
  gradient. Being a term here, it stays with the group, so the preset's architecture
  optimizer carries no weight decay and switching to ``kl`` switches it off, as DrNAS does.
* ``kl``: ``weight · Σ KL(Dir(c) ‖ Dir(prior))`` over every edge of both cell types
  (``_get_kl_reg``: the reduction and normal cells' sums, added).

Sampling draws from torch's default generator of the device, checkpointed with every run.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    regularizer: Literal["l2", "kl"] = Field(
        "l2", description="l2: ‖θ‖²/2 (DrNAS's default); kl: KL to a Dirichlet prior"
    )
    weight: float = Field(1e-3, ge=0, description="the regularizer's weight (DrNAS's reg_scale)")
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

    def strengths(self, param: torch.Tensor) -> torch.Tensor:
        return torch.softmax(param, dim=-1)

    def loss(self, params: Sequence[torch.Tensor]) -> torch.Tensor | None:
        if self.options.weight == 0 or not params:
            return None
        if self.options.regularizer == "l2":
            term = 0.5 * sum((p.square().sum() for p in params), torch.zeros(()).to(params[0]))
        else:
            c = self.concentration(torch.cat(list(params)))
            # Unvalidated: validating the arguments reads them on the host (a device sync).
            prior = DirichletDistribution(
                torch.full_like(c, self.options.prior), validate_args=False
            )
            term = kl_divergence(DirichletDistribution(c, validate_args=False), prior).sum()
        return self.options.weight * term
