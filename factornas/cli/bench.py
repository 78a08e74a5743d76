"""``factornas bench``: benchmarks comparing search spaces; each benchmark is a sub-subcommand
that registers itself on the ``bench`` parser (:mod:`factornas.cli.bench_compare`,
:mod:`factornas.cli.bench_cost`), running the harness of :mod:`factornas.bench`."""

from __future__ import annotations

import argparse

from factornas.cli.bench_compare import register_compare
from factornas.cli.bench_cost import register_cost


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="compare search spaces: cost, accuracy, stability")
    benches = parser.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    register_compare(benches)
    register_cost(benches)
