"""What the architecture step saves by asking autograd for the architecture gradients only.

Run: ``python benchmarks/arch_pass.py`` (options: ``--help``).

One validation forward + backward of the search network, three ways, interleaved in one
process (median seconds and the bytes autograd saves for backward):

* ``full backward``: ``loss.backward()``, every gradient (reference DARTS's architect does this);
* ``grad(arch)``: ``torch.autograd.grad(loss, arch)``: the engine skips the weight gradients
  (e.g. the depthwise convolutions' weight gradients), but the forward still records and saves
  everything;
* ``grad(arch), weights constant``: what :class:`MultiLevelOptimizer` does: the weights are
  marked constant while the forward is recorded, so nothing is saved for their gradients and
  the ops in front of the first architecture weight are not recorded at all.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from factornas.kernels.allocator import keep_freed_memory
from factornas.presets.search import search_preset
from factornas.search.optimizer import _constant
from factornas.supernet.network import SearchNetwork


def _saved_bytes(forward: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Run ``forward``; the distinct storages autograd saved for backward, in bytes."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    return out, sum(storages.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="darts,adarts")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds after one warm-up")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (args.batch_size,), generator=generator)

    cases: dict[tuple[str, str], Callable[[], int]] = {}
    for preset in args.presets.split(","):
        torch.manual_seed(0)
        space = search_preset(preset).space
        net = SearchNetwork(space, channels=args.channels, layers=args.layers)
        arch = net.arch_parameters()
        weights = list(net.weight_parameters())

        def full(net: SearchNetwork = net) -> int:
            logits, saved = _saved_bytes(lambda: net(x))
            F.cross_entropy(logits, y).backward()
            net.zero_grad(set_to_none=True)
            return saved

        def restricted(net: SearchNetwork = net, arch: list = arch) -> int:
            logits, saved = _saved_bytes(lambda: net(x))
            torch.autograd.grad(F.cross_entropy(logits, y), arch)
            return saved

        def constant(net: SearchNetwork = net, arch: list = arch, weights: list = weights) -> int:
            with _constant(weights):
                logits, saved = _saved_bytes(lambda: net(x))
            torch.autograd.grad(F.cross_entropy(logits, y), arch)
            return saved

        cases[(preset, "full backward")] = full
        cases[(preset, "grad(arch)")] = restricted
        cases[(preset, "grad(arch), weights constant")] = constant

    times: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
    saved: dict[tuple[str, str], int] = {}
    for round_ in range(1 + args.rounds):
        for key, case in cases.items():
            start = time.perf_counter()
            saved[key] = case()
            if round_:
                times[key].append(time.perf_counter() - start)

    print("| preset | architecture pass | seconds | saved for backward (GiB) |")
    print("|---|---|---:|---:|")
    for (preset, how), values in times.items():
        print(
            f"| {preset} | {how} | {statistics.median(values):.2f} | "
            f"{saved[(preset, how)] / 2**30:.2f} |"
        )


if __name__ == "__main__":
    main()
