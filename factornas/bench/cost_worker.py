"""One preset's share of ``factornas bench cost``, in a process of its own.

A fresh process per preset (and per round) gives every preset its own peak resident memory and
its own allocator: a process's high-water mark never comes down, so measuring two presets in one
process would report the larger one twice. The process builds the supernet and the N-level
optimizer exactly as a search does, runs warm-up steps (the first step maps the process's
memory, DESIGN §4), then times each step and prints one JSON line on stdout.

Usage (by the harness): ``python -m factornas.bench.cost_worker '<job JSON>'``, the job holding
``preset``, ``channels``, ``layers``, ``batch_size``, ``schedule``, ``warmup``, ``steps`` and
``threads`` (``null``: torch's default).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import torch

from factornas.bench.worker import peak_rss_bytes, worker_main
from factornas.presets.search import search_preset
from factornas.search.config import SearchConfig
from factornas.search.loop import build_network
from factornas.search.optimizer import MultiLevelOptimizer

#: Colour images and CIFAR-10's class count (the classifier's size barely matters to the step).
IMAGE_CHANNELS, CLASSES = 3, 10
#: CIFAR-10's image side, the input of the CIFAR search stem.
CIFAR_SIZE = 32


def image_size(config: SearchConfig) -> int:
    """The input side the preset's stem is built for: its ImageNet crop behind the ImageNet
    stem (which downsamples 8×), CIFAR-10's 32 otherwise."""
    return config.data.imagenet_image if config.stem == "imagenet" else CIFAR_SIZE


def random_batch(
    size: int, side: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random colour images and labels: a step costs the same on any data of that shape."""
    images = torch.randn(size, IMAGE_CHANNELS, side, side, generator=generator)
    return images, torch.randint(0, CLASSES, (size,), generator=generator)


def ready_to_step(config: SearchConfig) -> tuple[MultiLevelOptimizer, int]:
    """The supernet and N-level optimizer a search builds for ``config`` (seeded), and the
    epoch to step at: the first at which every level's warm-up is over, so that a timed step
    is the full iteration. The learning rates are set for that epoch."""
    torch.manual_seed(config.seed)
    network = build_network(config, num_classes=CLASSES, in_channels=IMAGE_CHANNELS)
    optimizer = MultiLevelOptimizer(network, config)
    epoch = max((level.config.warmup_epochs for level in optimizer.levels), default=0)
    optimizer.set_epoch(epoch)
    return optimizer, epoch


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Build ``job['preset']``'s search at the job's shape and time its steps."""
    if job["threads"] is not None:
        torch.set_num_threads(int(job["threads"]))
    config = search_preset(job["preset"]).replace(
        channels=job["channels"],
        layers=job["layers"],
        batch_size=job["batch_size"],
        schedule=job["schedule"],
    )
    optimizer, epoch = ready_to_step(config)
    network = optimizer.network
    generator = torch.Generator().manual_seed(config.seed)
    side = image_size(config)
    train, val = (random_batch(config.batch_size, side, generator) for _ in range(2))

    # Everything built so far is the baseline: the supernet, the optimizers, the batches.
    start_rss = peak_rss_bytes()
    wall: list[float] = []
    cpu: list[float] = []
    for step in range(job["warmup"] + job["steps"]):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        optimizer.step(train, val, epoch=epoch, step=step)
        if step >= job["warmup"]:
            wall.append(time.perf_counter() - wall0)
            cpu.append(time.process_time() - cpu0)
    return {
        "preset": job["preset"],
        "weights": network.count_weights(),
        "arch_parameters": network.arch.count(),
        "step_s": wall,
        "cpu_s": cpu,
        "start_rss_bytes": start_rss,
        "peak_rss_bytes": peak_rss_bytes(),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    return worker_main(
        argv,
        "python -m factornas.bench.cost_worker JOB_JSON",
        lambda job: print(json.dumps(measure(json.loads(job)))),
    )


if __name__ == "__main__":
    sys.exit(main())
