"""Command-line argument types shared by the ``factornas bench`` subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers ≥ ``minimum``, refusing others in one line."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {minimum}, got {text}")
        return value

    return parse
