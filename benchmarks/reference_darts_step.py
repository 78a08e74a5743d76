"""Seconds and memory of one first-order search step of the reference DARTS code.

Run: ``python benchmarks/reference_darts_step.py --darts-dir PATH`` with ``PATH`` a checkout of
https://github.com/quark0/darts (its ``cnn/`` directory is imported; nothing of it is copied
here). The step is the reference ``train_search.py`` iteration with ``--unrolled`` off:
``Architect.step`` on a validation batch, then the weight step with gradient clipping 5, at the
paper's search shape (C=16, 8 cells, batch 64, CIFAR-shaped random tensors). The reference
calls ``.cuda()`` throughout: with ``--device cpu`` (the default) those calls are turned into
no-ops so it runs on the CPU; with ``--device cuda`` they run as written, each timed step is
bracketed by ``torch.cuda.synchronize()`` and the peak is the growth of
``torch.cuda.max_memory_allocated`` over the timed steps (as in ``bench cost --device cuda``).

Prints one JSON line shaped like ``factornas.bench.cost_worker``'s (``step_s``, peak-RSS
growth over the steps), so the two can be run alternately and compared (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import types
from pathlib import Path

import torch
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--darts-dir", type=Path, required=True, help="quark0/darts checkout")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda requested but CUDA is not available")
    cnn = args.darts_dir / "cnn"
    if not (cnn / "model_search.py").is_file():
        raise SystemExit(f"error: {cnn}/model_search.py not found: give a quark0/darts checkout")

    if not cuda:
        # The reference moves every tensor and module to the GPU; on the CPU those are no-ops.
        torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
        nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    sys.path.insert(0, str(cnn))
    from architect import Architect  # type: ignore[import-not-found]
    from model_search import Network  # type: ignore[import-not-found]

    torch.manual_seed(2)
    criterion = nn.CrossEntropyLoss()
    model = Network(args.channels, 10, args.layers, criterion).to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), 0.025, momentum=0.9, weight_decay=3e-4)
    hyper = types.SimpleNamespace(
        momentum=0.9, weight_decay=3e-4, arch_learning_rate=3e-4, arch_weight_decay=1e-3
    )
    architect = Architect(model, hyper)
    generator = torch.Generator().manual_seed(2)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(args.batch_size, 3, 32, 32, generator=generator)
        y = torch.randint(0, 10, (args.batch_size,), generator=generator)
        return x.to(args.device), y.to(args.device)

    (x, y), (x_val, y_val) = batch(), batch()
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall = []
    for step in range(args.warmup + args.steps):
        if cuda and step == args.warmup:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            allocated = torch.cuda.memory_allocated()
        began = time.perf_counter()
        model.train()
        architect.step(x, y, x_val, y_val, 0.025, optimizer, unrolled=False)
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        if step >= args.warmup:
            wall.append(time.perf_counter() - began)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = {
        "preset": "reference-darts",
        "weights": sum(p.numel() for p in model.parameters()),
        "step_s": wall,
        "device": args.device,
        # CUDA: allocator peak growth; CPU: resident-set growth (Linux reports KiB).
        "peak_mb": (torch.cuda.max_memory_allocated() - allocated) / 2**20
        if cuda
        else (peak - start) / 1024,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
