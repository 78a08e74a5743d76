"""The table of ``benchmarks/gpu_suite.sh``: reads the stages' raw outputs in WORK and writes
``gpu_suite.md`` and ``gpu_suite.json`` there, a failed or skipped stage reported with the last
line of its log. Targets (issues #15, #23): an ``adarts`` step ≤ 100 ms and ≤ 1.2× ``darts``,
``pc_darts`` ≤ 80 ms, the 25-epoch CIFAR-10 search ≤ 20 min. The Fashion-MNIST comparison is
reported from its ``results.json`` when it finished, else from the runs it finished.

Run: ``python benchmarks/gpu_suite_report.py WORK --search-subset N``.
"""

from __future__ import annotations

import argparse
import json
import math
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
SEARCH_BATCH = 64
TARGET_STEP_MS = {"adarts": 100.0, "pc_darts": 80.0}
TARGET_ADARTS_OVER_DARTS = 1.2
TARGET_SEARCH_MIN = 20.0


def _json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _whole(path: Path) -> Any | None:
    """A JSON file written over several lines (``results.json``)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
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
    result["graphs_check"] = _last_line(out / "graphs_check.out") or _why(out, "graphs_check")
    result["weighted_sums"] = _json(out / "weighted_sums.out") or {
        "error": _why(out, "weighted_sums")
    }
    result["fashion_mnist"] = fashion_mnist(out)
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


def fashion_mnist(out: Path) -> dict[str, Any]:
    """The comparison's sizes, and each arm's retrained test top-1 with the paired 95 %
    interval and verdict (finished), or every finished run's test top-1 (not finished)."""
    compare = out / "fmnist_compare"
    found: dict[str, Any] = {"sizes": _json(out / "fmnist_budget.json")}
    results = _whole(compare / "results.json")
    if results is not None:
        found["arms"] = [
            {"arm": arm["key"], **{k: arm["summary"]["test_top1"][k] for k in ("n", "mean", "std")},
             "values": arm["summary"]["test_top1"]["values"],
             "val_top1": arm["summary"]["val_top1"]["mean"],
             "step_s": arm["summary"]["step_seconds"]["mean"]}
            for arm in results["arms"]
        ]  # fmt: skip
        found["differences"] = [
            {"arm": c["arm"], "against": c["against"], **c["metrics"]["test_top1"]}
            for c in results["comparisons"]
            if "test_top1" in c["metrics"]
        ]
        found["wall_seconds"] = results["wall_seconds"]
        return found
    finished = sorted(compare.glob("runs/*/seed*/retrain/summary.json"))
    found["finished"] = [
        {"arm": path.parents[2].name, "seed": path.parents[1].name,
         "test_top1": (_whole(path) or {}).get("test_top1")}
        for path in finished
    ]  # fmt: skip
    found["error"] = _why(out, "fmnist_compare")
    return found


def _render_fashion(found: dict[str, Any]) -> list[str]:
    sizes = (found.get("sizes") or {}).get("sizes")
    lines = ["", "## A-DARTS vs the fixed-ReLU arm on Fashion-MNIST (search, then retrain)", ""]
    if sizes is not None:
        search, retrain = sizes["search"], sizes["retrain"]
        lines.append(
            f"Search C={search['channels']}, {search['layers']} cells, batch "
            f"{search['batch_size']}, {search['epochs']} epochs on {search['subset']} images "
            f"(half searched on, half validated); retraining C={retrain['channels']}, "
            f"{retrain['layers']} cells, {retrain['epochs']} epochs on {retrain['subset']} "
            f"images, tested on {retrain['test_subset'] or 'all 10,000'} (sizes from the "
            "measured step time: benchmarks/fashion_budget.py)."
        )
        lines.append("")
    if "arms" in found:
        lines += ["| arm | seeds | test top-1 % (mean ± sd) | per seed | supernet val % |",
                  "|---|---:|---:|---|---:|"]  # fmt: skip
        for arm in found["arms"]:
            std = arm["std"] or 0.0
            seeds = ", ".join(f"{v:.2f}" for v in arm["values"])
            lines.append(
                f"| `{arm['arm']}` | {arm['n']} | {arm['mean']:.2f} ± {std:.2f} | {seeds} | "
                f"{arm['val_top1']:.1f} |"
            )
        lines.append("")
        for diff in found["differences"]:
            interval = "–" if diff["low"] is None else f"[{diff['low']:+.2f}, {diff['high']:+.2f}]"
            lines.append(
                f"- `{diff['against']}` − `{diff['arm']}`, paired by seed: {diff['mean']:+.2f} "
                f"points, 95 % interval {interval}: {diff['verdict']}."
            )
        lines.append(f"- {found['wall_seconds']:.0f} s for the whole comparison.")
        return lines
    lines.append(f"Not finished ({found['error']}); the runs that finished:")
    for run in found["finished"]:
        lines.append(f"- `{run['arm']}` {run['seed']}: retrained test top-1 {run['test_top1']}")
    if not found["finished"]:
        lines.append("- none")
    return lines


def _targets(result: dict[str, Any]) -> list[str]:
    """The step targets against the fastest measured variant of each preset."""
    best: dict[str, float] = {}
    for row in result["cost"]:
        step = row.get("step_s")
        if isinstance(step, int | float) and row.get("stage", "").startswith("cost_fp32"):
            best[row["preset"]] = min(best.get(row["preset"], math.inf), step)
    lines = ["", "Targets (fastest fp32 variant measured):"]
    for preset, target in TARGET_STEP_MS.items():
        have = best.get(preset)
        lines.append(
            f"- `{preset}` ≤ {target:.0f} ms: "
            + ("not measured" if have is None else f"{1000 * have:.0f} ms")
        )
    if "adarts" in best and "darts" in best:
        ratio = best["adarts"] / best["darts"]
        lines.append(f"- `adarts` ≤ {TARGET_ADARTS_OVER_DARTS}× `darts`: {ratio:.2f}×")
        steps = EPOCHS * (CIFAR_TRAIN // 2 // SEARCH_BATCH)
        lines.append(
            f"- {EPOCHS}-epoch CIFAR-10 search ≤ {TARGET_SEARCH_MIN:.0f} min: "
            f"{steps * best['adarts'] / 60:.1f} min of `adarts` steps ({steps:,} steps, "
            "evaluation excluded)"
        )
    return lines


def render(result: dict[str, Any]) -> str:
    env = result["environment"] or {}
    lines = [
        "# GPU suite (issues #15, #23)",
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
    lines += _targets(result)
    lines += _render_fashion(result["fashion_mnist"])
    sums = result["weighted_sums"]
    lines += ["", "Weighted sums of a grouped cell (benchmarks/weighted_sum_layout.py): "]
    lines[-1] += (
        f"failed: {sums['error']}"
        if "error" in sums
        else f"per-edge weights {sums['median_ms']['per_edge']:.3f} ms, per-channel vectors "
        f"{sums['median_ms']['per_channel']:.3f} ms (ratio "
        f"{sums['ratio_per_edge_over_per_channel']:.2f}×, on {sums['device']})."
    )
    lines += ["", f"Graphed = eager check of `adarts`: {result['graphs_check']}"]
    lines += ["", f"GPU tests: {result['gpu_tests']}", ""]
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
