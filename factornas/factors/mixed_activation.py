"""The built-in activation factor group (the paper's β, Eq. 3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn

from factornas.factors.base import Candidate, FactorGroup, Placement


class ActivationGroup(FactorGroup):
    """Activations mixed once per edge in front of every ``conv``-tagged op (Figure 2)."""

    def __init__(
        self,
        name: str = "activation",
        *,
        candidates: Mapping[str, Callable[[int], nn.Module]],
        attach_to: tuple[str, ...] = ("conv",),
    ) -> None:
        super().__init__(
            name,
            placement=Placement.INPUT,
            attach_to=attach_to,
            candidates=(Candidate(n, factory=f) for n, f in candidates.items()),
            description="activation in front of each parameterized op (weights β)",
        )
