"""The table of ``benchmarks/gpu_suite.sh``: reads the stages' raw outputs in OUT and writes
``gpu_suite.md`` and ``gpu_suite.json`` there, a failed or skipped stage reported with the last
line of its log. Targets (issue #15): an ``adarts`` step ≤ 100 ms, the 25-epoch CIFAR-10 search
≤ 20 min.

Run: ``python benchmarks/gpu_suite_report.py OUT --search-subset N``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

#: The bench-cost stages of the suite and what each varies.
COST_STAGES = {
    "cost_fp32": "fp32, eager",
    "cost_fp32_graphs": "fp32, CUDA graphs",
    "cost_bf16": "bf16, eager",
    "cost_bf16_graphs": "bf16, CUDA graphs",
    "cost_channels_last": "fp32, channels-last, eager",
}
#: CIFAR-10's training images: a whole search epoch uses all of them (half for validation).
CIFAR_TRAIN = 50_000
EPOCHS = 25
TARGET_STEP_MS = 100.0
TARGET_SEARCH_MIN = 20.0


def _json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _last_line(path: Path) -> str | None:
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None


def _why(out: Path, stage: str) -> str:
    try:
        lines = [ln for ln in (out / f"{stage}.log").read_text().splitlines() if ln.strip()]
    except OSError:
        return "did not run"
    return lines[-1] if lines else "no output (killed at its time limit?)"


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{1000 * seconds:.0f}"


def collect(out: Path, subset: int) -> dict[str, Any]:
    """Every stage's numbers, or why it has none."""
    result: dict[str, Any] = {"environment": _json(out / "environment.json"), "cost": []}
    for stage, label in COST_STAGES.items():
        report = _json(out / f"{stage}.out")
        if report is None:
            result["cost"].append({"stage": stage, "variant": label, "error": _why(out, stage)})
            continue
        for row in report["presets"]:
            result["cost"].append({"stage": stage, "variant": label, **row})
    reference = _json(out / "reference_darts.out")
    result["reference_darts"] = (
        {"step_s": statistics.median(reference["step_s"]), "peak_mb": reference["peak_mb"]}
        if reference
        else {"error": _why(out, "reference_darts")}
    )
    result["gpu_tests"] = _last_line(out / "gpu_tests.out") or _why(out, "gpu_tests")
    record = _json(out / "search_epoch.metrics.jsonl")
    if record is None:
        result["search_epoch"] = {"error": _why(out, "search_epoch"), "subset": subset}
    else:
        full_epoch = record["seconds"] * CIFAR_TRAIN / subset
        result["search_epoch"] = {
            "subset": subset,
            "seconds": record["seconds"],
            "step_seconds": record["step_seconds"],
            "full_epoch_seconds_estimate": full_epoch,
            "search_minutes_estimate": EPOCHS * full_epoch / 60,
        }
    return result


def render(result: dict[str, Any]) -> str:
    env = result["environment"] or {}
    lines = [
        "# GPU suite (issue #15)",
        "",
        f"{env.get('gpu')}, torch {env.get('torch')} (CUDA {env.get('cuda')}). Search step at "
        "C=16, 8 cells, batch 64, joint schedule, 32×32 random images; median of 5 timed steps "
        "after 3 warm-up steps (2 eager + the capture, with graphs).",
        "",
        "| variant | preset | step ms | peak MB | kernels/step | graphed |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in result["cost"]:
        if "error" in row:
            lines.append(f"| {row['variant']} | failed: {row['error']} | | | | |")
            continue
        peak = "–" if row.get("peak_mb") is None else f"{row['peak_mb']:,.0f}"
        kernels = row.get("kernels_per_step")
        lines.append(
            f"| {row['variant']} | `{row['preset']}` | {_ms(row.get('step_s'))} | {peak} | "
            f"{'–' if kernels is None else f'{kernels:,}'} | {row.get('graphed')} |"
        )
    ref = result["reference_darts"]
    lines += ["", "Reference DARTS (quark0/darts, first order, same shape): "]
    lines[-1] += (
        f"failed: {ref['error']}"
        if "error" in ref
        else f"{_ms(ref['step_s'])} ms/step, peak {ref['peak_mb']:,.0f} MB."
    )
    search = result["search_epoch"]
    lines += ["", f"Search epoch of `adarts` on fake CIFAR-10 (`--subset {search['subset']}`): "]
    if "error" in search:
        lines[-1] += f"failed: {search['error']}"
    else:
        lines[-1] += (
            f"{search['seconds']:.0f} s (median step {_ms(search['step_seconds'])} ms, "
            "validation included); a whole epoch ≈ "
            f"{search['full_epoch_seconds_estimate']:.0f} s, so {EPOCHS} epochs ≈ "
            f"{search['search_minutes_estimate']:.1f} min (target ≤ {TARGET_SEARCH_MIN:.0f})."
        )
    lines += ["", f"GPU tests: {result['gpu_tests']}"]
    lines += ["", f"Target: an `adarts` step ≤ {TARGET_STEP_MS:.0f} ms.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--search-subset", type=int, default=CIFAR_TRAIN)
    args = parser.parse_args()
    result = collect(args.out, args.search_subset)
    (args.out / "gpu_suite.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "gpu_suite.md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
