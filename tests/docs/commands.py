"""The ``factornas`` command lines of shell text (a page's ```bash blocks, a script), and the
check that the CLI's own parser takes one: a misspelt flag or subcommand fails a test."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

import pytest

from factornas.cli import build_parser

#: Words that may stand before ``factornas`` on a command line: ``exec factornas``,
#: ``python -m factornas``, ``torchrun --nproc_per_node=8 -m factornas``.
_LAUNCHERS = frozenset({"exec", "python", "python3", "torchrun", "-m"})
_OPERATORS = frozenset({"&&", "||", ";", "|"})
_REDIRECTS = frozenset({">", ">>", "<", "2>", "2>>", "&>"})


def commands(shell: str) -> Iterator[list[str]]:
    """The arguments of every ``factornas`` command in shell text (continuation lines joined,
    comments, redirections and the commands chained before and after it left out)."""
    for line in shell.replace("\\\n", " ").splitlines():
        if not re.search(r"(^|\s)factornas\s", line):
            continue
        command: list[str] = []
        for word in [*shlex.split(line, comments=True), ";"]:
            if word not in _OPERATORS:
                command.append(word)
                continue
            arguments = _factornas_arguments(command)
            if arguments is not None:
                yield arguments
            command = []


def _factornas_arguments(words: list[str]) -> list[str] | None:
    if "factornas" not in words:
        return None
    start = words.index("factornas")
    launchers = words[:start]
    if not all(w in _LAUNCHERS or w.startswith("--") or "=" in w for w in launchers):
        return None  # factornas as an argument of another program (pip install factornas)
    arguments, skip_next = [], False
    for word in words[start + 1 :]:
        if skip_next:
            skip_next = False
        elif word in _REDIRECTS:
            skip_next = True
        elif not re.match(r"^\d?>", word):
            arguments.append(word)
    return arguments


def parse_command(arguments: list[str]) -> None:
    """Parse one command line with the CLI's parser; its refusal becomes a test failure."""
    try:
        build_parser().parse_args(arguments)
    except SystemExit as exit_:
        if exit_.code != 0:
            pytest.fail(f"factornas {' '.join(arguments)}: the CLI refuses it")
