"""``factornas`` command line: one subcommand per module in this package.

Every subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``handler``. User errors (:class:`FactorNASError`) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except FactorNASError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
