"""The GPU suite's plumbing on a CPU: the comparison's sizes from a measured step time, and the
report of a finished or an unfinished comparison (``benchmarks/fashion_budget.py``,
``benchmarks/gpu_suite_report.py``). The suite itself runs on a device machine
(docs/performance.md gives the call)."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from factornas.bench.budgets import MEDIUM
from factornas.cli.bench_compare import register_compare, settings_from_args

ROOT = Path(__file__).resolve().parents[2]
BUDGET = ROOT / "benchmarks" / "fashion_budget.py"
REPORT = ROOT / "benchmarks" / "gpu_suite_report.py"
COMMITTED = ROOT / "benchmarks" / "results" / "adarts-full" / "results.json"


def _cost(path: Path, step_s: float) -> Path:
    report = {"presets": [{"preset": "darts", "step_s": step_s / 2},
                          {"preset": "adarts", "step_s": step_s}]}  # fmt: skip
    path.write_text("a log line first\n" + json.dumps(report) + "\n")
    return path


def _sizes(tmp_path: Path, *args: str) -> tuple[dict[str, int | None], dict[str, object]]:
    """Run the sizing script; its flags read back by ``bench compare``'s own parser."""
    explain = tmp_path / "explain.json"
    command = [sys.executable, str(BUDGET), "--jobs", "6", "--pairs", "6", *args]
    out = subprocess.run(
        [*command, "--explain", str(explain)], check=True, capture_output=True, text=True
    ).stdout
    parser = argparse.ArgumentParser()
    register_compare(parser.add_subparsers())
    argv = ["compare", "--space", "adarts", "--out", "x", *shlex.split(out)]
    sizes = settings_from_args(parser.parse_args(argv)).sizes
    flat = {
        **{f"search_{k}": v for k, v in sizes.search.model_dump().items()},
        **{f"retrain_{k}": v for k, v in sizes.retrain.model_dump().items()},
    }
    return flat, json.loads(explain.read_text())


@pytest.mark.slow
def test_the_comparison_grows_with_its_time_and_a_faster_step(tmp_path: Path) -> None:
    eager = _cost(tmp_path / "eager.out", 0.9)
    graphed = _cost(tmp_path / "graphed.out", 0.12)
    short, why = _sizes(tmp_path, "--cost", str(eager), "--seconds", "170")
    longer, _ = _sizes(tmp_path, "--cost", str(eager), "--seconds", "400")
    fast, fast_why = _sizes(
        tmp_path, "--cost", str(eager), "--graphed-cost", str(graphed), "--seconds", "170"
    )
    for sizes in (short, longer, fast):  # the medium budget's networks, always
        assert sizes["search_channels"] == MEDIUM.search.channels
        assert sizes["search_layers"] == MEDIUM.search.layers
        assert sizes["retrain_layers"] == MEDIUM.retrain.layers
    for key in ("search_subset", "retrain_subset"):
        assert short[key] < longer[key] and short[key] < fast[key]
    assert why["eager_step_measured"] is True and fast_why["gpu_slowdown"] == 1.5
    # 13 search steps an epoch at 0.9 s eager: 4 epochs of 13 train + 13 val batches
    # (0.9 · 5/8 · 1.5 s + a third of it each) fit 60 % of 75 % of 170 s less 30 s.
    assert why["search_steps_per_epoch"] == 13 and short["search_subset"] == 2 * 13 * 64


@pytest.mark.slow
def test_without_a_measurement_the_slowest_step_seen_sizes_it(tmp_path: Path) -> None:
    sizes, why = _sizes(tmp_path, "--cost", str(tmp_path / "missing.out"), "--seconds", "170")
    assert why["eager_step_measured"] is False
    assert why["adarts_step_s_paper_shape"] == {"eager": 0.981, "graphed": None}
    slowest = _cost(tmp_path / "slowest.out", 0.981)
    assert sizes == _sizes(tmp_path, "--cost", str(slowest), "--seconds", "170")[0]
    tiny, _ = _sizes(tmp_path, "--tiny", "--seconds", "1")
    assert tiny["search_subset"] == 32 and tiny["retrain_channels"] == 2


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "environment.json").write_text(json.dumps({"gpu": "NVIDIA H200", "torch": "2.11"}))
    _cost(work / "cost_fp32.out", 0.9)
    _cost(work / "cost_fp32_graphs.out", 0.09)
    (work / "cost_bf16.log").write_text("skipped: budget spent\n")
    sizes = MEDIUM.model_dump()
    (work / "fmnist_budget.json").write_text(json.dumps({"sizes": sizes}))
    return work


def _report(work: Path) -> tuple[str, dict[str, object]]:
    subprocess.run([sys.executable, str(REPORT), str(work)], check=True, capture_output=True)
    return (work / "gpu_suite.md").read_text(), json.loads((work / "gpu_suite.json").read_text())


def test_a_finished_comparison_is_reported_with_its_intervals_and_verdicts(
    tmp_path: Path,
) -> None:
    work = _work(tmp_path)
    (work / "fmnist_compare").mkdir()
    shutil.copy(COMMITTED, work / "fmnist_compare" / "results.json")
    text, result = _report(work)
    results = json.loads(COMMITTED.read_text())
    first = results["arms"][0]["summary"]["test_top1"]
    assert f"| `adarts` | 3 | {first['mean']:.2f} ± {first['std']:.2f} |" in text
    for comparison in results["comparisons"]:
        verdict = comparison["metrics"]["test_top1"]["verdict"]
        assert verdict in text and f"`{comparison['arm']}`, paired by seed" in text
    assert "`adarts` ≤ 1.2× `darts`: 2.00×" in text  # the faster (graphed) rows: 90 vs 45 ms
    assert "`adarts` ≤ 100 ms: 90 ms" in text
    assert "| fp32, CUDA graphs | `adarts` | 90 |" in text
    assert "| bf16, eager | failed: skipped: budget spent |" in text
    assert isinstance(result["fashion_mnist"], dict) and "differences" in result["fashion_mnist"]


def test_an_unfinished_comparison_reports_the_runs_it_finished(tmp_path: Path) -> None:
    work = _work(tmp_path)
    (work / "fmnist_compare.log").write_text("")  # killed at its limit: no last words
    done = work / "fmnist_compare" / "runs" / "adarts" / "seed0" / "retrain"
    done.mkdir(parents=True)
    (done / "summary.json").write_text(json.dumps({"test_top1": 84.5}))
    text, _ = _report(work)
    assert "Not finished (no output (killed at its time limit?))" in text
    assert "- `adarts` seed0: retrained test top-1 84.5" in text
