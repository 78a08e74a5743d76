"""``factornas bench compare``: a factorized space against its flat twin and fixed-factor
baselines, on the same Fashion-MNIST data with the same budget, over several seeds.

For every (arm, seed) the harness runs a search and then retrains the derived genotype, each
in its own process (:mod:`factornas.bench.compare_worker`), into ``OUT/runs/<arm>/seed<k>/
{search,retrain}``. Those are ordinary factornas run directories, so a comparison that was
interrupted resumes: finished runs are read back, not redone, and a half-done run continues
from its checkpoint. It then reports per arm the search's per-step cost and peak memory, the
supernet's validation accuracy, the agreement of the genotypes across seeds
(:mod:`factornas.bench.stability`) and the retrained test accuracy, as ``report.md``,
``results.json`` and figures (:mod:`factornas.bench.report`). docs/benchmarks.md explains
every number.
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
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from factornas.bench.arguments import at_least
from factornas.bench.arms import FLAT, Arm, build_arms, factor_groups
from factornas.bench.compare_worker import PROCESS_RECORD
from factornas.bench.report import render_report, summary_table, write_figures
from factornas.bench.stability import stability
from factornas.data.fashion_mnist import NUM_CLASSES
from factornas.errors import FactorNASError
from factornas.evaluate.config import RetrainConfig
from factornas.presets.retrain import cifar10_recipe
from factornas.runtime.metrics import read_metrics
from factornas.runtime.rundir import CHECKPOINT, CONFIG, SUMMARY, is_finished
from factornas.search.config import DataConfig, SearchConfig
from factornas.space.genotype import Genotype

RESULTS_FORMAT = 1
DEFAULT_BASELINES = (FLAT, "relu", "selu")
QUICK_BASELINES = (FLAT,)
#: The design card's minimum: agreement and a standard deviation from fewer seeds mean little.
MIN_SEEDS = 3
DATASET = "fashion-mnist"
IN_CHANNELS = 1
LOG = "bench.log"
JOB = "bench_job.json"


class SearchSizes(BaseModel):
    """The search budget every arm gets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: int = Field(gt=0)
    layers: int = Field(ge=3)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    subset: int = Field(gt=0, description="training images, split 50/50 into train and val")


class RetrainSizes(BaseModel):
    """The retraining budget every derived architecture gets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: int = Field(gt=0)
    layers: int = Field(ge=3)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    subset: int = Field(gt=0, description="training images")
    test_subset: int | None = Field(None, gt=0, description="test images (None: all 10,000)")


class Sizes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    search: SearchSizes
    retrain: RetrainSizes


#: ≤ 5 minutes on 2 idle cores: a smoke test of the whole pipeline, not a measurement.
QUICK = Sizes(
    search=SearchSizes(channels=4, layers=3, epochs=2, batch_size=16, subset=64),
    retrain=RetrainSizes(
        channels=4, layers=3, epochs=1, batch_size=32, subset=512, test_subset=512
    ),
)
#: 21 minutes on 2 cores with four arms and three seeds (measured: docs/benchmarks.md).
FULL = Sizes(
    search=SearchSizes(channels=4, layers=3, epochs=2, batch_size=32, subset=512),
    retrain=RetrainSizes(
        channels=8, layers=5, epochs=3, batch_size=64, subset=1000, test_subset=1000
    ),
)


class CompareSettings(BaseModel):
    """Everything that decides a comparison's runs; equal settings reuse the same runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    space: str
    baselines: tuple[str, ...]
    seeds: int = Field(ge=2, description="≥ 2 to measure agreement; the CLI asks for ≥ 3")
    sizes: Sizes
    data: Path | None = Field(None, description="Fashion-MNIST folder (None: the usual places)")
    threads: int = Field(1, gt=0, description="torch intra-op threads of each run")

    @property
    def mode(self) -> Literal["quick", "full", "custom"]:
        """Which of the command line's sizes these are (``custom``: set through the API)."""
        return "quick" if self.sizes == QUICK else "full" if self.sizes == FULL else "custom"

    def command(self, out: Path, *, as_json: bool) -> str:
        """The canonical command line of these settings into ``out``; custom sizes have none,
        so their command says so (the report's size table gives them)."""
        parts = ["factornas", "bench", "compare", "--space", self.space]
        parts += ["--baselines", ",".join(self.baselines), "--seeds", str(self.seeds)]
        if self.mode == "quick":
            parts.append("--quick")
        if self.threads != 1:
            parts += ["--threads", str(self.threads)]
        if self.data is not None:
            parts += ["--data", str(self.data)]
        parts += ["--out", str(out)]
        if as_json:
            parts.append("--json")
        command = shlex.join(parts)
        return command if self.mode != "custom" else f"{command}  # custom sizes (Python API)"


