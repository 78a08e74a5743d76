"""The stabilizer abstraction: what else acts on one factor group's weights besides its
relaxation, registered by name like a relaxation.

SDARTS perturbs the weights the weight step trains at; β-DARTS adds a term to the validation
loss. A :class:`Stabilizer` may do either (or both) through three hooks, each a pure function
of the epoch, so resuming needs no state of its own:

* :meth:`Stabilizer.perturb` — the weights the *weight* step mixes with (training mode);
* :meth:`Stabilizer.loss` — its term of the validation loss the group steps on, from the
  group's parameters of every cell type;
* :meth:`Stabilizer.adversary` — settings for an adversarial perturbation that the search
  computes right before each weight step (SDARTS-ADV, :mod:`factornas.search.adversarial`).

A new stabilizer is one subclass with a name and its pydantic ``Options``, registered with
:func:`register_stabilizer`; a level lists it under ``stabilizers``.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import BaseModel

from factornas.errors import RegistryError
from factornas.registry import Registry
from factornas.relaxations.base import NoOptions, validated_options


@dataclass(frozen=True)
class Adversary:
    """One epoch's adversarial perturbation: within ``radius`` of the clean weights, ``steps``
    projected sign-gradient ascent steps of ``step`` each."""

    radius: float
    steps: int
    step: float


class Stabilizer(ABC):
    """One group's stabilizer, built from its validated options."""

    #: The name a level's ``stabilizers`` selects it by.
    name: ClassVar[str]
    #: Its settings; unknown keys and bad values are refused when the config is validated.
    Options: ClassVar[type[BaseModel]] = NoOptions
    #: It assumes each edge's weights lie on the simplex (it clips and renormalizes them), so a
    #: relaxation whose weights do not, or are sampled one-hot, is refused.
    needs_simplex: ClassVar[bool] = False

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options: Any = options if options is not None else self.Options()

    def perturb(self, weights: torch.Tensor, epoch: int, epochs: int) -> torch.Tensor:
        """The weights the weight step mixes with (``weights`` unchanged by default)."""
        return weights

    def loss(self, params: Sequence[torch.Tensor], epoch: int, epochs: int) -> torch.Tensor | None:
        """Its term of the validation loss for the group's ``params`` (None: no term)."""
        return None

    def adversary(self, epoch: int, epochs: int) -> Adversary | None:
        """An adversarial perturbation to compute before each weight step (None: none)."""
        return None

    def record(self, epoch: int, epochs: int) -> dict[str, float]:
        """Schedule values to report per epoch in ``metrics.jsonl``."""
        return {}


STABILIZERS: Registry[type[Stabilizer]] = Registry("stabilizer")


def register_stabilizer(cls: type[Stabilizer]) -> type[Stabilizer]:
    """Register ``cls`` under ``cls.name`` (usable as a decorator); a taken name is refused."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise RegistryError(f"stabilizer {cls.__name__}: set `name` to letters, digits and _")
    return STABILIZERS.add(name, cls)


def stabilizer_class(name: str) -> type[Stabilizer]:
    return STABILIZERS.get(name)


def build_stabilizer(name: str, options: Mapping[str, Any] | None = None) -> Stabilizer:
    """The stabilizer ``name`` with ``options`` validated by its own ``Options`` model."""
    cls = stabilizer_class(name)
    return cls(validated_options("stabilizer", name, cls.Options, options))
