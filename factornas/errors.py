"""Errors a user can cause, each carrying a one-line, actionable message.

The CLI catches :class:`FactorNASError` and prints ``error: <message>`` with exit status 2,
so every message must name the offending thing and say what to do about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class FactorNASError(Exception):
    """Base class of every user-facing error in factornas."""


def first_problem(error: ValidationError, default: str) -> tuple[str, str]:
    """Where pydantic's first complaint points (dotted field path, ``default`` at the top) and
    what it says: enough for a one-line message."""
    first = error.errors()[0]
    return ".".join(str(p) for p in first["loc"]) or default, first["msg"]


class _PlainKeyError(FactorNASError, KeyError):
    """A KeyError whose message reads as plain text (KeyError quotes it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RegistryError(_PlainKeyError):
    """A factor group or candidate name is unknown, duplicated or unusable."""


class UnknownNameError(_PlainKeyError):
    """A preset, recipe or published genotype name that does not exist."""


class SpaceError(FactorNASError, ValueError):
    """A search-space definition is inconsistent."""


class GenotypeError(FactorNASError, ValueError):
    """A genotype file or string cannot be read."""


class DerivationError(FactorNASError):
    """A discrete architecture cannot be read off the architecture weights by the chosen rule."""
