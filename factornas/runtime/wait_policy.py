"""OpenMP's passive wait policy for the ``factornas`` command, set before torch loads.

torch runs its CPU operators on OpenMP threads (GNU libgomp in the Linux wheels). A thread that
finishes its share of an operator spins for a while, waiting for the next one, unless
``OMP_WAIT_POLICY=PASSIVE`` makes it sleep. On an idle machine the spin saves a wake-up; on a
machine whose cores other processes use too, the spinning threads take the cores from the
threads that have work, and a step can take ten times longer (``tests/conftest.py``). libgomp
reads the variable once, when it is loaded with torch: set after ``import torch`` it changes
nothing (checked: an ``ACTIVE`` policy set after the import burns no CPU while the process
sleeps, set before it does).

``factornas/__init__.py`` imports this module before anything imports torch. It sets the policy
for the command line only (the ``factornas`` script, ``python -m factornas``), never over a
policy the environment already sets (``OMP_WAIT_POLICY=ACTIVE factornas search …`` spins), and
not when torch is already loaded; a script importing factornas keeps OpenMP's default, which it
can set itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

VARIABLE = "OMP_WAIT_POLICY"
COMMAND_LINE_POLICY = "PASSIVE"
#: The interpreter's options that take the next argument as their value.
_OPTIONS_WITH_VALUE = ("-W", "-X", "--check-hash-based-pycs")


def launched_module(argv: Sequence[str]) -> str | None:
    """The module of an interpreter command line ``python [options] -m MODULE [args]``
    (``sys.orig_argv``), ``None`` for a script, ``-c`` or an interactive interpreter."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, None)
        if arg.startswith("-m"):
            return arg[2:]
        if arg in _OPTIONS_WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-") or arg == "-" or arg.startswith("-c"):
            return None
    return None


def is_command_line(argv: Sequence[str], orig_argv: Sequence[str]) -> bool:
    """Whether this process is the ``factornas`` command: its script, or ``-m factornas``."""
    script = Path(argv[0]).stem if argv else ""
    return script == "factornas" or launched_module(orig_argv) == "factornas"


def prefer_passive() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for the command line, where it still takes effect."""
    if VARIABLE in os.environ or "torch" in sys.modules:
        return
    if is_command_line(sys.argv, getattr(sys, "orig_argv", sys.argv)):
        os.environ[VARIABLE] = COMMAND_LINE_POLICY


prefer_passive()
