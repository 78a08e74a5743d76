"""The registry of factor groups, the two built-in groups of the paper, and the two
factorizations its conclusion proposes (normalization; conv type × kernel size).

A space names its groups; the registry resolves the names. Registering a name twice is an
error (a silently shadowed op would never run), and every lookup failure lists what exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar, cast

from factornas.errors import RegistryError
from factornas.factors import ops
from factornas.factors.activations import PAPER_ACTIVATIONS
from factornas.factors.base import Candidate, FactorGroup, Placement
from factornas.factors.convs import (
    bare_op_group,
    conv_op_group,
    conv_type_group,
    kernel_size_group,
)
from factornas.factors.norms import normalization_group
from factornas.registry import Registry

G = TypeVar("G", bound=FactorGroup)


class FactorRegistry:
    """A name → :class:`FactorGroup` mapping that refuses duplicates (a
    :class:`~factornas.registry.Registry` whose entries register themselves by their name)."""

    def __init__(self) -> None:
        self._groups: Registry[FactorGroup] = Registry("factor group")

    def register(self, group: G | type[G]) -> G | type[G]:
        """Add a group (an instance, or a class constructible without arguments).

        Usable as a call or as a class decorator; returns its argument unchanged.
        """
        # A class must be constructible without arguments (its __init__ names the group).
        instance = cast(Callable[[], G], group)() if isinstance(group, type) else group
        if not isinstance(instance, FactorGroup):
            raise RegistryError(
                f"{group!r} is not a FactorGroup: subclass factornas.FactorGroup or build one"
            )
        self._groups.add(instance.name, instance)
        return group

    def unregister(self, name: str) -> FactorGroup:
        """Remove and return a group (tests and notebooks redefine groups)."""
        return self._groups.remove(name)

    def get(self, name: str) -> FactorGroup:
        return self._groups.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._groups

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)

    def names(self) -> tuple[str, ...]:
        return self._groups.names()


def darts_op_group(name: str = "op") -> FactorGroup:
    """DARTS's eight working ops; the four convolutions are tagged ``conv`` (parameterized)."""
    conv = frozenset({"conv"})
    group = FactorGroup(name, role="op", description="DARTS working operators (weights α)")
    group.add(Candidate("none", factory=ops.none_op, is_zero=True))
    group.add(Candidate("max_pool_3x3", factory=ops.max_pool_3x3, tags=frozenset({"pool"})))
    group.add(Candidate("avg_pool_3x3", factory=ops.avg_pool_3x3, tags=frozenset({"pool"})))
    group.add(Candidate("skip_connect", factory=ops.skip_connect))
    group.add(Candidate("sep_conv_3x3", factory=ops.sep_conv(3), tags=conv))
    group.add(Candidate("sep_conv_5x5", factory=ops.sep_conv(5), tags=conv))
    group.add(Candidate("dil_conv_3x3", factory=ops.dil_conv(3), tags=conv))
    group.add(Candidate("dil_conv_5x5", factory=ops.dil_conv(5), tags=conv))
    return group


def activation_group(name: str = "activation") -> FactorGroup:
    """The paper's nine activations, in front of every parameterized (``conv``) op (Eq. 3)."""
    from factornas.factors.mixed_activation import ActivationGroup

    return ActivationGroup(name, candidates=PAPER_ACTIVATIONS)


#: The process-wide registry that spaces resolve group names against.
registry = FactorRegistry()
registry.register(darts_op_group())
registry.register(activation_group())
registry.register(bare_op_group())
registry.register(conv_op_group())
registry.register(conv_type_group())
registry.register(kernel_size_group())
registry.register(normalization_group())


def register_group(group: G | type[G]) -> G | type[G]:
    """Register a group in the default registry (call or class decorator)."""
    return registry.register(group)


def get_group(name: str) -> FactorGroup:
    """Look a group up in the default registry."""
    return registry.get(name)


__all__ = [
    "FactorRegistry",
    "Placement",
    "activation_group",
    "darts_op_group",
    "get_group",
    "register_group",
    "registry",
]
