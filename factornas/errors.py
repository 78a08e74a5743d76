"""Errors a user can cause, each carrying a one-line, actionable message.

The CLI catches :class:`FactorNASError` and prints ``error: <message>`` with exit status 2,
so every message must name the offending thing and say what to do about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class FactorNASError(Exception):
    """Base class of every user-facing error in factornas."""


def problem_text(problem: Mapping[str, Any]) -> str:
    """What one of pydantic's complaints says, in our words: an unknown key says how to list
    the known ones, and a validator's message loses pydantic's ``Value error, `` prefix."""
    if problem["type"] == "extra_forbidden":
        return "unknown setting (`--print-config` lists every setting)"
    return str(problem["msg"]).removeprefix("Value error, ")


def first_problem(error: ValidationError, default: str) -> tuple[str, str]:
    """Where pydantic's first complaint points (dotted field path, ``default`` at the top) and
    what it says (:func:`problem_text`): the one formatter of a validation error as one line,
    used by every reader of a user's config, genotype or flags."""
    first = error.errors()[0]
    return ".".join(str(p) for p in first["loc"]) or default, problem_text(first)


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
