"""``factornas`` command line: one subcommand per module in this package.

Every subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``handler``. User errors (:class:`FactorNASError`) become one line on stderr and exit status 2,
and so do the operating system's refusals (a path that is not a directory, no permission, a
full disk) and running out of memory: those are the user's to fix too, and a traceback only
hides the path at fault. Anything else is a bug of ours: one line saying so, exit status 1,
and the traceback with ``FACTORNAS_TRACEBACK=1``.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from factornas.cli import bench as bench_cmd
from factornas.cli import export as export_cmd
from factornas.cli import info as info_cmd
from factornas.cli import search as search_cmd
from factornas.cli import show as show_cmd
from factornas.cli import space as space_cmd
from factornas.cli import train as train_cmd
from factornas.errors import FactorNASError
from factornas.runtime.owned import COMMAND

SUBCOMMANDS = (space_cmd, search_cmd, show_cmd, train_cmd, info_cmd, export_cmd, bench_cmd)


class OneLineParser(argparse.ArgumentParser):
    """argparse's refusals as every other refusal: one ``error:`` line and exit status 2 (its
    own print the whole usage first, which buries the line that says what is wrong). The
    subcommands' parsers are of this class too (``add_subparsers`` takes the parent's)."""

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # argparse drops a lone "--" value (``--channels=--``) and hands the action an empty
        # list instead of refusing: refuse it as a missing value.
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: expected one argument")
        return super()._get_values(action, arg_strings)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (`{self.prog} --help` lists the flags)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="factornas",
        description="Differentiable NAS over factorized search spaces (A-DARTS).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def os_error_line(error: OSError) -> str:
    """``<path>: <reason>`` for an operating-system error, with what to do for the usual ones."""
    where = error.filename if error.filename is not None else "a file"
    reason = error.strerror or str(error)
    advice = {
        errno.ENOSPC: "free some space and rerun (the run resumes from its last checkpoint)",
        errno.EDQUOT: "free some space and rerun (the run resumes from its last checkpoint)",
        errno.EACCES: "choose a path you may write to",
        errno.EROFS: "choose a path you may write to",
        errno.ENOTDIR: "a part of the path is a file, not a directory",
    }.get(error.errno or 0)
    return f"{where}: {reason}" + (f": {advice}" if advice else "")


#: Set (to anything) to see the traceback of an internal error instead of its one line.
TRACEBACK_ENV = "FACTORNAS_TRACEBACK"
MEMORY_LINE = (
    "out of memory: lower --batch-size, --channels or --layers (a search also takes "
    "--subset), or run on a machine with more memory"
)


def _out_of_memory(error: Exception) -> bool:
    """Python's MemoryError, or torch's allocators' RuntimeError (CPU) or OutOfMemoryError."""
    text = str(error)
    return (
        isinstance(error, MemoryError)
        or type(error).__name__ == "OutOfMemoryError"
        or (
            isinstance(error, RuntimeError)
            and ("not enough memory" in text or "can't allocate memory" in text)
        )
    )


def internal_error_line(error: Exception) -> str:
    """An error no guard of ours expected, which is a bug of factornas rather than the user's:
    said so, with how to get the traceback for a report, in one line (exit status 1)."""
    detail = str(error).strip().splitlines()
    what = f"{type(error).__name__}: {detail[0][:200]}" if detail else type(error).__name__
    return (
        f"internal error ({what}): this is a bug in factornas; rerun with {TRACEBACK_ENV}=1 "
        "for the traceback, and please report it"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    given = tuple(sys.argv[1:] if argv is None else argv)
    COMMAND.set(("factornas", *given))  # what a run directory's marker records
    try:
        return int(args.handler(args) or 0)
    except FactorNASError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {os_error_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # past every reader's guard: ours to fix, said in one line
        if _out_of_memory(error):
            print(f"error: {MEMORY_LINE}", file=sys.stderr)
            return 2
        if os.environ.get(TRACEBACK_ENV):
            raise
        print(f"error: {internal_error_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
