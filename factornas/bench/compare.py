"""``factornas bench compare``: a factorized space against its flat twin and fixed-factor
baselines, on the same data (Fashion-MNIST or CIFAR-10) with the same budget
(:mod:`factornas.bench.budgets`), over several seeds.

For every (arm, seed) the harness runs a search and then retrains the derived genotype, each
in its own process (:mod:`factornas.bench.compare_worker`), into ``OUT/runs/<arm>/seed<k>/
{search,retrain}``. Those are ordinary factornas run directories, so a comparison that was
interrupted resumes: finished runs are read back, not redone, and a half-done run continues
from its checkpoint. It then reports per arm the search's per-step cost and peak memory, the
supernet's validation accuracy, the agreement of the genotypes across seeds
(:mod:`factornas.bench.stability`) and the retrained test accuracy, and every arm's accuracy
difference to the first with its interval across seeds (:mod:`factornas.bench.differences`),
as ``report.md``, ``results.json`` and figures (:mod:`factornas.bench.report`).
docs/benchmarks.md explains every number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from factornas.bench.arguments import at_least, integer_or_all
from factornas.bench.arms import FLAT, Arm, build_arms, factor_groups
from factornas.bench.budgets import (
    BUDGETS,
    SIZE_FLAGS,
    BudgetName,
    Sizes,
    apply_overrides,
    budget_of,
    describe_flag,
    format_size,
    overrides_of,
)
from factornas.bench.compare_worker import PROCESS_RECORD
from factornas.bench.differences import compare_arms
from factornas.bench.jobs import default_threads, run_jobs
from factornas.bench.report import render_report, summary_table, write_figures
from factornas.bench.stability import stability
from factornas.data import cifar10, fashion_mnist
from factornas.errors import FactorNASError
from factornas.evaluate.config import RetrainConfig
from factornas.presets.retrain import cifar10_recipe
from factornas.runtime.metrics import read_metrics
from factornas.runtime.rundir import CHECKPOINT, CONFIG, SUMMARY, is_finished
from factornas.search.config import DataConfig, SearchConfig
from factornas.space.genotype import Genotype

#: 2: budgets with overrides, the dataset, and every arm against the first (``comparisons``).
RESULTS_FORMAT = 2
DEFAULT_BASELINES = (FLAT, "relu", "selu")
QUICK_BASELINES = (FLAT,)
#: The design card's minimum: agreement and a standard deviation from fewer seeds mean little.
MIN_SEEDS = 3
DatasetName = Literal["fashion-mnist", "cifar10"]
#: Image channels and classes of each dataset the harness runs on.
DATASETS: dict[DatasetName, tuple[int, int]] = {
    "fashion-mnist": (1, fashion_mnist.NUM_CLASSES),
    "cifar10": (3, cifar10.NUM_CLASSES),
}
LOG = "bench.log"
#: The sizes and dataset of the comparison in OUT, to refuse resuming it with others.
SIZES_RECORD = "bench_sizes.json"
JOB = "bench_job.json"


class CompareSettings(BaseModel):
    """Everything that decides a comparison's runs; equal settings reuse the same runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    space: str
    baselines: tuple[str, ...]
    seeds: int = Field(ge=2, description="≥ 2 to measure agreement; the CLI asks for ≥ 3")
    sizes: Sizes
    budget: BudgetName | None = Field(
        None,
        description="the named budget the sizes start from, for the command line (None: the "
        "one they equal, else full)",
    )
    dataset: DatasetName = "fashion-mnist"
    data: Path | None = Field(None, description="dataset folder (None: the usual places)")
    threads: int = Field(1, gt=0, description="torch intra-op threads of each run")

    @property
    def base_budget(self) -> BudgetName:
        """The named budget the command line starts from; overrides give the rest."""
        return self.budget or budget_of(self.sizes) or "full"

    @property
    def overrides(self) -> dict[str, int | None]:
        """The size flags that turn the base budget into these sizes."""
        return overrides_of(self.sizes, BUDGETS[self.base_budget])

    def command(self, out: Path, *, as_json: bool) -> str:
        """The canonical command line of these settings into ``out``: every size is a budget
        or an override of one, so the command reproduces any sizes exactly."""
        parts = ["factornas", "bench", "compare", "--space", self.space]
        parts += ["--baselines", ",".join(self.baselines), "--seeds", str(self.seeds)]
        parts += ["--budget", self.base_budget]
        for flag, value in self.overrides.items():
            parts += [f"--{flag}", format_size(value)]
        if self.dataset != "fashion-mnist":
            parts += ["--dataset", self.dataset]
        if self.threads != 1:
            parts += ["--threads", str(self.threads)]
        if self.data is not None:
            parts += ["--data", str(self.data)]
        parts += ["--out", str(out)]
        if as_json:
            parts.append("--json")
        return shlex.join(parts)


