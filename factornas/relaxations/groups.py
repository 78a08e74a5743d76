"""Each searched group's relaxation and stabilizers, with their schedules' current values.

:class:`~factornas.supernet.arch.ArchitectureParameters` holds one :class:`GroupRelaxations`;
a group without an entry is relaxed by a plain softmax, so a supernet built without a search
config (tests, notebooks) behaves as DARTS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from factornas.relaxations.base import Relaxation
from factornas.relaxations.softmax import Softmax
from factornas.relaxations.stabilizer import Adversary, Stabilizer


@dataclass
class GroupRelaxation:
    """One group's relaxation and stabilizers."""

    relaxation: Relaxation
    stabilizers: list[Stabilizer] = field(default_factory=list)


class GroupRelaxations:
    """Group name → :class:`GroupRelaxation`, plus the epoch's schedule values."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupRelaxation] = {}
        self._default = GroupRelaxation(Softmax())
        self.epoch, self.epochs = 0, 1
        #: True during the weight step: stabilizers perturb the weights only then.
        self.perturbing = False
        #: Weights that replace a (cell type, group)'s relaxed weights in every forward pass
        #: while set: SDARTS-ADV's attack iterates, then its perturbed weights for the weight
        #: step (:func:`factornas.search.adversarial.attack`).
        self.overrides: dict[tuple[str, str], torch.Tensor] = {}

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
        override = self.overrides.get((cell_type, group))
        if override is not None:
            return override
        settings = self[group]
        w = settings.relaxation.weights(param, training)
        if self.perturbing and training:
            for stabilizer in settings.stabilizers:
                w = stabilizer.perturb(w, self.epoch, self.epochs)
        return w

    def adversaries(self) -> dict[str, Adversary]:
        """Group → this epoch's adversarial perturbation, for groups whose stabilizers ask
        for one (SDARTS-ADV)."""
        out = {}
        for group, settings in self.groups.items():
            for stabilizer in settings.stabilizers:
                adversary = stabilizer.adversary(self.epoch, self.epochs)
                if adversary is not None:
                    out[group] = adversary
        return out

    def strengths(self, group: str, param: torch.Tensor) -> torch.Tensor:
        return self[group].relaxation.strengths(param)

    def loss(self, group: str, params: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """The group's terms of the validation loss for its ``params`` of every cell type."""
        settings = self[group]
        total = settings.relaxation.loss(params)
        for stabilizer in settings.stabilizers:
            term = stabilizer.loss(params, self.epoch, self.epochs)
            if term is not None:
                total = term if total is None else total + term
        return total

    def record(self) -> dict[str, dict[str, Any]]:
        """Per group with a non-default setting: its relaxation and schedule values."""
        out: dict[str, dict[str, Any]] = {}
        for group, settings in self.groups.items():
            entry: dict[str, Any] = {"relaxation": settings.relaxation.name}
            entry.update(settings.relaxation.record())
            for stabilizer in settings.stabilizers:
                entry.update(stabilizer.record(self.epoch, self.epochs))
            out[group] = entry
        return out