# -- configs of one (arm, seed) -------------------------------------------------------------------
def search_config(arm: Arm, seed: int, settings: CompareSettings) -> SearchConfig:
    """The paper's search setting (SearchConfig's defaults) at the comparison's budget."""
    size = settings.sizes.search
    return SearchConfig(
        space=arm.space,
        data=DataConfig(dataset=DATASET, root=settings.data, subset=size.subset),
        channels=size.channels,
        layers=size.layers,
        epochs=size.epochs,
        batch_size=size.batch_size,
        seed=seed,
    )


def retrain_config(seed: int, inner_group: str | None, settings: CompareSettings) -> RetrainConfig:
    """The paper's CIFAR-10 recipe, shortened to the comparison's budget.

    A few epochs leave nothing for the long-run regularizers to fight, and on 28×28 images a
    16-pixel cutout hides most of the garment: cutout, drop path and the auxiliary head are off.
    """
    size = settings.sizes.retrain
    raw = cifar10_recipe().model_dump()
    raw["network"].update(
        channels=size.channels,
        layers=size.layers,
        num_classes=NUM_CLASSES,
        in_channels=IN_CHANNELS,
        auxiliary=False,
        inner_group=inner_group,
    )
    raw["data"].update(
        dataset=DATASET,
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
) -> dict[str, Any]:
    """Run (or resume) the whole comparison into ``out``; returns what ``results.json`` holds."""
    started = time.perf_counter()
    out = Path(out)
    arms = build_arms(settings.space, settings.baselines)
    groups = factor_groups(arms[0].space)
    machine = describe_machine(settings.threads)
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {arm.key: [] for arm in arms}
    total = len(arms) * settings.seeds
    done = 0
    for seed in range(settings.seeds):  # seed-major: an interrupted run has whole seeds
        for arm in arms:
            done += 1
            t0 = time.perf_counter()
            result = run_pair(arm, seed, settings, out)
            runs[arm.key].append(result)
            how = (
                "reused"
                if result["search"]["reused"] and result["retrain"]["reused"]
                else f"{time.perf_counter() - t0:.0f} s"
            )
            log(
                f"[{done}/{total}] {arm.key} seed {seed}: supernet val "
                f"{result['search']['val_top1']:.1f}%, retrained test "
                f"{result['retrain']['test_top1']:.1f}% ({how})"
            )
    processes = [
        run[part]["process"] for rs in runs.values() for run in rs for part in ("search", "retrain")
    ]
    results: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "command": settings.command(out, as_json=as_json),
        "settings": {**settings.model_dump(mode="json"), "mode": settings.mode},
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
            "Search every arm with the same budget on Fashion-MNIST for several seeds, retrain "
            "each derived architecture, and report cost, memory, accuracy and the agreement of "
            "the seeds' genotypes (docs/benchmarks.md). Rerunning the same command resumes."
        ),
    )
    parser.add_argument("--space", required=True, help="a factorized space preset, e.g. adarts")
    parser.add_argument(
        "--baselines",
        help="comma-separated: flat (the flat twin) and GROUP=CANDIDATE or CANDIDATE (a factor "
        f"fixed to one candidate, e.g. relu); default {','.join(DEFAULT_BASELINES)}, "
        f"with --quick {','.join(QUICK_BASELINES)}",
    )
    parser.add_argument(
        "--seeds", type=at_least(1), default=MIN_SEEDS, help=f"seeds per arm (≥ {MIN_SEEDS})"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a ≤ 5-minute smoke test of the harness"
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (resumes)")
    parser.add_argument("--data", type=Path, help="Fashion-MNIST folder (default: usual places)")
    parser.add_argument(
        "--threads", type=at_least(1), default=1, help="torch threads of each run (default 1)"
    )
    parser.add_argument("--json", action="store_true", help="print results.json to stdout")
    parser.set_defaults(handler=run_cli)


def settings_from_args(args: argparse.Namespace) -> CompareSettings:
    if args.seeds < MIN_SEEDS:
        raise FactorNASError(
            f"--seeds {args.seeds}: the comparison needs at least {MIN_SEEDS} seeds per arm "
            "for a standard deviation and a pairwise agreement worth reading"
        )
    if args.baselines is None:
        baselines = QUICK_BASELINES if args.quick else DEFAULT_BASELINES
    else:
        baselines = tuple(t.strip() for t in args.baselines.split(",") if t.strip())
    return CompareSettings(
        space=args.space,
        baselines=baselines,
        seeds=args.seeds,
        sizes=QUICK if args.quick else FULL,
        data=args.data.resolve() if args.data is not None else None,
        threads=args.threads,
    )


def run_cli(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    console = Console(stderr=args.json)
    results = run_compare(settings, args.out, as_json=args.json, log=console.print)
    if args.json:
        print(json.dumps(results))
        return 0
    console.print(summary_table(results), markup=False, soft_wrap=True)
    console.print(
        f"{results['wall_seconds']:.0f} s; report, results.json and figures in {args.out}"
    )
    return 0
