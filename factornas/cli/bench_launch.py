"""``bench compare``'s launcher flags (``--launcher local|ray|slurm`` and each one's options),
and the launcher they give (:mod:`factornas.bench.launchers`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from factornas.bench.launchers.launcher import Launcher
from factornas.bench.launchers.local import LocalLauncher
from factornas.bench.launchers.ray import RayLauncher
from factornas.bench.launchers.slurm import (
    JOBS_RECORD,
    SlurmLauncher,
    SlurmOptions,
    parse_slurm_time,
)
from factornas.cli.bench_arguments import at_least
from factornas.errors import FactorNASError

LAUNCHERS = ("local", "ray", "slurm")
#: submitit's folder (job scripts, pickles, logs) under ``--out`` unless ``--slurm-folder``.
SLURM_FOLDER = "slurm"


def add_launch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the launcher group to ``bench compare``'s parser."""
    group = parser.add_argument_group(
        "launcher", "where the (arm, seed) pairs run (docs/benchmarks.md, Launchers)"
    )
    group.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default="local",
        help="local: this machine, --jobs at once (default); ray: one Ray task per pair "
        "(extra [ray]); slurm: one SLURM job per pair, an array (extra [slurm])",
    )
    group.add_argument(
        "--ray-address",
        help="ray: the cluster to connect to (e.g. ray://head:10001 or auto); default: the one "
        "RAY_ADDRESS names, else a Ray started here for the comparison",
    )
    group.add_argument(
        "--cpus-per-job",
        type=at_least(1),
        help="ray, slurm: CPUs reserved for each pair (default: --threads)",
    )
    group.add_argument(
        "--gpus-per-job",
        type=at_least(0),
        help="ray, slurm: GPUs reserved for each pair (default 1 with --device cuda, else 0)",
    )
    group.add_argument("--slurm-partition", help="slurm: the partition (default: the cluster's)")
    group.add_argument(
        "--slurm-time",
        help="slurm: each pair's time limit, minutes (90) or H:MM:SS; required with slurm",
    )
    group.add_argument(
        "--slurm-folder",
        type=Path,
        help=f"slurm: submitit's job scripts and logs (default OUT/{SLURM_FOLDER})",
    )
    group.add_argument(
        "--slurm-cluster",
        choices=("slurm", "local"),
        help="slurm: where submitit sends the jobs: slurm (sbatch, the default) or local (this "
        "machine, the same path short of sbatch: a rehearsal)",
    )
    group.add_argument(
        "--wait",
        action="store_true",
        help="slurm: wait for the jobs and report (default: submit and return; the same "
        "command run later collects what finished)",
    )


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse a launcher's flags given to another, rather than ignore them."""
    ray_only = {"--ray-address": args.ray_address}
    slurm_only = {
        "--slurm-partition": args.slurm_partition,
        "--slurm-time": args.slurm_time,
        "--slurm-folder": args.slurm_folder,
        "--slurm-cluster": args.slurm_cluster,
        "--wait": args.wait or None,
    }
    cluster = {"--cpus-per-job": args.cpus_per_job, "--gpus-per-job": args.gpus_per_job}
    given = {
        "local": {**ray_only, **slurm_only, **cluster},
        "ray": slurm_only,
        "slurm": ray_only,
    }[args.launcher]
    misplaced = [flag for flag, value in given.items() if value is not None]
    if misplaced:
        raise FactorNASError(
            f"{', '.join(misplaced)} {'does' if len(misplaced) == 1 else 'do'} not apply to "
            f"--launcher {args.launcher} (docs/benchmarks.md, Launchers)"
        )


def launcher_from_args(args: argparse.Namespace, threads: int, device: str, out: Path) -> Launcher:
    """The launcher the flags name, its resources defaulted from the runs' ``threads`` and
    ``device``."""
    _check_flags(args)
    if args.launcher == "local":
        return LocalLauncher(jobs=args.jobs or 1)
    cpus = args.cpus_per_job if args.cpus_per_job is not None else threads
    gpus = args.gpus_per_job
    if gpus is None:
        gpus = 1 if device.startswith("cuda") else 0
    if args.launcher == "ray":
        return RayLauncher(
            address=args.ray_address, cpus_per_job=cpus, gpus_per_job=gpus, jobs=args.jobs
        )
    if args.slurm_time is None:
        raise FactorNASError(
            "--launcher slurm needs --slurm-time (each pair's time limit, e.g. 90 or 1:30:00)"
        )
    options = SlurmOptions(
        partition=args.slurm_partition,
        minutes=parse_slurm_time(args.slurm_time),
        folder=args.slurm_folder if args.slurm_folder is not None else out / SLURM_FOLDER,
        gpus_per_job=gpus,
        cpus_per_job=cpus,
        jobs=args.jobs,
        cluster=args.slurm_cluster or "slurm",
    )
    return SlurmLauncher(options, record=out / JOBS_RECORD, wait=args.wait)
