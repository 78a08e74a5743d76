"""Reading the code out of a Markdown page: its fenced blocks and the marks that exempt a block
from running.

A block is exempt from running only when the line right above its fence says so and why,
``<!-- not run: needs a GPU -->``: an HTML comment, which a rendered page does not show.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>\S*)\s*$")
_MARK = re.compile(r"^\s*<!--\s*not run\b(?P<rest>.*?)-->\s*$")
_ANY_MARK = re.compile(r"<!--\s*not run\b")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, the page line of its first code line, its code,
    and the reason of its ``not run`` mark (``None``: unmarked; ``""``: marked, no reason)."""

    lang: str
    line: int
    code: str
    not_run: str | None


def blocks(text: str) -> Iterator[Block]:
    """Every fenced block of a page, in page order (unlabelled ones with lang ``""``)."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        mark = _MARK.match(lines[index - 1]) if index else None
        end = index + 1
        while end < len(lines) and not _closes(lines[end]):
            end += 1
        if end == len(lines):
            raise ValueError(f"line {index + 1}: a code block that is never closed")
        code = "\n".join(line.removeprefix(opening["indent"]) for line in lines[index + 1 : end])
        not_run = None if mark is None else mark["rest"].strip().removeprefix(":").strip()
        yield Block(opening["lang"], index + 2, code + "\n", not_run)
        index = end + 1


def _closes(line: str) -> bool:
    fence = _FENCE.match(line)
    return fence is not None and not fence["lang"]


def _opens(line: str) -> bool:
    fence = _FENCE.match(line)
    return fence is not None and bool(fence["lang"])


def stray_marks(text: str) -> list[int]:
    """Lines of ``not run`` marks that do not stand right above a block's fence."""
    lines = text.splitlines()
    return [
        number
        for number, line in enumerate(lines, 1)
        if _ANY_MARK.search(line)
        and (_MARK.match(line) is None or number == len(lines) or not _opens(lines[number]))
    ]


def pages(root: Path) -> list[Path]:
    """The pages whose code must run: the README and every page under docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]
