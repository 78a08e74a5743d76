"""Relaxations registered by name, as factor groups are: a search config selects one per group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from factornas.errors import RegistryError
from factornas.registry import Registry
from factornas.relaxations.base import Relaxation, validated_options

#: Relaxations by name; each registers itself with :func:`register_relaxation`.
RELAXATIONS: Registry[type[Relaxation]] = Registry("relaxation")


def register_relaxation(cls: type[Relaxation]) -> type[Relaxation]:
    """Register ``cls`` under ``cls.name`` (usable as a decorator); a taken name is refused."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise RegistryError(f"relaxation {cls.__name__}: set `name` to letters, digits and _")
    return RELAXATIONS.add(name, cls)


def unregister_relaxation(name: str) -> None:
    """Remove a registered relaxation (tests and notebooks re-registering one)."""
    if name in RELAXATIONS:
        RELAXATIONS.remove(name)


def relaxation_names() -> tuple[str, ...]:
    return RELAXATIONS.names()


def relaxation_class(name: str) -> type[Relaxation]:
    return RELAXATIONS.get(name)


def build_relaxation(name: str, options: Mapping[str, Any] | None = None) -> Relaxation:
    """The relaxation ``name`` with ``options`` validated by its own ``Options`` model."""
    cls = relaxation_class(name)
    return cls(validated_options("relaxation", name, cls.Options, options))
