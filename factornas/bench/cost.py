"""``factornas bench cost``: seconds and memory of one search step, preset against preset.

The paper's cost claim is relative (A-DARTS needs "20% extra search time" over DARTS, and
factorizing is what keeps the flat twin's cost away), so the harness reports every preset's
median step time and peak memory together with their ratios to the first preset.

Each preset runs in a fresh process (:mod:`factornas.bench.cost_worker`): on the CPU its peak
memory is the growth of that process's peak resident set over the steps (everything the steps
allocate: saved activations, gradients, optimizer state, allocator slack; not the interpreter,
torch or the supernet's weights); on CUDA the growth of the caching allocator's peak over what
was allocated once the search was built. Each preset also reports the launches of one profiled
step: ``ops_per_step`` (``aten::`` operator calls), ``conv_calls_per_step`` and, on CUDA,
``kernels_per_step`` — per-op overhead is what a small step spends its time on. A busy machine
slows whatever runs at the time, so the timed steps are spread over ``rounds`` rounds of one
process per preset, the preset order rotating from round to round, and each preset's time is the
median over all its timed steps.

A preset whose process fails (most often: killed for memory, as the flat twin at the paper's
shape on a 24 GiB machine) is reported as failed, with the reason, next to the presets that
finished: one preset's failure never discards the others' measurements.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from rich.table import Table

from factornas.bench.machine import describe_machine, load_average
from factornas.errors import FactorNASError
from factornas.presets.search import search_preset
from factornas.runtime.precision import Precision
from factornas.supernet.cell import CellExecution

Schedule = Literal["sequential", "joint"]


@dataclass(frozen=True)
class CostSettings:
    """One cost benchmark: the presets and the search shape they are timed at."""

    presets: tuple[str, ...]
    channels: int = 16
    layers: int = 8
    batch_size: int = 64
    steps: int = 3
    warmup: int = 1
    schedule: Schedule = "joint"
    rounds: int = 1
    threads: int | None = None
    device: Literal["cpu", "cuda"] = "cpu"
    cuda_graphs: bool = False
    precision: Precision = "fp32"
    cell_execution: CellExecution = "auto"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if not self.presets:
            raise FactorNASError("give at least one preset, e.g. --presets darts,adarts")
        if len(set(self.presets)) != len(self.presets):
            raise FactorNASError(f"a preset is listed twice in {','.join(self.presets)}")
        for name in self.presets:
            search_preset(name)  # an unknown name fails here, listing the valid ones
        if self.rounds > self.steps:
            raise FactorNASError(
                f"--rounds {self.rounds} exceeds --steps {self.steps}: every round times at "
                "least one step of every preset"
            )

    def steps_in_round(self, round_index: int) -> int:
        """The timed steps are split as evenly as possible over the rounds."""
        return self.steps // self.rounds + (round_index < self.steps % self.rounds)


def _run_worker(job: dict[str, Any]) -> dict[str, Any]:
    """One worker process; its one line of JSON, or an error naming the preset."""
    env = dict(os.environ)
    if job["threads"] is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(job["threads"])
    done = subprocess.run(
        [sys.executable, "-m", "factornas.bench.cost_worker", json.dumps(job)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else "no output"
        if done.returncode == -9:
            reason = "killed (SIGKILL; out of memory?)"
        raise FactorNASError(
            f"preset {job['preset']!r} failed (exit status {done.returncode}): {reason}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cost(settings: CostSettings, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Measure every preset; returns the report (what ``--json`` prints)."""
    load_start = load_average()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in settings.presets}
    failures: dict[str, str] = {}
    count = len(settings.presets)
    for round_index in range(settings.rounds):
        order = [settings.presets[(round_index + k) % count] for k in range(count)]
        for name in order:
            if name in failures:  # a preset that failed once would fail again
                continue
            job = {
                "preset": name,
                "channels": settings.channels,
                "layers": settings.layers,
                "batch_size": settings.batch_size,
                "schedule": settings.schedule,
                "warmup": settings.warmup,
                "steps": settings.steps_in_round(round_index),
                "threads": settings.threads,
                "device": settings.device,
                "cuda_graphs": settings.cuda_graphs,
                "precision": settings.precision,
                "cell_execution": settings.cell_execution,
                "channels_last": settings.channels_last,
            }
            try:
                run = _run_worker(job)
            except FactorNASError as error:
                failures[name] = str(error)
                log(f"round {round_index + 1}/{settings.rounds} {name}: {error}")
                continue
            runs[name].append(run)
            log(
                f"round {round_index + 1}/{settings.rounds} {name}: "
                + ", ".join(f"{s:.2f}" for s in run["step_s"])
                + " s/step"
            )

    rows = [
        _failed(name, failures[name]) if name in failures else _summarize(name, runs[name])
        for name in settings.presets
    ]
    first = rows[0]
    for row in rows:
        measured = "error" not in row and "error" not in first
        row["step_ratio"] = row["step_s"] / first["step_s"] if measured else None
        row["peak_ratio"] = (
            row["peak_mb"] / first["peak_mb"] if measured and first["peak_mb"] else None
        )
    # The threads a worker used (torch's default unless --threads); with none finished, the
    # parent's default, which is what the workers would have had.
    threads = next((int(r[0]["threads"]) for r in runs.values() if r), None)
    machine = describe_machine(threads or settings.threads or torch.get_num_threads())
    machine = machine.model_copy(
        update={"load_average_start": load_start, "load_average_end": load_average()}
    )
    return {
        "settings": asdict(settings),
        "machine": machine.model_dump(mode="json"),
        "presets": rows,
    }


