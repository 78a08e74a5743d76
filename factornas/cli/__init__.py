"""``factornas`` command line: one subcommand per module in this package.

Every subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``handler``. User errors (:class:`FactorNASError`) become one line on stderr and exit status 2,
and so do the operating system's refusals (a path that is not a directory, no permission, a
full disk): those are the user's to fix too, and a traceback only hides the path at fault.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from factornas.cli import bench as bench_cmd
from factornas.cli import export as export_cmd
from factornas.cli import info as info_cmd
from factornas.cli import search as search_cmd
from factornas.cli import show as show_cmd
from factornas.cli import space as space_cmd
from factornas.cli import train as train_cmd
from factornas.errors import FactorNASError

SUBCOMMANDS = (space_cmd, search_cmd, show_cmd, train_cmd, info_cmd, export_cmd, bench_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
