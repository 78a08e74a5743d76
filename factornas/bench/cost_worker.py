"""One preset's share of ``factornas bench cost``, in a process of its own.

A fresh process per preset (and per round) gives every preset its own peak resident memory and
its own allocator: a process's high-water mark never comes down, so measuring two presets in one
process would report the larger one twice. The process builds the supernet and the N-level
optimizer exactly as a search does, on the job's device, runs warm-up steps (the first step maps
the process's memory, docs/performance.md), then times each step (the optimizer's iteration and
the finite guard's record of it, as the search loop takes it), profiles one more (after the
timed ones, so the profiler's overhead never reaches a timing) to count the operator calls and,
on CUDA, the kernel launches of a step, and prints one JSON line on stdout.

Usage (by the harness): ``python -m factornas.bench.cost_worker '<job JSON>'``, the job holding
``preset``, ``channels``, ``layers``, ``batch_size``, ``schedule``, ``warmup``, ``steps``,
``threads`` (``null``: torch's default), ``device`` (``cpu`` or ``cuda``) and optionally
``cuda_graphs``, ``precision`` and ``channels_last``: the step then runs as a search with
``--cuda-graphs`` and ``--precision`` runs it (:class:`factornas.search.graphed.SearchStepper`;
the timed steps are graph replays once each key has had its warm-up steps and its capture), on
a channels-last supernet and inputs for ``channels_last``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from factornas.bench.worker import peak_rss_bytes, worker_main
from factornas.data.batches import Batch
from factornas.presets.search import search_preset
from factornas.runtime.device import pick_device
from factornas.search.config import SearchConfig
from factornas.search.graphed import SearchStepper
from factornas.search.guard import FiniteGuard
from factornas.search.loop import build_network
from factornas.search.optimizer import MultiLevelOptimizer

#: Colour images and CIFAR-10's class count (the classifier's size barely matters to the step).
IMAGE_CHANNELS, CLASSES = 3, 10
#: CIFAR-10's image side, the input of the CIFAR search stem.
CIFAR_SIZE = 32
#: The profiler events counted as convolution calls (forward and backward).
CONV_OPS = frozenset({"aten::convolution", "aten::convolution_backward"})


def image_size(config: SearchConfig) -> int:
    """The input side the preset's stem is built for: its ImageNet crop behind the ImageNet
    stem (which downsamples 8×), CIFAR-10's 32 otherwise."""
    return config.data.imagenet.image_size if config.stem == "imagenet" else CIFAR_SIZE


def random_batch(size: int, side: int, generator: torch.Generator) -> Batch:
    """Random colour images and labels: a step costs the same on any data of that shape."""
    images = torch.randn(size, IMAGE_CHANNELS, side, side, generator=generator)
    return images, torch.randint(0, CLASSES, (size,), generator=generator)


def _to(
    batch: Batch, device: torch.device, layout: torch.memory_format = torch.contiguous_format
) -> Batch:
    return batch[0].to(device, memory_format=layout), batch[1].to(device)


def ready_to_step(
    config: SearchConfig, device: torch.device | None = None
) -> tuple[MultiLevelOptimizer, int]:
    """The supernet and N-level optimizer a search builds for ``config`` (seeded) on
    ``device`` (the CPU by default), and the epoch to step at: the first at which every level's
    warm-up is over, so that a timed step is the full iteration. The learning rates are set for
    that epoch."""
    torch.manual_seed(config.seed)
    network = build_network(config, num_classes=CLASSES, in_channels=IMAGE_CHANNELS)
    network.to(device or torch.device("cpu"))
    optimizer = MultiLevelOptimizer(network, config)
    epoch = max((level.config.warmup_epochs for level in optimizer.levels), default=0)
    optimizer.set_epoch(epoch)
    return optimizer, epoch


def loop_step(
    stepper: SearchStepper, guard: FiniteGuard, batches: tuple[Batch, Batch], epoch: int, step: int
) -> None:
    """One step as the search loop takes it: the optimizer's iteration (eager or replayed),
    then the finite guard's record of it."""
    stats = stepper.step(*batches, epoch=epoch, step=step)
    guard.observe(epoch, step, stats.train_loss, stats.val_loss, stats.grad_norm)


