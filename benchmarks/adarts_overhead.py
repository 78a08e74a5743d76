"""Where A-DARTS's extra step time over DARTS goes, measured side by side in one process.

Run: ``python benchmarks/adarts_overhead.py [--schedule joint] [--steps 5] [--batch-size 64]``.

Four arms at the paper's search shape (C=16, 8 cells, CIFAR-shaped random tensors), each with
its own supernet and N-level optimizer, step in a rotating order so that a change of machine
load hits every arm alike:

* ``darts``: the ReLU-only space;
* ``adarts``: the factorized space, as a search runs it;
* ``adarts, RReLU eval``: the activation candidates in eval mode (RReLU at its mean slope, no
  random numbers; batch norm stays in training mode): the difference to ``adarts`` is the
  cost of RReLU's training-time noise;
* ``adarts, no β gradient``: only the op level steps, so the architecture pass treats β as a
  constant and, as for ``darts``, records nothing for the edges fed by the stem: the
  difference to ``adarts`` is the cost of β's gradient.

What is left between ``darts`` and the cheaper of the last two is the mixed activation itself.
Printed per arm: the median wall and process CPU seconds per step, both ratios to ``darts``
and every step's wall time, whose spread shows how far the medians can be trusted on a shared
machine (docs/performance.md). Step 0 maps each arm's memory and is not timed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from factornas.bench.cost_worker import CIFAR_SIZE, random_batch, ready_to_step
from factornas.presets.search import search_preset
from factornas.search.optimizer import MultiLevelOptimizer
from factornas.supernet.edge import MixedEdge


@dataclass
class Arm:
    """One supernet and optimizer, and how to set it up before each of its steps."""

    optimizer: MultiLevelOptimizer
    epoch: int
    prepare: Callable[[], None] = lambda: None
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def _activation_modules(network: nn.Module) -> list[nn.Module]:
    """The input-factor candidates of every edge (the mixed activations' modules)."""
    return [
        module
        for edge in network.modules()
        if isinstance(edge, MixedEdge)
        for module in edge.inputs.modules()
        if not isinstance(module, (nn.ModuleDict, nn.ModuleList))
    ]


def _arm(preset: str, schedule: str, batch_size: int) -> Arm:
    optimizer, epoch = ready_to_step(
        search_preset(preset).replace(schedule=schedule, batch_size=batch_size)
    )
    return Arm(optimizer, epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", choices=("sequential", "joint"), default="joint")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per arm")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    arms = {name: _arm(name, args.schedule, args.batch_size) for name in ("darts", "adarts")}
    eval_mode = _arm("adarts", args.schedule, args.batch_size)
    activations = _activation_modules(eval_mode.optimizer.network)

    def activations_in_eval_mode() -> None:
        for module in activations:
            module.eval()

    eval_mode.prepare = activations_in_eval_mode
    arms["adarts, RReLU eval"] = eval_mode
    alpha_only = _arm("adarts", args.schedule, args.batch_size)
    levels = alpha_only.optimizer.levels
    op_group = alpha_only.optimizer.network.arch.space.cell("normal").op.name
    alpha_only.optimizer.levels = [level for level in levels if level.name == op_group]
    arms["adarts, no β gradient"] = alpha_only

    generator = torch.Generator().manual_seed(0)
    train, val = (random_batch(args.batch_size, CIFAR_SIZE, generator) for _ in range(2))
    names = list(arms)
    for step in range(args.steps + 1):
        for name in names[step % len(names) :] + names[: step % len(names)]:
            arm = arms[name]
            arm.prepare()
            wall, cpu = time.perf_counter(), time.process_time()
            arm.optimizer.step(train, val, epoch=arm.epoch, step=step)
            if step:
                arm.wall.append(time.perf_counter() - wall)
                arm.cpu.append(time.process_time() - cpu)

    base = arms["darts"]
    base_wall, base_cpu = statistics.median(base.wall), statistics.median(base.cpu)
    print(f"{args.schedule} schedule, batch {args.batch_size}, {args.steps} steps per arm")
    header = f"{'arm':24s} {'wall s':>7s} {'× darts':>8s} {'CPU s':>7s} {'× darts':>8s}"
    print(f"{header}  wall s of each step")
    for name, arm in arms.items():
        wall, cpu = statistics.median(arm.wall), statistics.median(arm.cpu)
        print(
            f"{name:24s} {wall:7.2f} {wall / base_wall:8.3f} {cpu:7.2f} {cpu / base_cpu:8.3f}"
            f"  {' '.join(f'{s:.2f}' for s in arm.wall)}"
        )


if __name__ == "__main__":
    main()