# -- configs of one (arm, seed) -------------------------------------------------------------------
def search_config(arm: Arm, seed: int, settings: CompareSettings) -> SearchConfig:
    """The paper's search setting (SearchConfig's defaults) at the comparison's budget."""
    size = settings.sizes.search
    return SearchConfig(
        space=arm.space,
        data=DataConfig(dataset=settings.dataset, root=settings.data, subset=size.subset),
        channels=size.channels,
        layers=size.layers,
        epochs=size.epochs,
        batch_size=size.batch_size,
        seed=seed,
    )


def retrain_config(seed: int, inner_group: str | None, settings: CompareSettings) -> RetrainConfig:
    """The paper's CIFAR-10 recipe, shortened to the comparison's budget.

    A few epochs leave nothing for the long-run regularizers to fight, and on 28×28 images a
    16-pixel cutout hides most of the garment: cutout, drop path and the auxiliary head are off,
    on CIFAR-10 too, so that both datasets are retrained by one recipe.
    """
    size = settings.sizes.retrain
    in_channels, num_classes = DATASETS[settings.dataset]
    raw = cifar10_recipe().model_dump()
    raw["network"].update(
        channels=size.channels,
        layers=size.layers,
        num_classes=num_classes,
        in_channels=in_channels,
        auxiliary=False,
        inner_group=inner_group,
    )
    raw["data"].update(
        dataset=settings.dataset,
        root=settings.data,
        subset=size.subset,
        test_subset=size.test_subset,
        cutout=0,
    )
    raw.update(
        epochs=size.epochs,
        batch_size=size.batch_size,
        drop_path=0.0,
        auxiliary_weight=0.0,
        seed=seed,
    )
    return RetrainConfig.model_validate(raw)


# -- running ------------------------------------------------------------------------------------
def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _check_same_run(run_dir: Path, expected: dict[str, Any]) -> None:
    """Refuse a run directory holding a finished or checkpointed run of other settings."""
    started = is_finished(run_dir) or (run_dir / CHECKPOINT).exists()
    if not started or not (run_dir / CONFIG).exists():
        return
    if json.loads((run_dir / CONFIG).read_text()) != _as_json(expected):
        raise FactorNASError(
            f"{run_dir} holds a run of other settings (sizes, data or factornas version): "
            "use another --out, or delete that directory to redo it"
        )


def _sizes_record(settings: CompareSettings) -> dict[str, Any]:
    return {"dataset": settings.dataset, "sizes": settings.sizes.model_dump(mode="json")}


def _check_same_sizes(out: Path, settings: CompareSettings) -> None:
    """Refuse to resume the comparison in ``out`` with other sizes or another dataset, naming
    the flags that differ.

    Every run directory also checks its own config, but only once the loop reaches it: this
    refuses before anything runs, and says which flags to change back.
    """
    path = out / SIZES_RECORD
    if not path.exists():
        return
    before = json.loads(path.read_text())
    sizes_before = Sizes.model_validate(before["sizes"])
    was = overrides_of(sizes_before, settings.sizes)
    changes = [
        f"--{flag} {format_size(value)} (was {format_size(was[flag])})"
        for flag, value in overrides_of(settings.sizes, sizes_before).items()
    ]
    if before["dataset"] != settings.dataset:
        changes.insert(0, f"--dataset {settings.dataset} (was {before['dataset']})")
    if changes:
        raise FactorNASError(
            f"{out} holds a comparison of other sizes: {', '.join(changes)}; resume it with "
            "its own sizes (its report.md gives the command), or use another --out"
        )


