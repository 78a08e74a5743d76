"""Per-group stabilizers of the architecture weights: SDARTS's smoothing, β-DARTS's regularizer.

* :class:`SmoothingConfig` — SDARTS (xiangning-chen/SmoothDARTS, ``sota/cnn/train_search.py``,
  ``attacker/perturb.py``): during the *weight* step the group's mixing weights are perturbed
  within radius ε and projected back onto the simplex (:func:`clip_to_simplex`, SDARTS's
  ``model.clip``), so ω is trained to do well in a neighbourhood of the architecture rather
  than at one point. ε grows as ``ε_start + (ε_end − ε_start)·e/E`` (SDARTS's
  ``0.03 + (ε − 0.03)·epoch/epochs``: the last epoch stays just below ``ε_end``).
  ``mode="random"`` (SDARTS-RS) adds U(−ε, ε) noise; ``mode="adversarial"`` (SDARTS-ADV)
  takes the perturbation that most increases the training loss, found by projected
  sign-gradient ascent (:mod:`factornas.search.adversarial`).
* :class:`BetaRegConfig` — β-DARTS (Sunshine-Ye/Beta-DARTS, ``optimizers/darts/architect.py``):
  ``λ_e · mean_edges logsumexp(α)`` added to the group's validation loss, the mean taken over
  the edges of both cell types together, with ``λ_e = 50·e/100`` (a fixed 0.5 per epoch,
  whatever the run's length); it keeps α's scale in check, which keeps the softmax from
  saturating on parameter-free ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from factornas.relaxations.base import linear


class SmoothingConfig(BaseModel):
    """SDARTS's smoothing of one group's weights during the weight step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["random", "adversarial"] = Field(
        "random", description="SDARTS-RS (uniform noise) or SDARTS-ADV (PGD within the radius)"
    )
    epsilon_start: float = Field(0.03, ge=0, description="noise radius of the first epoch")
    epsilon_end: float = Field(
        0.3, ge=0, description="the radius the schedule heads for (SDARTS's epsilon_alpha)"
    )
    attack_steps: int = Field(7, ge=1, description="adversarial: PGD steps per weight step")
    attack_step_scale: float = Field(
        2.0,
        gt=0,
        description="adversarial: each PGD step moves attack_step_scale·ε/attack_steps "
        "(SDARTS: 2ε/7)",
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_step(cls, data: Any) -> Any:
        """Configs of factornas 0.1 gave each PGD step as a fraction of ε (``attack_step``)."""
        if isinstance(data, dict) and "attack_step" in data:
            data = dict(data)
            fraction = data.pop("attack_step")
            data.setdefault("attack_step_scale", fraction * data.get("attack_steps", 7))
        return data

    def epsilon(self, epoch: int, epochs: int) -> float:
        return self.epsilon_start + (self.epsilon_end - self.epsilon_start) * epoch / epochs

    def attack_step(self, epsilon: float) -> float:
        """One PGD step's size at radius ``epsilon``."""
        return self.attack_step_scale * epsilon / self.attack_steps


def clip_to_simplex(weights: torch.Tensor) -> torch.Tensor:
    """SDARTS's ``clip``: each row clamped to [0, 1] and divided by its sum; a row that clamps
    to all zeros becomes one-hot at its largest entry (taken before clamping). Written with
    ``torch.where`` instead of SDARTS's per-row host test, so it reads nothing back."""
    clamped = weights.clamp(0.0, 1.0)
    total = clamped.sum(dim=-1, keepdim=True)
    top = torch.zeros_like(weights).scatter_(-1, weights.argmax(dim=-1, keepdim=True), 1.0)
    clamped = torch.where(total == 0, top, clamped)
    return clamped / clamped.sum(dim=-1, keepdim=True)


def smooth(weights: torch.Tensor, epsilon: float) -> torch.Tensor:
    """SDARTS-RS's ``Random_alpha``: ``weights`` plus U(−ε, ε) noise, projected back by
    :func:`clip_to_simplex`."""
    return clip_to_simplex(weights + torch.empty_like(weights).uniform_(-epsilon, epsilon))


class BetaRegConfig(BaseModel):
    """β-DARTS's regularizer of one group: ``λ_e = weight_start + weight_per_epoch · e``."""

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
