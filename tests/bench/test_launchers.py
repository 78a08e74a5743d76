"""``bench compare --launcher local|ray|slurm``, ``--seeds`` forms, and failed pairs reported
next to the others' numbers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from factornas.bench.compare import run as compare_run
from factornas.bench.compare.results import PairResult, load_results
from factornas.bench.launchers.launcher import Outcome, one_line
from factornas.bench.launchers.local import LocalLauncher
from factornas.bench.launchers.ray import RayLauncher
from factornas.bench.launchers.slurm import (
    SlurmLauncher,
    SlurmOptions,
    make_executor,
    parse_slurm_time,
)
from factornas.bench.seeds import format_seeds, parse_seeds
from factornas.cli import main
from factornas.cli.bench_compare import register_compare
from factornas.cli.bench_launch import launcher_from_args
from factornas.errors import FactorNASError
from tests.bench.conftest import with_repository_on_path
from tests.bench.launch_tasks import DiesOnce, Square
from tests.bench.test_compare import COMMITTED


# -- seeds ---------------------------------------------------------------------------------------
def test_seeds_are_a_count_a_range_or_a_list() -> None:
    assert parse_seeds("3") == (0, 1, 2)
    assert parse_seeds("0-9") == tuple(range(10))
    assert parse_seeds("4-6") == (4, 5, 6)
    assert parse_seeds("0,3,7") == (0, 3, 7)
    for seeds in [(0, 1, 2), (4, 5, 6), (0, 3, 7), (5,), (0,)]:
        assert parse_seeds(format_seeds(seeds)) == seeds
    shortest = [format_seeds(seeds) for seeds in [(0, 1, 2), (4, 5), (5,)]]
    assert shortest == ["3", "4-5", "5-5"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("three", "'three' is not a seed; give a count \\(3\\), an inclusive range"),
        ("5-2", "the range ends before it starts"),
        ("0,3,3", "seed 3 listed twice"),
        ("0", "no seed"),
        ("-1", "'' is not a seed"),
        ("10000000", "10000000 seeds per arm; at most 1000"),
        ("1" + "0" * 30, "seeds per arm; at most 1000"),
        ("0-5000", "5001 seeds per arm; at most 1000"),
        ("1" + "0" * 20 + "-1" + "0" * 20, "is above the largest"),
    ],
)
def test_bad_seeds_are_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(FactorNASError, match=message) as error:
        parse_seeds(text)
    assert "\n" not in str(error.value)


# -- the local launcher --------------------------------------------------------------------------
def test_local_runs_in_task_order_and_reports_in_the_calling_thread(tmp_path: Path) -> None:
    caller = threading.get_ident()
    together = threading.Barrier(3, timeout=30)  # passes only if three tasks run at once

    class Meets(Square):
        def __call__(self) -> int:
            if self.n < 3:
                together.wait()
            return super().__call__()

    reports: list[tuple[int, Any]] = []

    def report(index: int, outcome: Outcome[int]) -> None:
        assert threading.get_ident() == caller and outcome.seconds >= 0
        reports.append((index, outcome.result))

    outcomes = LocalLauncher(jobs=3).run([Meets(i, tmp_path) for i in range(4)], report)
    assert [o.result for o in outcomes] == [0, 1, 4, 9]
    assert sorted(reports) == [(0, 0), (1, 1), (2, 4), (3, 9)]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failed_task_is_reported_and_the_others_run(tmp_path: Path, jobs: int) -> None:
    tasks = [Square(2, tmp_path), Square(-1, tmp_path), Square(3, tmp_path)]
    outcomes = LocalLauncher(jobs=jobs).run(tasks, lambda *_: None)
    assert [o.status for o in outcomes] == ["done", "failed", "done"]
    assert (outcomes[0].result, outcomes[2].result) == (4, 9)
    assert outcomes[1].detail == "no square for -1"


def test_one_line_keeps_a_tracebacks_message() -> None:
    assert one_line("Traceback:\n  File x\nValueError:   no  square\n\n") == "ValueError: no square"


# -- flags and extras ----------------------------------------------------------------------------
def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register_compare(parser.add_subparsers())
    return parser.parse_args(["compare", "--space", "adarts", "--out", "o", *argv])


def test_each_launcher_takes_its_own_flags(tmp_path: Path) -> None:
    local = launcher_from_args(parse(["--jobs", "2"]), 1, "cpu", tmp_path)
    assert isinstance(local, LocalLauncher) and local.jobs == 2
    ray = launcher_from_args(
        parse(["--launcher", "ray", "--ray-address", "auto", "--cpus-per-job", "2"]),
        1,
        "cuda",
        tmp_path,
    )
    assert isinstance(ray, RayLauncher)
    assert (ray.address, ray.cpus_per_job, ray.gpus_per_job, ray.jobs) == ("auto", 2, 1, None)
    slurm = launcher_from_args(
        parse(["--launcher", "slurm", "--slurm-time", "1:30:00", "--slurm-partition", "gpu"]),
        4,
        "cpu",
        tmp_path,
    )
    assert isinstance(slurm, SlurmLauncher)
    assert (slurm.options.minutes, slurm.options.cpus_per_job) == (90, 4)
    assert slurm.options.folder == tmp_path / "slurm"
    assert slurm.outputs == ("slurm_jobs.json", "slurm/")
    with pytest.raises(FactorNASError, match="--launcher slurm needs --slurm-time"):
        launcher_from_args(parse(["--launcher", "slurm"]), 1, "cpu", tmp_path)
    with pytest.raises(FactorNASError, match="--slurm-time, --wait do not apply to --launcher ray"):
        launcher_from_args(
            parse(["--launcher", "ray", "--slurm-time", "9", "--wait"]), 1, "cpu", tmp_path
        )
    with pytest.raises(FactorNASError, match="--gpus-per-job does not apply to --launcher local"):
        launcher_from_args(parse(["--gpus-per-job", "1"]), 1, "cpu", tmp_path)


def test_slurm_times_are_sbatchs_forms() -> None:
    assert [parse_slurm_time(t) for t in ("90", "1:30", "1:30:00", "0:00:01", "1-2:00")] == [
        90, 90, 90, 1, 26 * 60,
    ]  # fmt: skip
    with pytest.raises(FactorNASError, match="give minutes"):
        parse_slurm_time("an hour")


@pytest.mark.parametrize(("launcher", "extra"), [("ray", "ray"), ("submitit", "slurm")])
def test_a_missing_extra_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, launcher: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, launcher, None)  # as if not installed: imports fail
    chosen = RayLauncher() if launcher == "ray" else None
    with pytest.raises(FactorNASError, match=rf"pip install 'factornas\[{extra}\]'$"):
        if chosen is not None:
            chosen.run([Square(1, tmp_path)], lambda *_: None)
        else:
            make_executor(SlurmOptions(partition=None, minutes=5, folder=tmp_path))


# -- slurm ---------------------------------------------------------------------------------------
def fake_slurm(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``srun``, ``sbatch`` (keeps the script it is given, says job 4242) and ``sacct`` (fails,
    as off a cluster) on PATH; returns where the script is kept."""
    folder.mkdir()
    script = folder / "submitted.sh"
    (folder / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {script}\necho Submitted batch job 4242\n')
    (folder / "srun").write_text("#!/bin/sh\nexit 0\n")
    (folder / "sacct").write_text("#!/bin/sh\nexit 1\n")
    for tool in ("sbatch", "srun", "sacct"):
        (folder / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return script


def test_the_sbatch_script_asks_for_the_flags_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = fake_slurm(tmp_path / "bin", monkeypatch)
    out = tmp_path / "cmp"
    out.mkdir()
    args = parse(
        ["--launcher", "slurm", "--slurm-partition", "gpu", "--slurm-time", "2:00:00",
         "--gpus-per-job", "2", "--cpus-per-job", "6", "--jobs", "3"]
    )  # fmt: skip
    launcher = launcher_from_args(args, 1, "cpu", out)
    outcomes = launcher.run([Square(i, tmp_path) for i in range(4)], lambda *_: None)
    assert [o.status for o in outcomes] == ["pending"] * 4  # submitted, not waited for
    lines = set(script.read_text().splitlines())
    expected = {
        "#SBATCH --partition=gpu", "#SBATCH --time=120", "#SBATCH --gpus-per-node=2",
        "#SBATCH --cpus-per-task=6", "#SBATCH --array=0-3%3", "#SBATCH --nodes=1",
        "#SBATCH --job-name=factornas-bench",
    }  # fmt: skip
    assert expected <= lines, sorted(lines)
    assert any(line.startswith(f"#SBATCH --output={out / 'slurm'}/") for line in lines)
    recorded = json.loads((out / "slurm_jobs.json").read_text())
    assert recorded == {f"square/{i}": f"4242_{i}" for i in range(4)}


@pytest.mark.slow
def test_slurm_jobs_are_collected_by_a_later_invocation_and_failures_resubmitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """submitit's local cluster: the SLURM launcher's code short of sbatch."""
    monkeypatch.setenv("PYTHONPATH", with_repository_on_path())
    options = SlurmOptions(partition=None, minutes=5, folder=tmp_path / "slurm", cluster="local")
    record = tmp_path / "slurm_jobs.json"
    tasks = [Square(2, tmp_path), Square(-1, tmp_path), Square(3, tmp_path)]
    first = SlurmLauncher(options, record).run(tasks, lambda *_: None)
    assert first[0].status in {"pending", "done"} and first[1].status in {"pending", "failed"}
    # Every job's id is kept, but a failed one's, once seen failed (to be submitted again).
    failed = {task.key for task, o in zip(tasks, first, strict=True) if o.status == "failed"}
    assert set(json.loads(record.read_text())) == {t.key for t in tasks} - failed
    deadline = time.monotonic() + 60
    while not all(task.is_done() for task in (tasks[0], tasks[2])):
        assert time.monotonic() < deadline, "the local jobs did not finish"
        time.sleep(0.2)
    # A later invocation (a new launcher, as a new process would make) submits nothing twice.
    ended: list[int] = []
    later = SlurmLauncher(options, record, wait=True).run(tasks, lambda i, _: ended.append(i))
    assert [o.status for o in later] == ["done", "failed", "done"]
    assert (later[0].result, later[2].result) == (4, 9)
    assert "no square for -1" in later[1].detail and sorted(ended) == [0, 1, 2]
    # The finished ones are read back; the failed one's id is dropped, to be submitted again.
    assert json.loads(record.read_text()) == {}
    again = SlurmLauncher(options, record, wait=True).run(tasks, lambda *_: None)
    assert [o.status for o in again] == ["done", "failed", "done"]
    assert json.loads(record.read_text()) == {}


# -- ray -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_ray_task_whose_worker_dies_is_retried_once_then_reported(
    tmp_path: Path, local_ray: Any
) -> None:
    tasks = [Square(3, tmp_path), DiesOnce(tmp_path, 1), DiesOnce(tmp_path, 2)]
    tasks.append(Square(-1, tmp_path))
    outcomes = RayLauncher(jobs=2).run(tasks, lambda *_: None)
    assert [o.status for o in outcomes] == ["done", "done", "failed", "failed"]
    assert (outcomes[0].result, outcomes[1].result) == (9, "survived")
    assert (tmp_path / "attempts2").read_text() == "xx"  # the first try and one retry
    assert "no square for -1" in outcomes[3].detail  # the task's own error, not Ray's wrapper
    assert "\n" not in outcomes[2].detail and outcomes[2].detail


# -- failed pairs in the comparison --------------------------------------------------------------
def committed_pairs() -> dict[tuple[str, int], PairResult]:
    results = load_results(COMMITTED)
    return {(arm.key, run.seed): run for arm in results.arms for run in arm.runs}


def compare_with_failures(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failing: set[tuple[str, int]],
    baselines: str,
) -> tuple[int, dict[str, Any], str]:
    """``bench compare`` whose pairs return the committed comparison's runs, but ``failing``
    raise: the bookkeeping around the runs, without training."""
    pairs = committed_pairs()

    def run_pair(arm: Any, seed: int, settings: Any, out: Path) -> PairResult:
        if (arm.key, seed) in failing:
            raise FactorNASError(f"search in {arm.key}/seed{seed} failed (exit status -9)")
        return pairs[(arm.key, seed)]

    monkeypatch.setattr(compare_run, "run_pair", run_pair)
    monkeypatch.setattr(compare_run, "write_figures", lambda *_: ([], "figures skipped"))
    out = tmp_path / "cmp"
    argv = ["bench", "compare", "--space", "adarts", "--baselines", baselines, "--seeds", "3"]
    code = main([*argv, "--quick", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    return code, json.loads(captured.out), (out / "report.md").read_text(), errors


def test_a_failed_pair_is_reported_beside_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, results, report, errors = compare_with_failures(
        tmp_path, monkeypatch, capsys, {("flat", 1)}, "flat"
    )
    assert code == 3
    assert errors == [
        "error: 1 of 6 (arm, seed) pairs failed; the first, flat seed 1: search in flat/seed1 "
        "failed (exit status -9) (report.md lists each; rerun the same command to retry them)"
    ]
    assert results["failures"] == [
        {"arm": "flat", "seed": 1, "error": "search in flat/seed1 failed (exit status -9)"}
    ]
    flat = results["arms"][1]
    assert [run["seed"] for run in flat["runs"]] == [0, 2]
    assert flat["summary"]["test_top1"]["n"] == 2
    assert results["comparisons"][0]["metrics"]["test_top1"]["seeds"] == [0, 2]
    assert "## Failed pairs" in report and "| `flat` | 1 | search in flat/seed1 failed" in report
    # The typed model reads it back byte for byte, failures and all.
    assert (
        load_results(tmp_path / "cmp" / "results.json").dumps()
        == (tmp_path / "cmp" / "results.json").read_text()
    )


def test_every_pair_failed_exits_2_and_still_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = {(arm, seed) for arm in ("adarts", "flat") for seed in range(3)}
    code, results, report, errors = compare_with_failures(
        tmp_path, monkeypatch, capsys, failing, "flat"
    )
    assert code == 2 and len(results["failures"]) == 6
    assert len(errors) == 1 and errors[0].startswith("error: every (arm, seed) pair failed; ")
    assert results["arms"][0]["summary"]["stability"] is None
    assert results["figures_note"] == "no figures: no seed of adarts, flat finished"
    assert "6 (arm, seed) pairs did not finish" in report


def test_a_sweep_reports_the_seeds_and_their_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, results, report, errors = compare_with_failures(
        tmp_path, monkeypatch, capsys, set(), "none"
    )
    assert code == 0 and not errors and "failures" not in results and results["comparisons"] == []
    assert [arm["key"] for arm in results["arms"]] == ["adarts"]
    assert results["command"].startswith("factornas bench compare --space adarts --baselines none")
    test = results["sweep"]["metrics"]["test_top1"]
    values = [committed_pairs()[("adarts", s)].retrain.test_top1 for s in range(3)]
    assert (test["seeds"], test["values"]) == ([0, 1, 2], values)
    assert test["mean"] == pytest.approx(sum(values) / 3)
    # t(0.975, 2) = 4.303: the half-width of three seeds is 4.303 · sd / √3.
    assert test["half_width"] == pytest.approx(4.3027 * test["sd"] / 3**0.5, rel=1e-4)
    assert report.startswith("# bench compare: seed sweep of `adarts`")
    assert "## Seed sweep" in report and "## Differences" not in report
