"""``factornas bench cost``: a real run at a tiny shape, the round-robin, clean failures."""

from __future__ import annotations

import json
import statistics
from typing import Any

import pytest
import torch
from rich.console import Console

from factornas.bench import cost
from factornas.bench.cost import CostSettings, run_cost, summary_table
from factornas.bench.cost_worker import image_size
from factornas.cli import main
from factornas.errors import FactorNASError
from factornas.presets.search import search_preset

TINY = ["--channels", "4", "--layers", "3", "--batch-size", "8", "--steps", "2"]


@pytest.mark.slow
def test_tiny_run_reports_sane_numbers_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    # Two presets: a third only profiles another 50k-op step (the flat twin's sizes are the
    # supernet tests' business).
    argv = ["bench", "cost", "--presets", "darts,adarts", *TINY, "--warmup", "0"]
    assert main([*argv, "--threads", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {row["preset"]: row for row in report["presets"]}
    assert [row["preset"] for row in report["presets"]] == ["darts", "adarts"]
    assert rows["darts"]["step_ratio"] == 1.0 and rows["darts"]["peak_ratio"] == 1.0
    for row in rows.values():
        assert len(row["step_s_all"]) == 2
        assert 0 < row["step_s"] == pytest.approx(statistics.median(row["step_s_all"]))
        assert row["cpu_s"] > 0 and row["peak_mb"] >= 0
        assert row["step_ratio"] == pytest.approx(row["step_s"] / rows["darts"]["step_s"])
    assert rows["darts"]["arch_parameters"] == 224 and rows["adarts"]["arch_parameters"] == 476
    assert rows["adarts"]["weights"] > rows["darts"]["weights"]
    assert report["machine"]["threads_per_run"] == 1
    assert report["settings"]["batch_size"] == 8
    # One profiled step's launches: every op calls a few more, every mixed edge convolves.
    assert report["settings"]["device"] == "cpu"
    for row in rows.values():
        assert row["ops_per_step"] > 10 * row["conv_calls_per_step"] > 0
        assert row["kernels_per_step"] is None  # counted on CUDA only
    assert rows["adarts"]["ops_per_step"] > rows["darts"]["ops_per_step"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "cost", "--presets", "darts", *TINY, "--device", "cuda"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "CUDA is not available" in lines[0]


def test_unknown_preset_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "cost", "--presets", "darts,nope", *TINY]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error:") and "'nope'" in lines[0] and "adarts" in lines[0]


def test_rounds_rotate_the_order_and_split_the_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []

    def fake_worker(job: dict[str, Any]) -> dict[str, Any]:
        calls.append((job["preset"], job["steps"]))
        seconds = {"darts": 1.0, "adarts": 1.5}[job["preset"]]
        return {
            "preset": job["preset"], "weights": 10, "arch_parameters": 2,
            "step_s": [seconds] * job["steps"], "cpu_s": [seconds] * job["steps"],
            "start_rss_bytes": 0, "peak_rss_bytes": int(seconds * 2**20), "threads": 1,
            "ops_per_step": 1000, "conv_calls_per_step": 40,
        }  # fmt: skip

    monkeypatch.setattr(cost, "_run_worker", fake_worker)
    report = run_cost(CostSettings(presets=("darts", "adarts"), steps=5, rounds=2))
    assert calls == [("darts", 3), ("adarts", 3), ("adarts", 2), ("darts", 2)]
    adarts = report["presets"][1]
    assert adarts["step_ratio"] == 1.5 and adarts["peak_ratio"] == 1.5
    assert len(adarts["step_s_all"]) == 5
    console = Console(record=True, width=120)
    console.print(summary_table(report))
    text = console.export_text()
    assert "adarts" in text and "1.50" in text and "1,000" in text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"presets": ()}, "at least one preset"),
        ({"presets": ("darts", "darts")}, "listed twice"),
        ({"presets": ("darts",), "steps": 2, "rounds": 3}, "--rounds 3 exceeds --steps 2"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(FactorNASError, match=message):
        CostSettings(**settings)


def test_a_failed_preset_keeps_the_others_measurements(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flat twin killed for memory must not discard darts's and adarts's numbers."""

    def worker(job: dict[str, Any]) -> dict[str, Any]:
        if job["preset"] == "flat40":
            raise FactorNASError("preset 'flat40' failed (exit status -9): killed (SIGKILL)")
        seconds = {"darts": 2.0, "adarts": 2.5}[job["preset"]]
        return {
            "preset": job["preset"], "weights": 10, "arch_parameters": 2,
            "step_s": [seconds] * job["steps"], "cpu_s": [seconds] * job["steps"],
            "start_rss_bytes": 0, "peak_rss_bytes": 2**20, "threads": 1,
            "ops_per_step": 1000, "conv_calls_per_step": 40,
        }  # fmt: skip

    monkeypatch.setattr(cost, "_run_worker", worker)
    assert main(["bench", "cost", "--presets", "darts,adarts,flat40", *TINY, "--json"]) == 1
    rows = {row["preset"]: row for row in json.loads(capsys.readouterr().out)["presets"]}
    assert rows["adarts"]["step_ratio"] == 1.25 and rows["adarts"]["peak_ratio"] == 1.0
    assert "killed" in rows["flat40"]["error"] and rows["flat40"]["step_s"] is None
    assert rows["flat40"]["step_ratio"] is None

    assert main(["bench", "cost", "--presets", "flat40,darts", *TINY]) == 1
    table = " ".join(capsys.readouterr().out.split())
    assert "flat40 │ failed" in table and "exit status -9" in table and "darts" in table


def test_presets_are_timed_at_their_stems_input_size() -> None:
    """The ImageNet stem downsamples 8×: timing it on 32×32 images would leave 4×4 cells."""
    assert image_size(search_preset("adarts")) == 32
    assert image_size(search_preset("pc_darts")) == 32
    assert image_size(search_preset("apc_darts")) == 224
