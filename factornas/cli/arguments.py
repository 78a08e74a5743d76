"""Argument types shared by the subcommands: numbers refused in argparse's one line, before a
value reaches a network that would take it literally (``space --channels -1`` used to reach a
convolution)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {low} to {high}, got {text}"
            )
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse
