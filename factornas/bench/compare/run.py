"""Running a comparison: every (arm, seed) pair's search and retraining, each in a process of
its own (:mod:`factornas.bench.compare_worker`), reusing the runs already finished, then the
summaries, the differences, the figures, ``report.md`` and ``results.json``.

Where the pairs run is the launcher's business (:mod:`factornas.bench.launchers`: this machine,
Ray or SLURM); each runs :func:`run_pair` as a :class:`PairTask`. A pair's run directories are
ordinary factornas run directories, so an interrupted comparison resumes, whichever launcher
ran it: a finished run is read back, not redone, and a half-done one continues from its
checkpoint. A pair that fails is reported (``failures`` in ``results.json``, a section of
``report.md``) with the numbers of those that finished. Two checks keep a resumed comparison
honest: the sizes and dataset recorded in ``OUT/bench_sizes.json`` (refused before anything
runs, naming the flags that differ), and each run directory's own config (refused when the
loop reaches it).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factornas.bench.arms import Arm, build_arms, factor_groups
from factornas.bench.budgets import Sizes, format_size, overrides_of
from factornas.bench.chance import chance_accuracy
from factornas.bench.compare.results import (
    RESULTS_FILE,
    ArmResult,
    CompareResults,
    FailedPair,
    PairResult,
    ProcessRecord,
    RetrainResult,
    SearchResult,
    SettingsRecord,
)
from factornas.bench.compare.settings import CompareSettings, retrain_config, search_config
from factornas.bench.compare.summary import summarize_arm, sweep_of
from factornas.bench.compare_worker import PROCESS_RECORD
from factornas.bench.differences import compare_arms
from factornas.bench.launchers.launcher import Launcher, Outcome
from factornas.bench.launchers.local import LocalLauncher
from factornas.bench.machine import Machine, describe_machine, load_average
from factornas.bench.report import FIGURES, render_report, write_figures
from factornas.errors import FactorNASError
from factornas.files import open_append, open_no_follow, write_atomic
from factornas.runtime.metrics import read_metrics
from factornas.runtime.owned import claim
from factornas.runtime.rundir import CHECKPOINT, CONFIG, SUMMARY, is_finished
from factornas.space.genotype import Genotype

LOG = "bench.log"
#: The sizes and dataset of the comparison in OUT, to refuse resuming it with others.
SIZES_RECORD = "bench_sizes.json"
JOB = "bench_job.json"
REPORT = "report.md"
#: The kind of run directory each job of a pair writes (:mod:`factornas.runtime.owned`).
RUN_KINDS = {"search": "search", "retrain": "train"}
#: What a comparison writes in OUT itself.
COMPARE_OUTPUTS = (SIZES_RECORD, REPORT, RESULTS_FILE, f"{FIGURES}/", "runs/")


# -- resume checks -------------------------------------------------------------------------------
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
    device = {"device": settings.device} if settings.device != "cpu" else {}  # as before: cpu
    return {"dataset": settings.dataset, **device, "sizes": settings.sizes.model_dump(mode="json")}


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
    device_before = before.get("device", "cpu")
    if device_before != settings.device:  # a mix of CPU and GPU step times compares nothing
        changes.insert(0, f"--device {settings.device} (was {device_before})")
    if changes:
        raise FactorNASError(
            f"{out} holds a comparison of other sizes: {', '.join(changes)}; resume it with "
            "its own sizes (its report.md gives the command), or use another --out"
        )


# -- one pair ------------------------------------------------------------------------------------
def _run_worker(job: dict[str, Any], run_dir: Path, threads: int) -> None:
    """Run one job in a child process, its output appended to ``run_dir/bench.log``. The
    directory is claimed as the job's run directory first (the job and log files are the
    harness's, recorded in the same marker as the run's own files)."""
    owned = claim(run_dir, RUN_KINDS[job["task"]])
    owned.record([JOB, LOG, PROCESS_RECORD])
    job_path = run_dir / JOB
    write_atomic(job_path, json.dumps(job, indent=2) + "\n")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log_path = run_dir / LOG
    # The log is read back through a descriptor opened before the job starts: a run that fails
    # early removes the files it recorded, the log among them, and its last line is the reason.
    with (
        open_append(log_path) as log,
        os.fdopen(open_no_follow(log_path, os.O_RDONLY), "r") as reader,
    ):
        reader.seek(0, os.SEEK_END)  # this attempt's output only
        code = subprocess.call(
            [sys.executable, "-m", "factornas.bench.compare_worker", str(job_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        output = reader.read() if code != 0 else ""
    if code != 0:
        lines = [ln for ln in output.splitlines() if ln.strip()]
        last = lines[-1] if lines else "(no output)"
        where = f"full log: {log_path}" if log_path.exists() else "its log went with its files"
        raise FactorNASError(
            f"{job['task']} in {run_dir} failed (exit status {code}): {last} ({where})"
        )


def _process_record(run_dir: Path) -> ProcessRecord | None:
    path = run_dir / PROCESS_RECORD
    return ProcessRecord.model_validate(json.loads(path.read_text())) if path.exists() else None


def _ensure_run(
    job: dict[str, Any], run_dir: Path, expected_config: dict[str, Any], threads: int
) -> bool:
    """Run the job unless ``run_dir`` already holds it finished; True when it was reused."""
    _check_same_run(run_dir, expected_config)
    if is_finished(run_dir):
        return True
    _run_worker(job, run_dir, threads)
    return False


def _search_result(run_dir: Path, reused: bool, root: Path) -> SearchResult:
    records = read_metrics(run_dir / "metrics.jsonl")
    summary = json.loads((run_dir / SUMMARY).read_text())
    steps = [r["step_seconds"] for r in records if r.get("step_seconds") is not None]
    return SearchResult(
        run_dir=str(run_dir.relative_to(root)),
        reused=reused,
        epochs=len(records),
        step_seconds=statistics.median(steps) if steps else None,
        step_seconds_per_epoch=steps,
        val_top1=100.0 * records[-1]["val_acc"],
        val_top1_per_epoch=[100.0 * r["val_acc"] for r in records],
        train_top1=100.0 * records[-1]["train_acc"],
        skip_connect_in_normal=summary["skip_connect_in_normal"],
        genotype=Genotype.model_validate(summary["genotype"]),
        process=_process_record(run_dir),
    )


def _retrain_result(run_dir: Path, reused: bool, root: Path) -> RetrainResult:
    summary = json.loads((run_dir / SUMMARY).read_text())
    return RetrainResult(
        run_dir=str(run_dir.relative_to(root)),
        reused=reused,
        epochs=summary["epochs"],
        params=summary["params"],
        test_top1=summary["test_top1"],
        test_top5=summary["test_top5"],
        best_test_top1=summary["best_test_top1"],
        process=_process_record(run_dir),
    )


def pair_dirs(out: Path, arm_key: str, seed: int) -> tuple[Path, Path]:
    """The search and retraining run directories of one (arm, seed)."""
    base = out / "runs" / arm_key / f"seed{seed}"
    return base / "search", base / "retrain"


def run_pair(arm: Arm, seed: int, settings: CompareSettings, out: Path) -> PairResult:
    """Search and retrain one (arm, seed), reusing whatever is already finished."""
    search_dir, retrain_dir = pair_dirs(out, arm.key, seed)
    config = search_config(arm, seed, settings)
    config_json = config.model_dump(mode="json")
    where = {"device": settings.device, "cuda_graphs": settings.cuda_graphs}
    reused_search = _ensure_run(
        {"task": "search", "out": str(search_dir), "threads": settings.threads,
         "config": config_json, **where},
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
        {
            "task": "retrain",
            "out": str(retrain_dir),
            "threads": settings.threads,
            **expected,
            **where,
        },
        retrain_dir,
        expected,
        settings.threads,
    )
    return PairResult(
        seed=seed,
        search=_search_result(search_dir, reused_search, out),
        retrain=_retrain_result(retrain_dir, reused_retrain, out),
    )


@dataclass(frozen=True)
class PairTask:
    """One (arm, seed) as a launcher's task: small and picklable (the settings, not the built
    arm), so that a Ray worker or a SLURM job rebuilds the arm and runs :func:`run_pair`."""

    settings: CompareSettings
    out: Path
    arm_key: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.arm_key}/seed{self.seed}"

    def _arm(self) -> Arm:
        arms = build_arms(self.settings.space, self.settings.baselines)
        return next(arm for arm in arms if arm.key == self.arm_key)

    def __call__(self) -> PairResult:
        return run_pair(self._arm(), self.seed, self.settings, self.out)

    def is_done(self) -> bool:
        return all(is_finished(run_dir) for run_dir in pair_dirs(self.out, self.arm_key, self.seed))


@dataclass(frozen=True)
class PendingPairs:
    """What a comparison whose launcher did not wait (SLURM without ``--wait``) has not got
    yet: per unfinished pair its key and its job's state; nothing is reported until none is
    left (run the same command again)."""

    finished: int
    pending: list[tuple[str, str]]


# -- the whole comparison ------------------------------------------------------------------------
def _settings_record(settings: CompareSettings) -> SettingsRecord:
    """The settings as ``results.json`` records them; the seeds as their count when they are 0
    to n − 1, the device and graphs only when they are not the CPU's eager runs."""
    seeds = list(settings.seeds)
    return SettingsRecord.model_validate(
        {
            **settings.model_dump(mode="json"),
            "seeds": len(seeds) if seeds == list(range(len(seeds))) else seeds,
            "budget": settings.base_budget,
            "overrides": settings.overrides,
            "device": settings.device,
            "cuda_graphs": settings.cuda_graphs,
        }
    )


def run_compare(
    settings: CompareSettings,
    out: str | Path,
    *,
    as_json: bool = False,
    log: Callable[[str], None] = lambda _: None,
    launcher: Launcher | None = None,
) -> CompareResults | PendingPairs:
    """Run (or resume, or collect) the whole comparison into ``out`` with ``launcher`` (default:
    this machine, one pair at a time); returns what ``results.json`` holds, or the pairs still
    pending when the launcher returned before they ended."""
    started = time.perf_counter()
    out = Path(out)
    launcher = launcher if launcher is not None else LocalLauncher()
    arms = build_arms(settings.space, settings.baselines)
    groups = factor_groups(arms[0].space)
    machine = describe_machine(settings.threads).model_copy(
        update={
            "jobs": launcher.jobs,
            "launcher": None if launcher.name == "local" else launcher.name,
        }
    )
    owned = claim(out, "bench-compare")
    owned.record([*COMPARE_OUTPUTS, *launcher.outputs])
    _check_same_sizes(out, settings)
    # Seed-major (an interrupted run has whole seeds).
    pairs = [(arm, seed) for seed in settings.seeds for arm in arms]
    total = len(pairs)
    ended = 0

    def report(index: int, outcome: Outcome[PairResult]) -> None:
        nonlocal ended
        ended += 1
        if outcome.status == "done" and not (out / SIZES_RECORD).exists():
            # the runs there, if any, have just been found of these sizes
            write_atomic(out / SIZES_RECORD, json.dumps(_sizes_record(settings), indent=2))
        arm, seed = pairs[index]
        result = outcome.result
        if result is None:
            log(f"[{ended}/{total}] {arm.key} seed {seed}: failed: {outcome.detail}")
            return
        reused = result.search.reused and result.retrain.reused
        log(
            f"[{ended}/{total}] {arm.key} seed {seed}: supernet val "
            f"{result.search.val_top1:.1f}%, retrained test "
            f"{result.retrain.test_top1:.1f}% "
            f"({'reused' if reused else f'{outcome.seconds:.0f} s'})"
        )

    tasks = [PairTask(settings, out.resolve(), arm.key, seed) for arm, seed in pairs]
    outcomes = launcher.run(tasks, report)
    pending = [
        (task.key, outcome.detail)
        for task, outcome in zip(tasks, outcomes, strict=True)
        if outcome.status == "pending"
    ]
    if pending:
        return PendingPairs(finished=total - len(pending), pending=pending)
    runs: dict[str, list[PairResult]] = {arm.key: [] for arm in arms}
    failures = []
    for (arm, seed), outcome in zip(pairs, outcomes, strict=True):
        if outcome.result is not None:
            runs[arm.key].append(outcome.result)
        else:
            failures.append(FailedPair(arm=arm.key, seed=seed, error=outcome.detail))
    return _results(settings, out, arms, groups, runs, failures, machine, started, as_json)


