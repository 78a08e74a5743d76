"""The sizes of the GPU suite's real-data comparison, from the step time the suite just measured.

Run (by ``benchmarks/gpu_suite.sh``): ``python benchmarks/fashion_budget.py --cost COST_JSON
[--graphed-cost COST_JSON] --seconds LIMIT --jobs J --pairs P``; prints the ``bench compare``
size flags on one line (stdout) and writes how it got them as JSON to ``--explain PATH``.

The comparison (A-DARTS against A-DARTS with the activation fixed to ReLU, several seeds each,
search then retrain, on Fashion-MNIST) must finish inside its stage's ``LIMIT`` seconds, all
``P`` (arm, seed) pairs ``J`` at a time on the one GPU. The search and retraining networks keep
the ``medium`` budget's shape (C = 8, 5 cells, batch 64: the smallest whose supernets learn,
docs/benchmarks.md); what the time decides is how many images and epochs they see:

* a search step of that shape is estimated from the measured ``adarts`` step at the paper's
  shape (C = 16, 8 cells, batch 64) scaled by cells, 5/8: on a GPU the eager step is
  launch-bound (docs/performance.md), so its time follows the launches, which follow the
  cells, while channels and batch hardly matter at these sizes;
* ``J`` processes share the GPU: one eager step kept it about a quarter busy (issue #23's
  H200 profile), so up to :data:`GPU_SHARE` run side by side without slowing each other and
  more slow down in proportion;
* of the limit, :data:`PLANNED` is planned (the rest is a margin for these estimates), less
  :data:`PAIR_OVERHEAD_S` per wave of pairs (two processes: interpreter, torch, CUDA and data
  start-up), and :data:`SEARCH_SHARE` of what is left goes to the search;
* every search epoch also evaluates the supernet on its validation half, and every retraining
  epoch the network on the test images: a forward-only batch counts :data:`FORWARD_ONLY` of an
  eager training step (evaluations are never graphed), and a retraining step
  :data:`RETRAIN_STEP` of a search step (one op per kept edge against every candidate of every
  edge);
* with ``--graphed-cost`` (the runs replay their steps from CUDA graphs) the training steps
  take the graphed step's time and each process :data:`CAPTURE_S` more for its captures.

``--tiny`` gives the smallest sizes instead, for a plumbing run of the suite on a CPU.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from factornas.bench.budgets import MEDIUM, SIZE_FLAGS, Sizes, apply_overrides, format_size

#: The ``adarts`` step measured on an H200 before issue #23 (the slowest of 789–981 ms): the
#: estimate when the suite's cost stage has no number.
FALLBACK_STEP_S = 0.981
PAPER_CELLS = 8
GPU_SHARE = 4
PLANNED = 0.75
PAIR_OVERHEAD_S = 30.0
CAPTURE_S = 10.0
SEARCH_SHARE = 0.6
FORWARD_ONLY = 1 / 3
RETRAIN_STEP = 1 / 3
SEARCH_EPOCHS = 4
RETRAIN_EPOCHS = 4
#: Fewest search steps per epoch and retraining images per epoch planned, whatever the time.
MIN_SEARCH_STEPS = 4
MIN_RETRAIN_IMAGES = 512
TEST_IMAGES = 10_000
TRAIN_IMAGES = 60_000
#: The test split's share of a retraining's time at most; fewer test images beyond it.
TEST_SHARE = 0.3
TINY = {
    "search-epochs": 1, "search-subset": 32, "search-channels": 2, "search-layers": 3,
    "search-batch-size": 8, "retrain-epochs": 1, "retrain-subset": 64, "retrain-channels": 2,
    "retrain-layers": 3, "retrain-batch-size": 16, "test-subset": 64,
}  # fmt: skip


def measured_step(cost: Path | None, preset: str = "adarts") -> float | None:
    """``preset``'s median step seconds in a ``bench cost --json`` output, if it has one."""
    if cost is None:
        return None
    try:
        report = json.loads(cost.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None
    for row in report.get("presets", []):
        if row.get("preset") == preset and isinstance(row.get("step_s"), int | float):
            return float(row["step_s"])
    return None


def plan(
    eager_s: float, seconds: float, jobs: int, pairs: int, graphed_s: float | None = None
) -> tuple[Sizes, dict[str, Any]]:
    """The sizes that fit ``pairs`` (arm, seed) pairs, ``jobs`` at a time, into ``seconds``,
    given the paper-shape ``adarts`` step eager (``eager_s``) and, when the runs are graphed,
    replayed (``graphed_s``); and the arithmetic behind them."""
    search, retrain = MEDIUM.search, MEDIUM.retrain
    waves = math.ceil(pairs / jobs)
    slowdown = max(1.0, min(jobs, pairs) / GPU_SHARE)
    scale = search.layers / PAPER_CELLS * slowdown
    train_step = (graphed_s if graphed_s is not None else eager_s) * scale
    forward = eager_s * scale * FORWARD_ONLY
    overhead = PAIR_OVERHEAD_S + (2 * CAPTURE_S if graphed_s is not None else 0.0)
    per_pair = max(seconds * PLANNED / waves - overhead, 1.0)
    search_seconds = per_pair * SEARCH_SHARE
    retrain_seconds = per_pair - search_seconds
    # Per search epoch: n training steps and n validation batches (the other half).
    steps = search_seconds / (SEARCH_EPOCHS * (train_step + forward))
    steps = max(MIN_SEARCH_STEPS, math.floor(steps))
    retrain_step, retrain_forward = train_step * RETRAIN_STEP, forward * RETRAIN_STEP
    test = TEST_IMAGES
    test_seconds = RETRAIN_EPOCHS * test / retrain.batch_size * retrain_forward
    if test_seconds > TEST_SHARE * retrain_seconds:
        test = max(
            retrain.batch_size, math.floor(test * TEST_SHARE * retrain_seconds / test_seconds)
        )
        test_seconds = RETRAIN_EPOCHS * test / retrain.batch_size * retrain_forward
    train_steps = (retrain_seconds - test_seconds) / (RETRAIN_EPOCHS * retrain_step)
    images = min(
        TRAIN_IMAGES, max(MIN_RETRAIN_IMAGES, math.floor(train_steps) * retrain.batch_size)
    )
    sizes = apply_overrides(
        MEDIUM,
        {
            "search-epochs": SEARCH_EPOCHS,
            "search-subset": 2 * steps * search.batch_size,
            "retrain-epochs": RETRAIN_EPOCHS,
            "retrain-subset": images,
            "test-subset": None if test >= TEST_IMAGES else test,
        },
    )
    explained = {
        "adarts_step_s_paper_shape": {"eager": eager_s, "graphed": graphed_s},
        "limit_s": seconds,
        "jobs": jobs,
        "pairs": pairs,
        "waves": waves,
        "gpu_slowdown": slowdown,
        "search_step_s_estimate": train_step,
        "retrain_step_s_estimate": retrain_step,
        "seconds_per_pair_planned": per_pair,
        "search_steps_per_epoch": steps,
    }
    return sizes, explained


def flags(sizes: Sizes) -> str:
    """``sizes`` as the ``bench compare`` size flags, every one given."""
    parts = []
    for flag, (part, field) in SIZE_FLAGS.items():
        parts.append(f"--{flag} {format_size(getattr(getattr(sizes, part), field))}")
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost", type=Path, help="a bench cost --json output with adarts")
    parser.add_argument(
        "--graphed-cost", type=Path, help="the same with --cuda-graphs: the runs are graphed"
    )
    parser.add_argument("--seconds", type=float, required=True, help="the stage's time limit")
    parser.add_argument("--jobs", type=int, required=True, help="pairs run at once")
    parser.add_argument("--pairs", type=int, required=True, help="arms × seeds")
    parser.add_argument("--explain", type=Path, help="write the arithmetic here (JSON)")
    parser.add_argument("--tiny", action="store_true", help="the smallest sizes (a CPU run)")
    args = parser.parse_args()
    if args.tiny:
        sizes = apply_overrides(MEDIUM, TINY)
        explained: dict[str, Any] = {"tiny": True}
    else:
        eager = measured_step(args.cost)
        graphed = measured_step(args.graphed_cost) if args.graphed_cost is not None else None
        if args.graphed_cost is not None and graphed is None:
            graphed = eager or FALLBACK_STEP_S  # graphed, but unmeasured: as slow as eager
        sizes, explained = plan(
            eager or FALLBACK_STEP_S, args.seconds, args.jobs, args.pairs, graphed
        )
        explained["eager_step_measured"] = eager is not None
    if args.explain is not None:
        args.explain.write_text(json.dumps({**explained, "sizes": sizes.model_dump()}) + "\n")
    print(flags(sizes))


if __name__ == "__main__":
    main()