def _summarize(name: str, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median step time over every timed step; the largest peak growth of any process; the
    launch counts of the first process (a step's ops do not depend on the round)."""
    steps = [s for run in runs for s in run["step_s"]]
    cpu = [s for run in runs for s in run["cpu_s"]]
    peak = max(_peak_growth(run) for run in runs)
    return {
        "preset": name,
        "step_s": statistics.median(steps),
        "cpu_s": statistics.median(cpu),
        "peak_mb": peak / 2**20,
        "weights": runs[0]["weights"],
        "arch_parameters": runs[0]["arch_parameters"],
        "ops_per_step": runs[0]["ops_per_step"],
        "conv_calls_per_step": runs[0]["conv_calls_per_step"],
        "kernels_per_step": runs[0].get("kernels_per_step"),
        "graphed": runs[0].get("graphed", False),
        "step_s_all": steps,
    }


def _peak_growth(run: dict[str, Any]) -> int:
    """CUDA: the allocator's peak growth; CPU: the resident set's."""
    if "peak_allocated_bytes" in run:
        return int(run["peak_allocated_bytes"])
    return int(run["peak_rss_bytes"] - run["start_rss_bytes"])


def _failed(name: str, reason: str) -> dict[str, Any]:
    """The row of a preset whose process failed: the reason instead of numbers."""
    return {
        "preset": name,
        "error": reason,
        "step_s": None,
        "cpu_s": None,
        "peak_mb": None,
        "weights": None,
        "arch_parameters": None,
        "ops_per_step": None,
        "conv_calls_per_step": None,
        "kernels_per_step": None,
        "step_s_all": [],
    }


def summary_table(report: dict[str, Any]) -> Table:
    s = report["settings"]
    first = report["presets"][0]["preset"]
    table = Table(
        title=(
            f"one search step: C={s['channels']}, {s['layers']} cells, batch {s['batch_size']}, "
            f"{s['schedule']} schedule, {s['device']}, "
            f"{report['machine']['threads_per_run']} thread(s)"
        )
    )
    cuda = s["device"] == "cuda"
    columns = ["preset", "step s", f"× {first}", "peak MB", f"× {first}", "ops", "convs"]
    columns += ["kernels"] * cuda + ["weights", "arch params"]
    for column in columns:
        table.add_column(column, justify="left" if column == "preset" else "right")
    for row in report["presets"]:
        if "error" in row:
            table.add_row(row["preset"], "failed", *["–"] * (len(columns) - 2))
            continue
        step_ratio = "–" if row["step_ratio"] is None else f"{row['step_ratio']:.2f}"
        peak_ratio = "–" if row["peak_ratio"] is None else f"{row['peak_ratio']:.2f}"
        launches = ("ops_per_step", "conv_calls_per_step", "kernels_per_step")[: 2 + cuda]
        table.add_row(
            row["preset"],
            f"{row['step_s']:.2f}",
            step_ratio,
            f"{row['peak_mb']:.0f}",
            peak_ratio,
            *("–" if row[key] is None else f"{row[key]:,}" for key in launches),
            f"{row['weights']:,}",
            f"{row['arch_parameters']:,}",
        )
    failed = [row["error"] for row in report["presets"] if "error" in row]
    if failed:
        table.caption = "; ".join(failed)
    return table


__all__ = ["CostSettings", "run_cost", "summary_table"]
