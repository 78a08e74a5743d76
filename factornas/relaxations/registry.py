"""Relaxations registered by name, as factor groups are: a search config selects one per group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from factornas.errors import RegistryError
from factornas.relaxations.base import Relaxation

_RELAXATIONS: dict[str, type[Relaxation]] = {}


def register_relaxation(cls: type[Relaxation]) -> type[Relaxation]:
    """Register ``cls`` under ``cls.name`` (usable as a decorator); a taken name is refused."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise RegistryError(f"relaxation {cls.__name__}: set `name` to letters, digits and _")
    if name in _RELAXATIONS:
        taken = _RELAXATIONS[name]
        raise RegistryError(
            f"a relaxation named {name!r} is already registered "
            f"({taken.__module__}.{taken.__qualname__}): pick another name"
        )
    _RELAXATIONS[name] = cls
    return cls


def unregister_relaxation(name: str) -> None:
    """Remove a registered relaxation (tests and notebooks re-registering one)."""
    _RELAXATIONS.pop(name, None)


def relaxation_names() -> tuple[str, ...]:
    return tuple(_RELAXATIONS)


def relaxation_class(name: str) -> type[Relaxation]:
    try:
        return _RELAXATIONS[name]
    except KeyError:
        raise RegistryError(
            f"unknown relaxation {name!r}; registered: {', '.join(_RELAXATIONS)}"
        ) from None


def build_relaxation(name: str, options: Mapping[str, Any] | None = None) -> Relaxation:
    """The relaxation ``name`` with ``options`` validated by its own ``Options`` model."""
    cls = relaxation_class(name)
    try:
        validated = cls.Options.model_validate(dict(options or {}))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in error.errors()
        )
        raise RegistryError(f"options of relaxation {name!r}: {problems}") from None
    return cls(validated)
