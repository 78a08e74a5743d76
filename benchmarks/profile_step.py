"""Where the time of one search step goes: torch.profiler's op table for one or more presets.

Run: ``python benchmarks/profile_step.py --presets darts,adarts`` (options: ``--help``).

One step is :meth:`MultiLevelOptimizer.step` exactly as the search runs it (weight step on a
train batch, then the architecture levels on a validation batch), on CIFAR-shaped random
tensors. Each preset gets ``--warmup`` untimed steps (the first step maps the process's memory),
then one profiled step. Printed per preset: the step's wall time, CPU time, minor page faults
(each one a page touched for the first time, docs/performance.md) and peak-RSS growth, then the ops
with the most self CPU time as a Markdown table (the tables of docs/performance.md).

To profile another tree (e.g. the code before a change), put it first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from torch.profiler import ProfilerActivity, profile

from factornas.presets.search import search_preset
from factornas.search.optimizer import MultiLevelOptimizer
from factornas.supernet.network import SearchNetwork

Batch = tuple[torch.Tensor, torch.Tensor]


def _batch(size: int, generator: torch.Generator) -> Batch:
    return torch.randn(size, 3, 32, 32, generator=generator), torch.randint(
        0, 10, (size,), generator=generator
    )


def _markdown(prof: profile, rows: int) -> str:
    """The ``rows`` ops with the most self CPU time: total ms, share of the step, calls."""
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    lines = ["| op | self CPU (s) | share | calls |", "|---|---:|---:|---:|"]
    for event in events[:rows]:
        lines.append(
            f"| `{event.key}` | {event.self_cpu_time_total / 1e6:.2f} | "
            f"{100 * event.self_cpu_time_total / total:.1f}% | {event.count} |"
        )
    return "\n".join(lines)


def _totals(prof: profile, names: list[str]) -> str:
    """CPU time of each named op or autograd function *including* the ops it calls, e.g.
    ``_FusedMixedActivation`` and ``_FusedMixedActivationBackward``: the whole mixed
    activation, which the self-time table spreads over a dozen element-wise ops."""
    events = {e.key: e for e in prof.key_averages()}
    lines = ["| op, children included | CPU (s) | calls |", "|---|---:|---:|"]
    for name in names:
        event = events.get(name)
        total, calls = (event.cpu_time_total / 1e6, event.count) if event else (0.0, 0)
        lines.append(f"| `{name}` | {total:.2f} | {calls} |")
    return "\n".join(lines)


def profile_preset(preset: str, args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    config = search_preset(preset).replace(schedule=args.schedule)
    network = SearchNetwork(config.space, channels=args.channels, layers=args.layers)
    optimizer = MultiLevelOptimizer(network, config)
    generator = torch.Generator().manual_seed(0)
    train, val = _batch(args.batch_size, generator), _batch(args.batch_size, generator)
    for step in range(args.warmup):
        optimizer.step(train, val, epoch=0, step=step)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        optimizer.step(train, val, epoch=0, step=args.warmup)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(
        f"\n### {preset}: step {wall:.1f} s wall, {cpu:.1f} s CPU, "
        f"{after.ru_minflt - before.ru_minflt:,} minor page faults, "
        f"peak RSS {after.ru_maxrss / 1024:.0f} MB\n"
    )
    print(_markdown(prof, args.rows))
    if args.totals:
        print(f"\n{_totals(prof, args.totals.split(','))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="darts,adarts", help="comma-separated presets")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--schedule", choices=("sequential", "joint"), default="joint")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (1)")
    parser.add_argument("--rows", type=int, default=15, help="ops listed per preset (15)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default)")
    parser.add_argument(
        "--totals",
        default="",
        help="comma-separated op names whose CPU time, children included, is listed too",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for preset in args.presets.split(","):
        profile_preset(preset, args)


if __name__ == "__main__":
    main()
