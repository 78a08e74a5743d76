"""``factornas bench compare``: its flags, the settings they give, and what it prints; the
comparison itself is :mod:`factornas.bench.compare`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from factornas.bench.budgets import BUDGETS, SIZE_FLAGS, apply_overrides, describe_flag
from factornas.bench.compare.results import CompareResults
from factornas.bench.compare.run import PendingPairs, run_compare
from factornas.bench.compare.settings import (
    DEFAULT_BASELINES,
    MIN_SEEDS,
    NO_BASELINES,
    QUICK_BASELINES,
    CompareSettings,
    comparable_datasets,
)
from factornas.bench.jobs import default_threads
from factornas.bench.report import summary_table, sweep_table
from factornas.bench.seeds import parse_seeds
from factornas.cli.bench_arguments import at_least, integer_or_all
from factornas.cli.bench_launch import add_launch_arguments, launcher_from_args
from factornas.errors import FactorNASError
from factornas.runtime.cuda_graphs import UNMEASURED
from factornas.runtime.device import pick_device


def register_compare(subparsers: argparse._SubParsersAction) -> None:
    """Add ``compare`` to the ``factornas bench`` subcommands."""
    parser = subparsers.add_parser(
        "compare",
        help="a factorized space vs its flat twin and fixed-factor baselines",
        description=(
            "Search every arm with the same budget on Fashion-MNIST or CIFAR-10 for several "
            "seeds, retrain each derived architecture, and report cost, memory, accuracy, every "
            "arm's difference to the first with a 95 % interval across seeds, and the agreement "
            "of the seeds' genotypes (docs/benchmarks.md). Rerunning the same command resumes."
        ),
    )
    parser.add_argument("--space", required=True, help="a factorized space preset, e.g. adarts")
    parser.add_argument(
        "--baselines",
        help="comma-separated: flat (the flat twin) and GROUP=CANDIDATE or CANDIDATE (a factor "
        f"fixed to one candidate, e.g. relu); default {','.join(DEFAULT_BASELINES)}, "
        f"with the quick budget {','.join(QUICK_BASELINES)}; {NO_BASELINES}: the space alone, "
        "a seed sweep",
    )
    parser.add_argument(
        "--seeds",
        default=str(MIN_SEEDS),
        help=f"a count (3: seeds 0 to 2, the default), a range (0-9) or a list (0,3,7); at "
        f"least {MIN_SEEDS}",
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--budget",
        choices=tuple(BUDGETS),
        help="named search and retraining sizes (default full); docs/benchmarks.md gives each "
        "one's sizes and wall time",
    )
    budget.add_argument(
        "--quick", dest="budget", action="store_const", const="quick", help="--budget quick"
    )
    sizes = parser.add_argument_group("sizes", "override one size of the budget")
    for flag, (_, field) in SIZE_FLAGS.items():
        whole = field.endswith("subset")
        sizes.add_argument(
            f"--{flag}",
            type=integer_or_all if whole else int,
            default=argparse.SUPPRESS,  # absent unless given: None means "all"
            metavar="N|all" if whole else "N",
            help=describe_flag(flag),
        )
    parser.add_argument(
        "--dataset",
        choices=comparable_datasets(),
        default="fashion-mnist",
        help="a registered dataset that loads whole (default fashion-mnist)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (resumes)")
    parser.add_argument("--data", type=Path, help="the dataset's folder (default: usual places)")
    parser.add_argument(
        "--threads",
        type=at_least(1),
        help="torch threads of each run (default 1; with --jobs N, the cores split N ways)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where every search and retraining runs: cpu (default: the harness's timings are "
        "CPU timings), cuda or cuda:N",
    )
    parser.add_argument(
        "--jobs",
        type=at_least(1),
        help="(arm, seed) pairs run at once, each in its own processes (default 1 here; with "
        "ray or slurm, as many as the cluster grants); the results equal --jobs 1's with the "
        "same --threads",
    )
    parser.add_argument(
        "--cuda-graphs",
        action="store_true",
        help=f"replay the runs' steps from CUDA graphs where they allow it ({UNMEASURED})",
    )
    parser.add_argument("--json", action="store_true", help="print results.json to stdout")
    add_launch_arguments(parser)
    parser.set_defaults(handler=run_cli, budget="full")


#: Exit statuses of ``bench compare`` beyond the CLI's (0 done, 2 a refusal): some pairs
#: failed (their numbers are left out), every pair failed (2, as nothing was measured).
SOME_FAILED, ALL_FAILED = 3, 2


def _baselines(args: argparse.Namespace) -> tuple[str, ...]:
    if args.baselines is None:
        return QUICK_BASELINES if args.budget == "quick" else DEFAULT_BASELINES
    if args.baselines.strip() == NO_BASELINES:
        return ()
    return tuple(t.strip() for t in args.baselines.split(",") if t.strip())


def settings_from_args(args: argparse.Namespace) -> CompareSettings:
    seeds = parse_seeds(args.seeds)
    if len(seeds) < MIN_SEEDS:
        raise FactorNASError(
            f"--seeds {args.seeds}: the comparison needs at least {MIN_SEEDS} seeds per arm "
            "for a standard deviation and a pairwise agreement worth reading"
        )
    baselines = _baselines(args)
    given = vars(args)
    overrides = {
        flag: given[flag.replace("-", "_")]
        for flag in SIZE_FLAGS
        if flag.replace("-", "_") in given
    }
    return CompareSettings(
        space=args.space,
        baselines=baselines,
        seeds=seeds,
        sizes=apply_overrides(BUDGETS[args.budget], overrides),
        budget=args.budget,
        dataset=args.dataset,
        data=args.data.resolve() if args.data is not None else None,
        threads=args.threads if args.threads is not None else default_threads(jobs_here(args)),
        device=str(pick_device(args.device)),  # refused here, before any run, if unusable
        cuda_graphs=args.cuda_graphs,
    )


def jobs_here(args: argparse.Namespace) -> int:
    """Pairs at once on one machine, for the default ``--threads``: ``--jobs`` locally, one on
    a cluster's node (each pair gets ``--cpus-per-job`` there)."""
    return (args.jobs or 1) if args.launcher == "local" else 1