def _results(
    settings: CompareSettings,
    out: Path,
    arms: Sequence[Arm],
    groups: tuple[str, ...],
    runs: dict[str, list[PairResult]],
    failures: list[FailedPair],
    machine: Machine,
    started: float,
    as_json: bool,
) -> CompareResults:
    """Summaries, differences, figures, ``report.md`` and ``results.json`` of the finished
    pairs."""
    parts = [part for rs in runs.values() for run in rs for part in (run.search, run.retrain)]
    arm_results = [
        ArmResult(
            key=arm.key,
            kind=arm.kind,
            space=arm.space.name,
            description=arm.description,
            searched_factors=list(arm.searched_factors),
            runs=runs[arm.key],
            summary=summarize_arm(arm, runs[arm.key], groups),
        )
        for arm in arms
    ]
    comparisons = compare_arms(arm_results)
    empty = [arm.key for arm in arm_results if not arm.runs]
    figures: list[str] = []
    figures_note: str | None = f"no figures: no seed of {', '.join(empty)} finished"
    if not empty:
        chance = chance_accuracy(settings.spec.classes)
        figures, figures_note = write_figures(
            out, arm_results, comparisons, len(settings.seeds), chance
        )
    # Measured last, so that it covers everything but writing the two text files.
    wall_seconds = time.perf_counter() - started
    machine = machine.model_copy(update={"load_average_end": load_average()})
    results = CompareResults(
        command=settings.command(out, as_json=as_json),
        settings=_settings_record(settings),
        machine=machine,
        factor_groups=list(groups),
        arms=arm_results,
        runs_total=2 * len(settings.seeds) * len(arms),
        runs_reused=sum(part.reused for part in parts),
        run_wall_seconds_total=sum(p.process.wall_seconds for p in parts if p.process is not None),
        comparisons=comparisons,
        figures=figures,
        figures_note=figures_note,
        wall_seconds=wall_seconds,
        failures=failures,
        sweep=sweep_of(arm_results[0]) if len(arm_results) == 1 else None,
    )
    write_atomic(out / REPORT, render_report(results))
    results.write(out / RESULTS_FILE)
    return results
