"""Command-line argument types shared by the ``factornas bench`` subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from factornas.bench.budgets import ALL


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers ≥ ``minimum``, refusing others in one line."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {minimum}, got {text}")
        return value

    return parse


def integer_or_all(text: str) -> int | None:
    """An argparse ``type`` for a count that may be ``all`` (None: the whole split); the
    budget's validation checks the range, with the flag's name."""
    if text == ALL:
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or {ALL}, got {text}") from None