def _print_pending(pending: PendingPairs, out: Path, console: Console) -> None:
    console.print(
        f"{pending.finished} of {pending.finished + len(pending.pending)} pairs finished; "
        f"waiting for {len(pending.pending)}: "
        + ", ".join(f"{key} ({state})" for key, state in pending.pending)
        + f". Run the same command again to collect them (nothing is submitted twice); {out}",
        markup=False,
        soft_wrap=True,
    )


def _print_results(results: CompareResults, out: Path, console: Console) -> None:
    console.print(summary_table(results), markup=False, soft_wrap=True)
    if results.sweep is not None and results.sweep.metrics:
        console.print(sweep_table(results.sweep), markup=False, soft_wrap=True)
    for comparison in results.comparisons:
        for metric in comparison.metrics.values():
            console.print(
                f"{metric.label}, {comparison.against} vs {comparison.arm}: {metric.verdict}",
                markup=False,
                soft_wrap=True,
            )
    for failure in results.failures:
        console.print(
            f"failed: {failure.arm} seed {failure.seed}: {failure.error}",
            markup=False,
            soft_wrap=True,
        )
    console.print(f"{results.wall_seconds:.0f} s; report, results.json and figures in {out}")


def exit_status(results: CompareResults) -> int:
    """0 when every pair finished, 3 when some failed, 2 when all did."""
    if not results.failures:
        return 0
    finished = sum(len(arm.runs) for arm in results.arms)
    return ALL_FAILED if finished == 0 else SOME_FAILED


def run_cli(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    launcher = launcher_from_args(args, settings.threads, settings.device, args.out)
    console = Console(stderr=args.json)
    outcome = run_compare(
        settings, args.out, as_json=args.json, log=console.print, launcher=launcher
    )
    if isinstance(outcome, PendingPairs):
        _print_pending(outcome, args.out, console)
        return 0
    if args.json:
        print(json.dumps(outcome.to_json()))
    else:
        _print_results(outcome, args.out, console)
    status = exit_status(outcome)
    if status != 0:
        print(f"error: {_failure_line(outcome)}", file=sys.stderr)
    return status


def _failure_line(results: CompareResults) -> str:
    """The one stderr line of a comparison with failed pairs: what failed, where all of it is
    listed, and that rerunning retries only those (finished runs are reused)."""
    first = results.failures[0]
    pairs = len(results.failures) + sum(len(arm.runs) for arm in results.arms)
    which = (
        "every (arm, seed) pair failed"
        if exit_status(results) == ALL_FAILED
        else f"{len(results.failures)} of {pairs} (arm, seed) pairs failed"
    )
    return (
        f"{which}; the first, {first.arm} seed {first.seed}: {first.error} (report.md lists "
        "each; rerun the same command to retry them)"
    )