def launch_counts(
    stepper: SearchStepper,
    guard: FiniteGuard,
    batches: tuple[Batch, Batch],
    epoch: int,
    step: int,
) -> dict[str, int]:
    """Profile one step (:func:`loop_step`): its ``aten::`` operator calls (nested ones
    included: an op that calls others counts once for itself and once for each), its
    convolutions, and on CUDA its kernel launches. Per-op overhead, not arithmetic, is what a
    small step spends its time on, and these counts expose it without the noise of a timing."""
    device = batches[0][0].device
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        loop_step(stepper, guard, batches, epoch, step)
        if device.type == "cuda":
            torch.cuda.synchronize()
    events = prof.events()
    counts = {
        "ops_per_step": sum(e.name.startswith("aten::") for e in events),
        "conv_calls_per_step": sum(e.name in CONV_OPS for e in events),
    }
    if device.type == "cuda":
        counts["kernels_per_step"] = sum(e.device_type == DeviceType.CUDA for e in events)
    return counts


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Build ``job['preset']``'s search at the job's shape on the job's device, time its steps
    and count the launches of one more."""
    if job["threads"] is not None:
        torch.set_num_threads(int(job["threads"]))
    device = pick_device(job.get("device"))
    cuda = device.type == "cuda"
    config = search_preset(job["preset"]).replace(
        channels=job["channels"],
        layers=job["layers"],
        batch_size=job["batch_size"],
        schedule=job["schedule"],
        precision=job.get("precision", "fp32"),
        cell_execution=job.get("cell_execution", "auto"),
    )
    optimizer, epoch = ready_to_step(config, device)
    network = optimizer.network
    layout = torch.channels_last if job.get("channels_last") else torch.contiguous_format
    network.to(memory_format=layout)  # type: ignore[call-overload]  # torch's stubs omit it
    stepper = SearchStepper(
        optimizer,
        cuda_graphs=bool(job.get("cuda_graphs")),
        device=device,
        note=lambda message: print(f"note: {message}", file=sys.stderr),
    )
    guard = FiniteGuard(device, network.buffers)
    generator = torch.Generator().manual_seed(config.seed)
    side = image_size(config)
    train, val = (
        _to(random_batch(config.batch_size, side, generator), device, layout) for _ in range(2)
    )

    # Everything built so far is the baseline: the supernet, the optimizers, the batches.
    start_rss = peak_rss_bytes()
    start_allocated = torch.cuda.memory_allocated(device) if cuda else 0
    wall: list[float] = []
    cpu: list[float] = []
    for step in range(job["warmup"] + job["steps"]):
        if step == job["warmup"] and cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        loop_step(stepper, guard, (train, val), epoch, step)
        if cuda:
            torch.cuda.synchronize(device)
        if step >= job["warmup"]:
            wall.append(time.perf_counter() - wall0)
            cpu.append(time.process_time() - cpu0)
    peak = (
        {"peak_allocated_bytes": torch.cuda.max_memory_allocated(device) - start_allocated}
        if cuda
        else {"start_rss_bytes": start_rss, "peak_rss_bytes": peak_rss_bytes()}
    )
    counts: dict[str, int | None] = (
        # torch 2.13's profiler crashes (SIGSEGV) in the backward of a bf16-autocast supernet
        # step on the CPU; the counts matter on CUDA, where the device script takes them.
        {"ops_per_step": None, "conv_calls_per_step": None}
        if not cuda and config.precision == "bf16"
        else dict(launch_counts(stepper, guard, (train, val), epoch, job["warmup"] + job["steps"]))
    )
    return {
        "preset": job["preset"],
        "device": device.type,
        "weights": network.count_weights(),
        "arch_parameters": network.arch.count(),
        "step_s": wall,
        "cpu_s": cpu,
        **peak,
        **counts,
        "threads": torch.get_num_threads(),
        "graphed": stepper.graphed,
        "precision": config.precision,
        "cell_execution": config.cell_execution,
        "channels_last": layout == torch.channels_last,
    }


def main(argv: list[str] | None = None) -> int:
    return worker_main(
        argv,
        "python -m factornas.bench.cost_worker JOB_JSON",
        lambda job: print(json.dumps(measure(json.loads(job)))),
    )


if __name__ == "__main__":
    sys.exit(main())
