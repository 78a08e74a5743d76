"""One registration pattern for everything a user can add: factor groups, relaxations,
stabilizers, datasets and presets (space, search, retraining, published genotypes).

An entry registers beside its definition (a decorator, as timm's ``register_model``), so
adding one is one file or one plug-in; a second entry under a taken name is refused in one
line naming both (a silently shadowed entry would never run: Archai's op registry did that);
and an unknown name lists the registered ones, which is also where the CLI's choices and help
texts come from. Entries keep their registration order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from factornas.errors import RegistryError

T = TypeVar("T")
E = TypeVar("E")


def _where(entry: object) -> str:
    """Where an entry was defined, for a duplicate's message (empty when unknown)."""
    module = getattr(entry, "__module__", None)
    qualname = getattr(entry, "__qualname__", None)
    if module is None or qualname is None:
        return ""
    return f" ({module}.{qualname})"


class Registry(Generic[T]):
    """Names → entries of one kind (e.g. ``"search preset"``).

    ``unknown`` is the error an unknown name raises (a one-line ``FactorNASError`` subclass);
    duplicates always raise :class:`~factornas.errors.RegistryError`.
    """

    def __init__(self, kind: str, *, unknown: type[Exception] = RegistryError) -> None:
        self.kind = kind
        self._unknown = unknown
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; returns it."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._entries:
            raise RegistryError(
                f"a {self.kind} named {name!r} is already registered"
                f"{_where(self._entries[name])}: pick another name, or unregister the old one"
            )
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[E], E]:
        """A decorator registering what it decorates under ``name``, unchanged."""

        def decorate(entry: E) -> E:
            self.add(name, entry)  # type: ignore[arg-type]
            return entry

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            choices = ", ".join(self._entries) or "(none)"
            raise self._unknown(f"unknown {self.kind} {name!r}; choose one of: {choices}") from None

    def remove(self, name: str) -> T:
        """Unregister ``name`` (tests and notebooks that redefine an entry)."""
        entry = self.get(name)
        del self._entries[name]
        return entry

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
