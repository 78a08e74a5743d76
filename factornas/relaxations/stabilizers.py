"""Per-group stabilizers of the architecture weights: SDARTS's smoothing, β-DARTS's regularizer.

* :class:`SmoothingConfig` — SDARTS-RS: during the *weight* step the group's mixing weights are
  perturbed by uniform noise of radius ε (ε grows linearly from ``epsilon_start`` to
  ``epsilon_end``, SDARTS: 0.03 → 0.3), then clipped to [0, 1] and renormalized, so ω is
  trained to do well in a neighbourhood of the architecture rather than at one point. The
  renormalization divides by the clamped row sum, not by a host-side check, to stay sync-free.
  ``mode="adversarial"`` (SDARTS-ADV) replaces the noise by the perturbation within the radius
  that most increases the training loss, found by projected sign-gradient ascent
  (:mod:`factornas.search.adversarial`).
* :class:`BetaRegConfig` — β-DARTS: ``λ_e · mean_edges logsumexp(α)`` added to the group's
  validation loss, λ growing linearly from ``weight_start`` to ``weight_end``; it keeps α's
  scale in check, which keeps the softmax from saturating on parameter-free ops.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from factornas.relaxations.base import linear


class SmoothingConfig(BaseModel):
    """SDARTS random smoothing of one group's weights during the weight step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["random", "adversarial"] = Field(
        "random", description="SDARTS-RS (uniform noise) or SDARTS-ADV (PGD within the radius)"
    )
    epsilon_start: float = Field(0.03, ge=0, description="noise radius of the first epoch")
    epsilon_end: float = Field(0.3, ge=0, description="noise radius of the last epoch")
    attack_steps: int = Field(7, ge=1, description="adversarial: PGD steps per weight step")
    attack_step: float = Field(
        0.25, gt=0, description="adversarial: each PGD step's size, as a fraction of ε"
    )

    def epsilon(self, epoch: int, epochs: int) -> float:
        return linear(self.epsilon_start, self.epsilon_end, epoch, epochs)


def smooth(weights: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``weights`` plus U(−ε, ε) noise, clipped to [0, 1], rows renormalized."""
    return perturb(weights, torch.empty_like(weights).uniform_(-epsilon, epsilon))


def perturb(weights: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """``weights + delta``, clipped to [0, 1], rows renormalized (SDARTS's clip)."""
    noisy = (weights + delta).clamp(0.0, 1.0)
    return noisy / noisy.sum(dim=-1, keepdim=True).clamp_min(1e-12)


class BetaRegConfig(BaseModel):
    """β-DARTS's regularizer of one group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight_start: float = Field(0.0, ge=0, description="λ of the first epoch")
    weight_end: float = Field(50.0, ge=0, description="λ of the last epoch (β-DARTS: 0 → 50)")

    @model_validator(mode="after")
    def _not_both_zero(self) -> BetaRegConfig:
        if self.weight_start == self.weight_end == 0:
            raise ValueError("beta regularizer with weight 0 throughout: drop it instead")
        return self

    def weight(self, epoch: int, epochs: int) -> float:
        return linear(self.weight_start, self.weight_end, epoch, epochs)


def beta_loss(param: torch.Tensor) -> torch.Tensor:
    """``mean over rows of logsumexp(α)``."""
    return torch.logsumexp(param, dim=-1).mean()
