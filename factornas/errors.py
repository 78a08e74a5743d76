"""Errors a user can cause, each carrying a one-line, actionable message.

The CLI catches :class:`FactorNASError` and prints ``error: <message>`` with exit status 2,
so every message must name the offending thing and say what to do about it.
"""

from __future__ import annotations


class FactorNASError(Exception):
    """Base class of every user-facing error in factornas."""


class RegistryError(FactorNASError, KeyError):
    """A factor group or candidate name is unknown, duplicated or unusable."""

    def __str__(self) -> str:
        # KeyError quotes its message; a user-facing error must read as plain text.
        return str(self.args[0]) if self.args else ""


class SpaceError(FactorNASError, ValueError):
    """A search-space definition is inconsistent."""


class GenotypeError(FactorNASError, ValueError):
    """A genotype file or string cannot be read."""
