"""The two forms of a grouped cell's weighted sums, side by side: per-edge weights broadcast over
``(N, k, C, H, W)`` views vs per-channel vectors on the edge-stacked ``(N, k·C, H, W)`` outputs.

Run: ``PYTHONPATH=. python benchmarks/weighted_sum_layout.py`` (options: ``--help``).

Each round sums ``--terms`` edge-stacked op outputs of ``--edges`` edges with their weights, as
a node of a grouped cell does (:class:`factornas.supernet.grouped.WeightedSum`, the code the
supernet runs), forward and backward (the weights' and the outputs' gradients), once in each
form; the two forms take turns every round in one process, so a busy machine slows both alike,
and the report is each form's median and the ratio of the medians. On the CPU the times are
process CPU time (all threads; on a shared machine wall time mostly measures the neighbours),
on CUDA wall time between synchronizations. "aten ops" counts the profiler's ``aten::``
events of one round (on a GPU, roughly its kernel launches). ``--json`` prints one JSON object
instead of the table (the device suite reads it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from factornas.supernet.grouped import columns, weighted_sum
from factornas.supernet.stacked import Edges

FORMS = {"per-edge weights (1, k, 1, 1, 1)": False, "per-channel vectors (1, k·C, 1, 1)": True}


def _round(
    per_channel: bool,
    outputs: list[torch.Tensor],
    weights: torch.Tensor,
    grad: torch.Tensor,
    clock: Callable[[], float],
) -> float:
    """One forward and backward of the weighted sum in one form; its seconds."""
    edges, channels = weights.shape[0], outputs[0].shape[1] // weights.shape[0]
    start = clock()
    scales = columns(weights, outputs[0].dim() + 1, channels if per_channel else None)
    terms = ((Edges(y, edges, shared=False), w) for y, w in zip(outputs, scales, strict=True))
    total = weighted_sum(terms, edges, per_channel)
    torch.autograd.backward(total, grad)
    return clock() - start


def _aten_ops(step: Callable[[], float]) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(1 for event in prof.events() if event.name.startswith("aten::"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[16, 8, 16, 16], metavar="N_C_H_W",
                        help="one edge's output N C H W (16 8 16 16)")  # fmt: skip
    parser.add_argument("--edges", type=int, default=4, help="k, edges leaving the node (4)")
    parser.add_argument("--terms", type=int, default=7, help="ops summed per edge (7)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: keep)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cpu)")
    parser.add_argument("--contiguous", action="store_true", help="NCHW instead of NHWC")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    layout = torch.contiguous_format if args.contiguous else torch.channels_last

    def clock() -> float:
        if cuda:
            torch.cuda.synchronize(device)
            return time.perf_counter()
        return time.process_time()

    torch.manual_seed(0)
    n, c, h, w = args.shape
    stacked = (n, args.edges * c, h, w)
    outputs = [
        torch.randn(stacked, device=device).contiguous(memory_format=layout).requires_grad_()
        for _ in range(args.terms)
    ]
    weights = torch.softmax(torch.randn(args.edges, args.terms, device=device), 1)
    weights.requires_grad_()
    grad = torch.randn(n, args.edges, c, h, w, device=device)

    times: dict[str, list[float]] = {name: [] for name in FORMS}
    for index in range(args.warmup + args.repeats):
        for name, per_channel in FORMS.items():
            seconds = _round(per_channel, outputs, weights, grad, clock)
            if index >= args.warmup:
                times[name].append(seconds * 1e3)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ops = {
        name: _aten_ops(lambda p=per_channel: _round(p, outputs, weights, grad, clock))
        for name, per_channel in FORMS.items()
    }
    edge_form, channel_form = (medians[name] for name in FORMS)
    result = {
        "device": device.type,
        "shape": args.shape,
        "edges": args.edges,
        "terms": args.terms,
        "layout": "NCHW" if args.contiguous else "NHWC",
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "median_ms": dict(zip(("per_edge", "per_channel"), (edge_form, channel_form), strict=True)),
        "aten_ops": dict(zip(("per_edge", "per_channel"), ops.values(), strict=True)),
        "ratio_per_edge_over_per_channel": edge_form / channel_form,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.terms} terms of {args.edges} edges, one edge {tuple(args.shape)} float32 "
        f"{result['layout']} on {device.type}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, median of {args.repeats} interleaved rounds (fwd+bwd)"
    )
    print(f"{'':<38}{'ms':>9}{'aten ops':>10}")
    for name in FORMS:
        print(f"{name:<38}{medians[name]:>9.3f}{ops[name]:>10}")
    print(f"per-edge / per-channel: {result['ratio_per_edge_over_per_channel']:.2f}×")


if __name__ == "__main__":
    main()
