"""The relaxation abstraction: how one factor group's parameters become mixing weights.

DARTS relaxes the categorical choice of a group by a softmax; GDAS samples a one-hot by the
Gumbel trick, DrNAS samples the weights from a Dirichlet, FairDARTS uses independent sigmoids.
A :class:`Relaxation` owns everything that differs between them, so each factor group picks its
own (the op group Gumbel-sampled while the activation group stays a softmax):

* :meth:`Relaxation.weights` — the weights the forward pass mixes with (stochastic ones during
  training), and :attr:`Relaxation.sampled` — whether they are one-hot, so that only the chosen
  path of each edge needs to run;
* :meth:`Relaxation.loss` — its terms added to the validation loss the group steps on, given
  the group's parameters of every cell type at once: how a term aggregates over cell types is
  part of the method (FairDARTS takes one mean over both cell types' weights, DrNAS a sum);
* :meth:`Relaxation.set_epoch` — its schedules (a pure function of the epoch, so resuming needs
  no state of its own);
* :meth:`Relaxation.strengths` — the deterministic weights a genotype is derived from and that
  ``metrics.jsonl`` records.

Every paper constant lives in the relaxation's pydantic :attr:`Relaxation.Options`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from factornas.errors import RegistryError


class NoOptions(BaseModel):
    """A relaxation or stabilizer without settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def validated_options(
    kind: str, name: str, model: type[BaseModel], options: Mapping[str, Any] | None
) -> BaseModel:
    """``options`` of the ``kind`` (relaxation, stabilizer) ``name`` validated by its own
    ``Options`` model; every problem in one line."""
    try:
        return model.model_validate(dict(options or {}))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in error.errors()
        )
        raise RegistryError(f"options of {kind} {name!r}: {problems}") from None


class Relaxation(ABC):
    """One group's relaxation, built from its validated options.

    Subclass it, set :attr:`name` (and :attr:`Options` when it has settings), and register it
    with :func:`factornas.relaxations.registry.register_relaxation`.
    """

    #: The name a search config selects it by.
    name: ClassVar[str]
    #: Its settings; unknown keys and bad values are refused when the config is validated.
    Options: ClassVar[type[BaseModel]] = NoOptions
    #: Forward weights are one-hot per edge: only each edge's chosen op path has to run.
    sampled: ClassVar[bool] = False
    #: Each edge's weights sum to one (a point of the simplex), as SDARTS's smoothing assumes
    #: when it clips and renormalizes them.
    simplex: ClassVar[bool] = True

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options: Any = options if options is not None else self.Options()

    @abstractmethod
    def weights(self, param: torch.Tensor, training: bool) -> torch.Tensor:
        """The ``(rows, n)`` mixing weights of ``param`` (``(rows, n)`` logits or the like)."""

    def strengths(self, param: torch.Tensor) -> torch.Tensor:
        """Deterministic weights to derive a genotype from and to record; by default the
        evaluation-mode forward weights."""
        return self.weights(param, training=False)

    def loss(self, params: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """Its term of the validation loss for the group's ``params``, one ``(rows, n)``
        tensor per cell type that searches the group, in the space's cell-type order (None: no
        term)."""
        return None

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Set its schedules for ``epoch`` of ``epochs`` (0-based); none by default."""
        return None

    def record(self) -> dict[str, float]:
        """Schedule values to report per epoch in ``metrics.jsonl`` (e.g. the temperature)."""
        return {}


def linear(start: float, end: float, epoch: int, epochs: int) -> float:
    """``start`` at epoch 0 to ``end`` at the last epoch, linearly (``start`` for one epoch).

    GDAS anneals its temperature this way (``tau_max − (tau_max − tau_min)·e/(E − 1)``).
    """
    if epochs <= 1:
        return start
    t = epoch / (epochs - 1)
    return start * (1 - t) + end * t  # exact at both ends
