"""Naive vs fused mixed activation: forward+backward time and bytes kept for backward.

Run: ``PYTHONPATH=. python benchmarks/bench_mixed_activation.py`` (options: ``--help``).

Three rows, all in one process on the same input:

* ``eager modules``: the nine ``torch.nn`` modules plus a weighted sum, i.e. what an A-DARTS
  edge does without this kernel (RReLU draws its noise with torch's own sampler);
* ``naive``: :func:`naive_mixed_activation`, the same but with the kernel's RReLU sampler, the
  oracle the tests compare against;
* ``fused``: :func:`fused_mixed_activation`.

"Saved" counts the distinct storages autograd keeps for backward (seen through
``torch.autograd.graph.saved_tensors_hooks``), which is what an edge adds to peak memory
between forward and backward; CPU has no allocator statistics to read instead.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from factornas.kernels import ACTIVATION_NAMES, fused_mixed_activation, naive_mixed_activation

Step = Callable[[], Tensor]


class _Swish(nn.Module):
    def __init__(self, beta: Tensor) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.beta * x)


def _eager_modules(prelu_weight: Tensor, swish_beta: Tensor) -> list[nn.Module]:
    prelu = nn.PReLU()
    prelu.weight = nn.Parameter(prelu_weight.detach().clone())
    return [
        nn.ReLU(),
        nn.ReLU6(),
        nn.LeakyReLU(0.01),
        prelu,
        nn.RReLU(1.0 / 8.0, 1.0 / 3.0),
        nn.ELU(),
        nn.CELU(),
        nn.SELU(),
        _Swish(swish_beta),
    ]


def _time_ms(
    steps: dict[str, Step], grad: Tensor, repeats: int, warmup: int
) -> dict[str, tuple[float, float]]:
    """Median forward and forward+backward milliseconds of each step.

    The steps take turns within every round, so that load from other processes on a shared
    machine hits all of them alike instead of whichever happened to run at the time.
    """
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in steps}
    for round_ in range(warmup + repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            out = step()
            mid = time.perf_counter()
            out.backward(grad)
            end = time.perf_counter()
            if round_ >= warmup:
                times[name][0].append((mid - start) * 1e3)
                times[name][1].append((end - start) * 1e3)
    return {
        name: (statistics.median(fwd), statistics.median(total))
        for name, (fwd, total) in times.items()
    }


def _saved_bytes(step: Step) -> int:
    """Bytes of the distinct storages autograd saves during one forward."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(storages.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[64, 16, 32, 32])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: keep)")
    parser.add_argument("--eval", action="store_true", help="eval mode instead of training")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    training = not args.eval

    torch.manual_seed(0)
    x = torch.randn(*args.shape, requires_grad=True)
    weights = torch.softmax(torch.randn(len(ACTIVATION_NAMES)), 0).requires_grad_()
    prelu_weight = torch.full((1,), 0.25, requires_grad=True)
    swish_beta = torch.tensor(1.0, requires_grad=True)
    grad = torch.randn(*args.shape)
    modules = _eager_modules(prelu_weight, swish_beta)
    for module in modules:
        module.train(training)

    def eager() -> Tensor:
        terms = [w * m(x) for w, m in zip(weights.unbind(), modules, strict=True)]
        return sum(terms[1:], terms[0])

    def naive() -> Tensor:
        return naive_mixed_activation(
            x, weights, ACTIVATION_NAMES,
            prelu_weight=prelu_weight, swish_beta=swish_beta, training=training,
        )  # fmt: skip

    def fused() -> Tensor:
        return fused_mixed_activation(
            x, weights, ACTIVATION_NAMES,
            prelu_weight=prelu_weight, swish_beta=swish_beta, training=training,
        )  # fmt: skip

    x_bytes = x.numel() * x.element_size()
    rows = {"eager modules": eager, "naive": naive, "fused": fused}
    timings = _time_ms(rows, grad, args.repeats, args.warmup)
    results = {name: (*timings[name], _saved_bytes(step)) for name, step in rows.items()}

    mode = "training" if training else "eval"
    print(
        f"shape {tuple(args.shape)} float32, all nine activations, {mode} mode, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"median of {args.repeats}"
    )
    header = f"{'':<14}{'fwd ms':>9}{'fwd+bwd ms':>12}{'saved MiB':>11}{'(× x)':>7}"
    print(header + f"{'speed-up':>10}{'memory':>8}")
    base_total, base_saved = results["naive"][1], results["naive"][2]
    for name, (fwd, total, saved) in results.items():
        print(
            f"{name:<14}{fwd:>9.2f}{total:>12.2f}{saved / 2**20:>11.1f}"
            f"{saved / x_bytes:>7.1f}{base_total / total:>9.2f}×{base_saved / saved:>7.1f}×"
        )
    print("speed-up and memory are relative to 'naive' (higher is better)")


if __name__ == "__main__":
    main()
