"""DARTS's relaxation, the default: ``w = softmax(α)`` per edge."""

from __future__ import annotations

import torch

from factornas.relaxations.base import Relaxation
from factornas.relaxations.registry import register_relaxation


@register_relaxation
class Softmax(Relaxation):
    """The deterministic softmax; derivation takes its argmax (DARTS)."""

    name = "softmax"

    def weights(self, param: torch.Tensor, training: bool) -> torch.Tensor:
        return torch.softmax(param, dim=-1)
