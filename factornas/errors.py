"""Errors a user can cause, each carrying a one-line, actionable message.

The CLI catches :class:`FactorNASError` and prints ``error: <message>`` with exit status 2,
so every message must name the offending thing and say what to do about it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
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


class InputError(FactorNASError, ValueError):
    """A file or value a user gave holds something no reader of ours expected."""


#: What parsing and validating hostile content can raise besides our own errors: deep nesting
#: (RecursionError), integers past C's range or Python's digit limit (OverflowError,
#: ValueError), wrong shapes (TypeError, KeyError, IndexError, AttributeError), bad bytes.
HOSTILE_INPUT: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
    OverflowError,
    UnicodeError,
)


def _reason(error: BaseException) -> str:
    """A few words on why a reader failed: the exception's first line, or its type."""
    text = str(error).strip().splitlines()
    detail = text[0][:200] if text else ""
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


@contextlib.contextmanager
def reading(source: object, what: str) -> Iterator[None]:
    """The one guard around every reader of a user's input: whatever the content makes the
    parser or validator raise becomes one :class:`InputError` line naming ``source`` (a path,
    or a flag) and ``what`` it was read as. Our own errors pass unchanged; a pydantic error is
    worded by :func:`first_problem`."""
    try:
        yield
    except FactorNASError:
        raise
    except HOSTILE_INPUT as error:
        from pydantic import ValidationError

        if isinstance(error, ValidationError):
            where, message = first_problem(error, "top level")
            raise InputError(f"{source} is not a valid {what} at {where}: {message}") from None
        raise InputError(
            f"{source} cannot be read as {what} ({_reason(error)}): fix or replace it"
        ) from None
