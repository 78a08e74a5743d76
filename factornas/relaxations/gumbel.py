"""GDAS's relaxation: a hard, straight-through Gumbel-softmax sample per edge.

Training draws ``g ~ Gumbel(0, 1)`` and forms ``soft = softmax((α + g) / τ)`` and its one-hot
argmax ``hard``; the forward pass mixes with ``hard − soft.detach() + soft``: one-hot in value,
so only the sampled path of each edge has to run (``sampled``), with the gradient of ``soft``.
``τ`` anneals linearly from ``tau_max`` to ``tau_min`` over the search (GDAS: 10 → 0.1).
Evaluation uses the argmax of α without noise; derivation the softmax of α (GDAS derives from
α's ranking, which the softmax keeps).

The noise comes from torch's default generator of the parameter's device, which every
checkpoint captures (:mod:`factornas.runtime.rng`), so a resumed search draws the same samples.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from factornas.relaxations.base import Relaxation, linear
from factornas.relaxations.registry import register_relaxation


class GumbelOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tau_max: float = Field(10.0, gt=0, description="temperature of the first epoch (GDAS: 10)")
    tau_min: float = Field(0.1, gt=0, description="temperature of the last epoch (GDAS: 0.1)")

    @model_validator(mode="after")
    def _anneals_down(self) -> GumbelOptions:
        if self.tau_min > self.tau_max:
            raise ValueError(f"tau_min ({self.tau_min}) exceeds tau_max ({self.tau_max})")
        return self


def gumbel_noise(like: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise shaped like ``like``: ``−log(E)``, ``E ~ Exp(1)``.

    ``E`` can come out exactly 0, which makes that entry infinite (about once in 2²⁴ float32
    draws: a few times in a long search). GDAS draws again until every entry is finite
    (``search_model_gdas_nasnet.py``, ``get_gumbel_prob``); here each infinite entry takes the
    entry of a second draw, which has the same distribution (the entries are independent)
    and needs no host read of the first draw. Two infinite draws of one entry (about 2⁻⁴⁸)
    keep the largest finite value.
    """
    noise = -torch.empty_like(like).exponential_().log()
    again = -torch.empty_like(like).exponential_().log()
    noise = torch.where(torch.isfinite(noise), noise, again)
    return noise.clamp(max=torch.finfo(noise.dtype).max)


def straight_through(soft: torch.Tensor) -> torch.Tensor:
    """The one-hot argmax of ``soft`` in value, with ``soft``'s gradient."""
    index = soft.detach().argmax(dim=-1, keepdim=True)
    hard = torch.zeros_like(soft).scatter_(-1, index, 1.0)
    return hard - soft.detach() + soft


@register_relaxation
class Gumbel(Relaxation):
    name = "gumbel"
    Options = GumbelOptions
    sampled = True

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options)
        self.tau: float = self.options.tau_max

    def set_epoch(self, epoch: int, epochs: int) -> None:
        self.tau = linear(self.options.tau_max, self.options.tau_min, epoch, epochs)

    def weights(self, param: torch.Tensor, training: bool) -> torch.Tensor:
        if not training:
            index = param.detach().argmax(dim=-1, keepdim=True)
            return torch.zeros_like(param).scatter_(-1, index, 1.0)
        soft = torch.softmax((param + gumbel_noise(param)) / self.tau, dim=-1)
        return straight_through(soft)

    def strengths(self, param: torch.Tensor) -> torch.Tensor:
        return torch.softmax(param, dim=-1)

    def record(self) -> dict[str, float]:
        return {"temperature": self.tau}
