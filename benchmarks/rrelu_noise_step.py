"""What RReLU's training-time noise costs an A-DARTS search step.

Run: ``python benchmarks/rrelu_noise_step.py [--schedule joint] [--steps 6]``.

One ``adarts`` supernet at the paper's search shape (C=16, 8 cells, batch 64, CIFAR-shaped
random tensors), one N-level optimizer; steps alternate between the activation candidates in
training mode (RReLU draws fresh slopes on every forward pass and regenerates them in backward,
as a search does) and in eval mode (RReLU uses its mean slope: no random numbers). Everything
else, batch norm included, stays in training mode, so the difference of the two medians is the
noise's share of the step (docs/performance.md).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from factornas.presets.search import search_preset
from factornas.search.loop import build_network
from factornas.search.optimizer import MultiLevelOptimizer
from factornas.supernet.edge import MixedEdge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", choices=("sequential", "joint"), default="joint")
    parser.add_argument("--steps", type=int, default=6, help="timed steps, half of each kind")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    config = search_preset("adarts").replace(schedule=args.schedule, batch_size=args.batch_size)
    torch.manual_seed(config.seed)
    network = build_network(config, num_classes=10, in_channels=3)
    optimizer = MultiLevelOptimizer(network, config)
    optimizer.set_epoch(max(level.config.warmup_epochs for level in optimizer.levels))
    generator = torch.Generator().manual_seed(config.seed)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(config.batch_size, 3, 32, 32, generator=generator)
        return x, torch.randint(0, 10, (config.batch_size,), generator=generator)

    train, val = batch(), batch()
    activations = [
        module
        for edge in network.modules()
        if isinstance(edge, MixedEdge)
        for module in edge.inputs.modules()
        if not isinstance(module, (nn.ModuleDict, nn.ModuleList))
    ]
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for step in range(args.steps + 1):  # step 0 maps the process's memory: untimed
        noise = step % 2 == 1
        for module in activations:
            module.train(noise)
        began = time.perf_counter()
        optimizer.step(train, val, epoch=0, step=step)
        if step:
            seconds[noise].append(time.perf_counter() - began)
    with_noise, without = (statistics.median(seconds[k]) for k in (True, False))
    print(
        f"adarts, {args.schedule} schedule, batch {config.batch_size}: {with_noise:.2f} s/step "
        f"with RReLU noise, {without:.2f} s without ({with_noise - without:+.2f} s, "
        f"{100 * (with_noise - without) / with_noise:.0f}% of the step); "
        f"steps {[round(s, 2) for s in seconds[True]]} / {[round(s, 2) for s in seconds[False]]}"
    )


if __name__ == "__main__":
    main()