def _run_worker(job: dict[str, Any], run_dir: Path, threads: int) -> None:
    """Run one job in a child process, its output appended to ``run_dir/bench.log``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    job_path = run_dir / JOB
    job_path.write_text(json.dumps(job, indent=2) + "\n")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log_path = run_dir / LOG
    with open(log_path, "a") as log:
        code = subprocess.call(
            [sys.executable, "-m", "factornas.bench.compare_worker", str(job_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    if code != 0:
        lines = [ln for ln in log_path.read_text().splitlines() if ln.strip()]
        last = lines[-1] if lines else "(no output)"
        raise FactorNASError(
            f"{job['task']} in {run_dir} failed (exit status {code}): {last} (full log: {log_path})"
        )


def _process_record(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / PROCESS_RECORD
    return json.loads(path.read_text()) if path.exists() else None


def _ensure_run(
    job: dict[str, Any], run_dir: Path, expected_config: dict[str, Any], threads: int
) -> bool:
    """Run the job unless ``run_dir`` already holds it finished; True when it was reused."""
    _check_same_run(run_dir, expected_config)
    if is_finished(run_dir):
        return True
    _run_worker(job, run_dir, threads)
    return False


def _search_result(run_dir: Path, reused: bool, root: Path) -> dict[str, Any]:
    records = read_metrics(run_dir / "metrics.jsonl")
    summary = json.loads((run_dir / SUMMARY).read_text())
    steps = [r["step_seconds"] for r in records if r.get("step_seconds") is not None]
    return {
        "run_dir": str(run_dir.relative_to(root)),
        "reused": reused,
        "epochs": len(records),
        "step_seconds": statistics.median(steps) if steps else None,
        "step_seconds_per_epoch": steps,
        "val_top1": 100.0 * records[-1]["val_acc"],
        "val_top1_per_epoch": [100.0 * r["val_acc"] for r in records],
        "train_top1": 100.0 * records[-1]["train_acc"],
        "skip_connect_in_normal": summary["skip_connect_in_normal"],
        "genotype": summary["genotype"],
        "process": _process_record(run_dir),
    }


def _retrain_result(run_dir: Path, reused: bool, root: Path) -> dict[str, Any]:
    summary = json.loads((run_dir / SUMMARY).read_text())
    return {
        "run_dir": str(run_dir.relative_to(root)),
        "reused": reused,
        "epochs": summary["epochs"],
        "params": summary["params"],
        "test_top1": summary["test_top1"],
        "test_top5": summary["test_top5"],
        "best_test_top1": summary["best_test_top1"],
        "process": _process_record(run_dir),
    }


def run_pair(arm: Arm, seed: int, settings: CompareSettings, out: Path) -> dict[str, Any]:
    """Search and retrain one (arm, seed), reusing whatever is already finished."""
    base = out / "runs" / arm.key / f"seed{seed}"
    search_dir, retrain_dir = base / "search", base / "retrain"
    config = search_config(arm, seed, settings)
    config_json = config.model_dump(mode="json")
    reused_search = _ensure_run(
        {"task": "search", "out": str(search_dir), "threads": settings.threads,
         "config": config_json},
        search_dir,
        config_json,
        settings.threads,
    )  # fmt: skip
    genotype = Genotype.load(search_dir / "genotype.json")
    retrain = retrain_config(seed, arm.space.inner_group, settings)
    expected = {
        "config": retrain.model_dump(mode="json"),
        "genotype": genotype.model_dump(mode="json"),
    }
    reused_retrain = _ensure_run(
        {"task": "retrain", "out": str(retrain_dir), "threads": settings.threads, **expected},
        retrain_dir,
        expected,
        settings.threads,
    )
    return {
        "seed": seed,
        "search": _search_result(search_dir, reused_search, out),
        "retrain": _retrain_result(retrain_dir, reused_retrain, out),
    }


# -- summarizing ---------------------------------------------------------------------------------
def describe(values: list[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (n − 1; 0 for a single value) of ``values``."""
    if not values:
        return {"n": 0, "mean": None, "std": None, "values": []}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"n": len(values), "mean": statistics.fmean(values), "std": std, "values": values}


