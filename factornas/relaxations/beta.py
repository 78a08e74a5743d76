"""β-DARTS's regularizer of a group (Sunshine-Ye/Beta-DARTS, ``optimizers/darts/architect.py``).

``λ_e · mean_edges logsumexp(α)`` joins the group's validation loss, the mean taken over the
edges of both cell types together, with ``λ_e = 50·e/100`` (a fixed 0.5 per epoch, whatever
the run's length); it keeps α's scale in check, which keeps the softmax from saturating on
parameter-free ops.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from factornas.relaxations.base import linear
from factornas.relaxations.stabilizer import Stabilizer, register_stabilizer


class BetaRegConfig(BaseModel):
    """The options of β-DARTS's regularizer: ``λ_e = weight_start + weight_per_epoch · e``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight_start: float = Field(0.0, ge=0, description="λ of the first epoch")
    weight_per_epoch: float = Field(
        0.5, ge=0, description="λ's growth per epoch (β-DARTS: 50·epoch/100)"
    )
    weight_end: float | None = Field(
        None,
        ge=0,
        description="instead, λ linear from weight_start to this at the last epoch (what "
        "factornas 0.1 did; kept so its runs resume as they ran)",
    )

    @model_validator(mode="after")
    def _not_always_zero(self) -> BetaRegConfig:
        growth = self.weight_per_epoch if self.weight_end is None else self.weight_end
        if self.weight_start == 0 and growth == 0:
            raise ValueError("beta regularizer with weight 0 throughout: drop it instead")
        return self

    def weight(self, epoch: int, epochs: int) -> float:
        if self.weight_end is not None:
            return linear(self.weight_start, self.weight_end, epoch, epochs)
        return self.weight_start + self.weight_per_epoch * epoch


def beta_loss(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The mean over the rows of every given tensor (edges of both cell types) of
    ``logsumexp(α)``: β-DARTS's ``mlc_loss`` with the edges of both cell types as one set."""
    return torch.logsumexp(torch.cat(list(params)), dim=-1).mean()


@register_stabilizer
class Beta(Stabilizer):
    """β-DARTS: a growing penalty on the logsumexp of the group's parameters."""

    name = "beta"
    Options = BetaRegConfig

    def loss(self, params: Sequence[torch.Tensor], epoch: int, epochs: int) -> torch.Tensor | None:
        if not params:
            return None
        return self.options.weight(epoch, epochs) * beta_loss(params)

    def record(self, epoch: int, epochs: int) -> dict[str, float]:
        return {"beta_weight": self.options.weight(epoch, epochs)}
