"""k single-edge fused mixed activations vs one grouped call: CPU time and aten ops.

Run: ``PYTHONPATH=. python benchmarks/bench_grouped_mixed_activation.py`` (options: ``--help``).

The k edges that leave one cell node share their input but not their weights, PReLU slope or
Swish ``b``. Two rows on the same input, all nine activations:

* ``k single calls``: :func:`fused_mixed_activation` once per edge;
* ``one grouped call``: :func:`grouped_mixed_activation` for all k edges, as it runs on this
  device (on CPU: edge by edge in cache-sized buffers);
* ``whole-output call``: the same call in the formulation a GPU uses (a fixed number of
  whole-output ops per call), forced here to compare the two on this machine.

Times are medians of process CPU time (all threads), not wall time: on a shared machine wall
time mostly measures the neighbours. "aten ops" counts the profiler's ``aten::`` events of one
forward+backward, nested ones included; on an accelerator each is roughly a kernel launch or a
dispatch, which is what grouping saves there. ``--keep-freed-memory`` configures malloc as a
search step does (:mod:`factornas.kernels.allocator`): without it every fresh buffer pays its
page faults again.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from factornas.kernels import ACTIVATION_NAMES, fused_mixed_activation, grouped_mixed_activation
from factornas.kernels.allocator import keep_freed_memory
from factornas.kernels.mixed_activation import layout as kernel_layout

Step = Callable[[], tuple[float, float]]


def _time_ms(steps: dict[str, Step], repeats: int, warmup: int) -> dict[str, tuple[float, float]]:
    """Median forward and forward+backward milliseconds; the steps take turns every round."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in steps}
    for round_ in range(warmup + repeats):
        for name, step in steps.items():
            forward, total = step()
            if round_ >= warmup:
                times[name][0].append(forward * 1e3)
                times[name][1].append(total * 1e3)
    return {
        name: (statistics.median(fwd), statistics.median(tot)) for name, (fwd, tot) in times.items()
    }


def _aten_ops(step: Step) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(1 for event in prof.events() if event.name.startswith("aten::"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[64, 16, 32, 32])
    parser.add_argument("--edges", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: keep)")
    parser.add_argument("--eval", action="store_true", help="eval mode instead of training")
    parser.add_argument("--contiguous", action="store_true", help="NCHW instead of NHWC")
    parser.add_argument("--keep-freed-memory", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = keep_freed_memory() if args.keep_freed_memory else False
    training = not args.eval
    layout = torch.contiguous_format if args.contiguous else torch.channels_last
    edges = args.edges

    torch.manual_seed(0)
    x = torch.randn(*args.shape).contiguous(memory_format=layout).requires_grad_()
    weights = torch.softmax(torch.randn(edges, len(ACTIVATION_NAMES)), 1).requires_grad_()
    prelu = torch.full((edges,), 0.25, requires_grad=True)
    beta = torch.linspace(0.5, 1.5, edges).requires_grad_()
    grad_one = torch.randn(*args.shape).contiguous(memory_format=layout)
    grouped_shape = (args.shape[0], edges * args.shape[1], *args.shape[2:])
    grad_all = torch.randn(*grouped_shape).contiguous(memory_format=layout)

    def singles() -> tuple[float, float]:
        start = time.process_time()
        outs = [
            fused_mixed_activation(
                x,
                weights[e],
                ACTIVATION_NAMES,
                prelu_weight=prelu[e : e + 1],
                swish_beta=beta[e : e + 1],
                training=training,
            )
            for e in range(edges)
        ]
        middle = time.process_time()
        torch.autograd.backward(outs, [grad_one] * edges)
        return middle - start, time.process_time() - start

    def grouped() -> tuple[float, float]:
        start = time.process_time()
        out = grouped_mixed_activation(
            x, weights, ACTIVATION_NAMES, prelu_weight=prelu, swish_beta=beta, training=training
        )
        middle = time.process_time()
        out.backward(grad_all)
        return middle - start, time.process_time() - start

    on_device = kernel_layout._batched

    def whole_output() -> tuple[float, float]:
        kernel_layout._batched = lambda x, count: count > 1  # type: ignore[assignment]
        try:
            return grouped()
        finally:
            kernel_layout._batched = on_device  # type: ignore[assignment]

    rows = {
        f"{edges} single calls": singles,
        "one grouped call": grouped,
        "whole-output call": whole_output,
    }
    timings = _time_ms(rows, args.repeats, args.warmup)
    ops = {name: _aten_ops(step) for name, step in rows.items()}

    mode = "training" if training else "eval"
    print(
        f"shape {tuple(args.shape)} float32 {'NCHW' if args.contiguous else 'NHWC'}, "
        f"{edges} edges, all nine activations, {mode} mode, {torch.get_num_threads()} threads, "
        f"freed memory kept: {kept}, torch {torch.__version__}, median of {args.repeats}"
    )
    print(f"{'':<18}{'fwd ms':>9}{'fwd+bwd ms':>12}{'aten ops':>10}")
    for name, (fwd, total) in timings.items():
        print(f"{name:<18}{fwd:>9.2f}{total:>12.2f}{ops[name]:>10}")


if __name__ == "__main__":
    main()