def _mib(value: int) -> float:
    return value / 2**20


def summarize_arm(arm: Arm, runs: list[dict[str, Any]], groups: tuple[str, ...]) -> dict[str, Any]:
    """Per-arm statistics over seeds, and the agreement of the seeds' genotypes."""
    searches = [r["search"] for r in runs]
    processes = [s["process"] for s in searches if s["process"] is not None]
    genotypes = [Genotype.model_validate(s["genotype"]) for s in searches]
    agreement = stability(genotypes, groups).to_json()
    return {
        "step_seconds": describe(
            [s["step_seconds"] for s in searches if s["step_seconds"] is not None]
        ),
        "peak_rss_mib": describe([_mib(p["peak_rss_bytes"]) for p in processes]),
        "rss_above_start_mib": describe(
            [_mib(p["peak_rss_bytes"] - p["start_rss_bytes"]) for p in processes]
        ),
        "search_wall_seconds": describe([p["wall_seconds"] for p in processes]),
        "search_cpu_seconds": describe([p["cpu_seconds"] for p in processes]),
        "val_top1": describe([s["val_top1"] for s in searches]),
        "test_top1": describe([r["retrain"]["test_top1"] for r in runs]),
        "retrain_params": describe([float(r["retrain"]["params"]) for r in runs]),
        "skip_connect_in_normal": sum(bool(s["skip_connect_in_normal"]) for s in searches),
        "stability": agreement,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def describe_machine(threads: int) -> dict[str, Any]:
    """What a reader needs to compare these timings with theirs (load average included: the
    timings of a busy machine are not those of an idle one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    tuning = {
        k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "OMP_", "MKL_", "KMP_"))
    }
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(affinity(0)) if affinity else os.cpu_count(),
        "memory_gib": _memory_total_gib(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads_per_run": threads,
        "load_average_start": list(os.getloadavg()),
        "environment": tuning,
    }


def run_compare(
    settings: CompareSettings,
    out: str | Path,
    *,
    as_json: bool = False,
    log: Callable[[str], None] = lambda _: None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run (or resume) the whole comparison into ``out``, ``jobs`` (arm, seed) pairs at once
    (:mod:`factornas.bench.jobs`); returns what ``results.json`` holds."""
    started = time.perf_counter()
    out = Path(out)
    arms = build_arms(settings.space, settings.baselines)
    groups = factor_groups(arms[0].space)
    machine = {**describe_machine(settings.threads), "jobs": jobs}
    out.mkdir(parents=True, exist_ok=True)
    _check_same_sizes(out, settings)
    runs: dict[str, list[dict[str, Any]]] = {arm.key: [] for arm in arms}
    # Seed-major (an interrupted run has whole seeds), up to ``jobs`` pairs at once.
    pairs = [(arm, seed) for seed in range(settings.seeds) for arm in arms]
    total = len(pairs)
    done = 0

    def finished(index: int, result: dict[str, Any], seconds: float) -> None:
        nonlocal done
        done += 1
        if done == 1:  # the runs there, if any, have just been found of these sizes
            (out / SIZES_RECORD).write_text(json.dumps(_sizes_record(settings), indent=2))
        arm, seed = pairs[index]
        reused = result["search"]["reused"] and result["retrain"]["reused"]
        log(
            f"[{done}/{total}] {arm.key} seed {seed}: supernet val "
            f"{result['search']['val_top1']:.1f}%, retrained test "
            f"{result['retrain']['test_top1']:.1f}% ({'reused' if reused else f'{seconds:.0f} s'})"
        )

    tasks = [partial(run_pair, arm, seed, settings, out) for arm, seed in pairs]
    for (arm, _), result in zip(pairs, run_jobs(tasks, jobs, finished), strict=True):
        runs[arm.key].append(result)
    processes = [
        run[part]["process"] for rs in runs.values() for run in rs for part in ("search", "retrain")
    ]
    results: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "command": settings.command(out, as_json=as_json),
        "settings": {
            **settings.model_dump(mode="json"),
            "budget": settings.base_budget,
            "overrides": settings.overrides,
        },
        "machine": machine,
        "factor_groups": list(groups),
        "arms": [
            {
                "key": arm.key,
                "kind": arm.kind,
                "space": arm.space.name,
                "description": arm.description,
                "searched_factors": list(arm.searched_factors),
                "runs": runs[arm.key],
                "summary": summarize_arm(arm, runs[arm.key], groups),
            }
            for arm in arms
        ],
        "runs_total": 2 * total,
        "runs_reused": sum(
            run[part]["reused"]
            for rs in runs.values()
            for run in rs
            for part in ("search", "retrain")
        ),
        "run_wall_seconds_total": sum(p["wall_seconds"] for p in processes if p is not None),
    }
    results["comparisons"] = compare_arms(results["arms"])
    results["figures"], results["figures_note"] = write_figures(out, results)
    # Measured last, so that it covers everything but writing the two text files.
    results["wall_seconds"] = time.perf_counter() - started
    results["machine"]["load_average_end"] = list(os.getloadavg())
    (out / "report.md").write_text(render_report(results))
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


