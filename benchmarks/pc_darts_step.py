"""PC-DARTS vs A-PC-DARTS: seconds per search step on CIFAR-shaped random tensors.

Run: ``OMP_NUM_THREADS=1 python benchmarks/pc_darts_step.py`` (options: ``--help``). On a
machine shared with other jobs, one thread per process gives steady times; two OpenMP threads
on two busy cores made the same step 2–10× slower and erratic.

Both spaces use partial channels K=4 and edge normalization (the ``pc_darts`` space preset);
A-PC-DARTS adds the nine activations (β) to it. One step is one iteration of Algorithm 1 after
warm-up, exactly as the search runs it (:class:`MultiLevelOptimizer`): the weight step on a
train batch, then every architecture level on a validation batch. PC-DARTS has one level (α,
with the edge weights), A-PC-DARTS two (α, β): the sequential schedule therefore makes one
more validation forward/backward, the joint schedule does not.

The two networks are timed in one process, steps interleaved (PC, A-PC, PC, ...), so a change
of machine load hits both alike; the table gives the median and the minimum over the timed
steps (on a shared machine the minimum is the better estimate of the uncontended time).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from factornas.presets.spaces import space_preset
from factornas.search.config import SearchConfig
from factornas.search.optimizer import MultiLevelOptimizer
from factornas.space.config import SearchSpace
from factornas.supernet.network import SearchNetwork


def apc_darts_k(partial_channels: int) -> SearchSpace:
    """The ``apc_darts`` space (op × nine activations) with ``partial_channels`` = K."""
    raw = space_preset("apc_darts").model_dump()
    raw.update(name=f"apc_darts_k{partial_channels}", partial_channels=partial_channels)
    return SearchSpace.model_validate(raw)


def make_step(
    space: SearchSpace, args: argparse.Namespace, seed: int
) -> tuple[
    MultiLevelOptimizer, tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]
]:
    """A supernet, its optimizer with every level active, and one train and one val batch."""
    torch.manual_seed(seed)
    network = SearchNetwork(space, channels=args.channels, layers=args.layers, num_classes=10)
    config = SearchConfig(
        space=space, channels=args.channels, layers=args.layers, schedule=args.schedule
    )
    optimizer = MultiLevelOptimizer(network, config)
    g = torch.Generator().manual_seed(seed)
    shape = (args.batch, 3, args.image, args.image)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(shape, generator=g), torch.randint(0, 10, (args.batch,), generator=g)

    return optimizer, batch(), batch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--image", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per network")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per network")
    parser.add_argument("--schedule", choices=["sequential", "joint"], default="sequential")
    args = parser.parse_args()

    rows = {"PC-DARTS": space_preset("pc_darts"), "A-PC-DARTS (K=4)": apc_darts_k(4)}
    setups = {name: make_step(space, args, seed=0) for name, space in rows.items()}
    times: dict[str, list[float]] = {name: [] for name in rows}
    for i in range(args.warmup + args.steps):
        for name, (optimizer, train, val) in setups.items():
            started = time.perf_counter()
            stats = optimizer.step(train, val, epoch=0, step=0)
            elapsed = time.perf_counter() - started
            if i >= args.warmup:
                times[name].append(elapsed)
            assert stats.arch_steps == len(optimizer.levels)

    print(
        f"batch {args.batch}, C={args.channels}, {args.layers} cells, {args.image}x{args.image}, "
        f"{args.schedule} schedule, {torch.get_num_threads()} threads, median of {args.steps}"
    )
    base = statistics.median(times["PC-DARTS"])
    base_min = min(times["PC-DARTS"])
    for name, values in times.items():
        median = statistics.median(values)
        levels = len(setups[name][0].levels)
        print(
            f"{name:18s} median {median:7.2f} s/step ×{median / base:4.2f}  "
            f"min {min(values):7.2f} s ×{min(values) / base_min:4.2f}  ({levels} arch levels; "
            f"steps {', '.join(f'{v:.2f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
