"""``factornas bench cost``: its flags, the settings they give, and what it prints; the
measurement itself is :mod:`factornas.bench.cost`."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from factornas.bench.cost import CostSettings, run_cost, summary_table
from factornas.cli.bench_arguments import at_least
from factornas.runtime.cuda_graphs import UNMEASURED
from factornas.runtime.device import pick_device
from factornas.runtime.precision import PRECISIONS


def register_cost(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cost`` to the ``factornas bench`` subcommands."""
    parser = subparsers.add_parser(
        "cost",
        help="seconds and memory of one search step, preset against preset",
        description=(
            "Time the search step (weight step + architecture step, as a search runs it) of each "
            "preset on random images shaped for its stem (32×32, or the ImageNet crop behind the "
            "ImageNet stem), each preset in its own process, and report the "
            "median step time, the peak memory growth and both as ratios to the first preset "
            "(docs/performance.md)."
        ),
    )
    parser.add_argument(
        "--presets", default="darts,adarts,flat40", help="comma-separated search presets"
    )
    parser.add_argument("--channels", type=at_least(1), default=16, help="initial channels (16)")
    parser.add_argument("--layers", type=at_least(3), default=8, help="search cells (8)")
    parser.add_argument("--batch-size", type=at_least(1), default=64, help="batch size (64)")
    parser.add_argument("--steps", type=at_least(1), default=3, help="timed steps per preset (3)")
    parser.add_argument("--warmup", type=at_least(0), default=1, help="untimed steps first (1)")
    parser.add_argument("--schedule", choices=("sequential", "joint"), default="joint")
    parser.add_argument(
        "--rounds",
        type=at_least(1),
        default=1,
        help="spread the timed steps over this many rounds of fresh processes (1)",
    )
    parser.add_argument(
        "--threads", type=at_least(1), default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="where the steps run (default: the GPU if there is one)",
    )
    parser.add_argument(
        "--cuda-graphs",
        action="store_true",
        help=f"replay the steps from CUDA graphs where the preset allows it ({UNMEASURED}; "
        "give --warmup 3 or more so that the timed steps are replays)",
    )
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="fp32", help=f"fp32 or bf16 ({UNMEASURED})"
    )
    parser.add_argument(
        "--cell-execution",
        choices=["auto", "grouped", "per_edge"],
        default="auto",
        help="how cells compute their edges (auto: grouped on a GPU, per edge on a CPU)",
    )
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help=f"the supernet and its inputs in channels-last memory format ({UNMEASURED})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    settings = CostSettings(
        presets=tuple(name.strip() for name in args.presets.split(",") if name.strip()),
        channels=args.channels,
        layers=args.layers,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        schedule=args.schedule,
        rounds=args.rounds,
        threads=args.threads,
        device="cuda" if pick_device(args.device).type == "cuda" else "cpu",
        cuda_graphs=args.cuda_graphs,
        precision=args.precision,
        cell_execution=args.cell_execution,
        channels_last=args.channels_last,
    )
    console = Console(stderr=True)
    report = run_cost(settings, log=console.print)
    if args.json:
        print(json.dumps(report))
    else:
        print_table(summary_table(report))
    return 1 if any("error" in row for row in report["presets"]) else 0


#: Wide enough for any table: only measures, never prints.
_UNBOUNDED = 10_000


def print_table(table: Table) -> None:
    """Print ``table`` to stdout whole. On a terminal rich fits it to the window; off one (a
    log file, a pipe, a batch job) rich assumes 80 columns and would wrap the table's cells,
    so the console is made as wide as the table's natural width there."""
    console = Console()
    if not console.is_terminal:
        natural = Console(width=_UNBOUNDED).measure(table).maximum
        console = Console(width=max(natural, console.width))
    console.print(table)
