"""SDARTS's smoothing of a group's weights during the weight step (xiangning-chen/SmoothDARTS,
``sota/cnn/train_search.py``, ``attacker/perturb.py``).

The weights the weight step trains at are perturbed within radius ε and projected back onto
the simplex (:func:`clip_to_simplex`, SDARTS's ``model.clip``), so ω is trained to do well in
a neighbourhood of the architecture rather than at one point. ε grows as
``ε_start + (ε_end − ε_start)·e/E`` (SDARTS's ``0.03 + (ε − 0.03)·epoch/epochs``: the last
epoch stays just below ``ε_end``). ``mode="random"`` (SDARTS-RS) adds U(−ε, ε) noise;
``mode="adversarial"`` (SDARTS-ADV) takes the perturbation that most increases the training
loss, found by projected sign-gradient ascent (:mod:`factornas.search.adversarial`).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from factornas.relaxations.stabilizer import Adversary, Stabilizer, register_stabilizer


class SmoothingConfig(BaseModel):
    """The options of SDARTS's smoothing."""

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


@register_stabilizer
class Smoothing(Stabilizer):
    """SDARTS-RS's noise or SDARTS-ADV's worst case, during the weight step."""

    name = "smoothing"
    Options = SmoothingConfig
    needs_simplex = True

    def perturb(self, weights: torch.Tensor, epoch: int, epochs: int) -> torch.Tensor:
        if self.options.mode != "random":
            return weights  # the adversarial perturbation comes in through adversary()
        return smooth(weights, self.options.epsilon(epoch, epochs))

    def adversary(self, epoch: int, epochs: int) -> Adversary | None:
        if self.options.mode != "adversarial":
            return None
        radius = self.options.epsilon(epoch, epochs)
        return Adversary(radius, self.options.attack_steps, self.options.attack_step(radius))

    def record(self, epoch: int, epochs: int) -> dict[str, float]:
        return {"smoothing_epsilon": self.options.epsilon(epoch, epochs)}