# -- command line --------------------------------------------------------------------------------
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
        f"with the quick budget {','.join(QUICK_BASELINES)}",
    )
    parser.add_argument(
        "--seeds", type=at_least(1), default=MIN_SEEDS, help=f"seeds per arm (≥ {MIN_SEEDS})"
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
        "--dataset", choices=tuple(DATASETS), default="fashion-mnist", help="default fashion-mnist"
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (resumes)")
    parser.add_argument("--data", type=Path, help="the dataset's folder (default: usual places)")
    parser.add_argument(
        "--threads",
        type=at_least(1),
        help="torch threads of each run (default 1; with --jobs N, the cores split N ways)",
    )
    parser.add_argument(
        "--jobs",
        type=at_least(1),
        default=1,
        help="(arm, seed) pairs run at once, each in its own processes (default 1); the "
        "results equal --jobs 1's with the same --threads",
    )
    parser.add_argument("--json", action="store_true", help="print results.json to stdout")
    parser.set_defaults(handler=run_cli, budget="full")


def settings_from_args(args: argparse.Namespace) -> CompareSettings:
    if args.seeds < MIN_SEEDS:
        raise FactorNASError(
            f"--seeds {args.seeds}: the comparison needs at least {MIN_SEEDS} seeds per arm "
            "for a standard deviation and a pairwise agreement worth reading"
        )
    if args.baselines is None:
        baselines = QUICK_BASELINES if args.budget == "quick" else DEFAULT_BASELINES
    else:
        baselines = tuple(t.strip() for t in args.baselines.split(",") if t.strip())
    given = vars(args)
    overrides = {
        flag: given[flag.replace("-", "_")]
        for flag in SIZE_FLAGS
        if flag.replace("-", "_") in given
    }
    return CompareSettings(
        space=args.space,
        baselines=baselines,
        seeds=args.seeds,
        sizes=apply_overrides(BUDGETS[args.budget], overrides),
        budget=args.budget,
        dataset=args.dataset,
        data=args.data.resolve() if args.data is not None else None,
        threads=args.threads if args.threads is not None else default_threads(args.jobs),
    )


def run_cli(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    console = Console(stderr=args.json)
    results = run_compare(settings, args.out, as_json=args.json, log=console.print, jobs=args.jobs)
    if args.json:
        print(json.dumps(results))
        return 0
    console.print(summary_table(results), markup=False, soft_wrap=True)
    for comparison in results["comparisons"]:
        for metric in comparison["metrics"].values():
            console.print(
                f"{metric['label']}, {comparison['against']} vs {comparison['arm']}: "
                f"{metric['verdict']}",
                markup=False,
                soft_wrap=True,
            )
    console.print(
        f"{results['wall_seconds']:.0f} s; report, results.json and figures in {args.out}"
    )
    return 0
