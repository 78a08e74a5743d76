"""Each searched group's relaxation and stabilizers, with their schedules' current values.

:class:`~factornas.supernet.arch.ArchitectureParameters` holds one :class:`GroupRelaxations`;
a group without an entry is relaxed by a plain softmax, so a supernet built without a search
config (tests, notebooks) behaves as DARTS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from factornas.relaxations.base import Relaxation
from factornas.relaxations.softmax import Softmax
from factornas.relaxations.stabilizers import (
    BetaRegConfig,
    SmoothingConfig,
    beta_loss,
    perturb,
    smooth,
)


@dataclass
class GroupRelaxation:
    """One group's relaxation and optional stabilizers."""

    relaxation: Relaxation
    smoothing: SmoothingConfig | None = None
    beta: BetaRegConfig | None = None


class GroupRelaxations:
    """Group name → :class:`GroupRelaxation`, plus the epoch's schedule values."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupRelaxation] = {}
        self._default = GroupRelaxation(Softmax())
        self.epoch, self.epochs = 0, 1
        #: True during the weight step: smoothing perturbs the weights only then (SDARTS).
        self.perturbing = False
        #: Adversarial smoothing's perturbations by (cell type, group), set before each
        #: weight step (:func:`factornas.search.adversarial.attack`).
        self.deltas: dict[tuple[str, str], torch.Tensor] = {}

    def set(self, group: str, settings: GroupRelaxation) -> None:
        self.groups[group] = settings
        settings.relaxation.set_epoch(self.epoch, self.epochs)

    def __getitem__(self, group: str) -> GroupRelaxation:
        return self.groups.get(group, self._default)

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Move every schedule to ``epoch`` (pure functions of it: nothing to checkpoint)."""
        self.epoch, self.epochs = epoch, epochs
        for settings in self.groups.values():
            settings.relaxation.set_epoch(epoch, epochs)

    def weights(
        self, cell_type: str, group: str, param: torch.Tensor, training: bool
    ) -> torch.Tensor:
        settings = self[group]
        w = settings.relaxation.weights(param, training)
        smoothing = settings.smoothing
        if not (self.perturbing and training and smoothing is not None):
            return w
        if smoothing.mode == "random":
            return smooth(w, self.epsilon(group))
        delta = self.deltas.get((cell_type, group))
        return w if delta is None else perturb(w, delta)

    def epsilon(self, group: str) -> float:
        """The group's smoothing radius this epoch (0 without smoothing)."""
        smoothing = self[group].smoothing
        return 0.0 if smoothing is None else smoothing.epsilon(self.epoch, self.epochs)

    def strengths(self, group: str, param: torch.Tensor) -> torch.Tensor:
        return self[group].relaxation.strengths(param)

    def loss(self, group: str, param: torch.Tensor) -> torch.Tensor | None:
        """The group's terms of the validation loss for one cell type's ``param``."""
        settings = self[group]
        total = settings.relaxation.loss(param)
        if settings.beta is not None:
            term = settings.beta.weight(self.epoch, self.epochs) * beta_loss(param)
            total = term if total is None else total + term
        return total

    def record(self) -> dict[str, dict[str, Any]]:
        """Per group with a non-default setting: its relaxation and schedule values."""
        out: dict[str, dict[str, Any]] = {}
        for group, settings in self.groups.items():
            entry: dict[str, Any] = {"relaxation": settings.relaxation.name}
            entry.update(settings.relaxation.record())
            if settings.smoothing is not None:
                entry["smoothing_epsilon"] = self.epsilon(group)
            if settings.beta is not None:
                entry["beta_weight"] = settings.beta.weight(self.epoch, self.epochs)
            out[group] = entry
        return out
