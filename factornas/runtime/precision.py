"""Mixed precision for the training steps: fp32, or bf16 autocast around the network's forward.

Only the forward pass of the network runs under autocast; everything that decides the search
stays in float32: the architecture parameters and their softmax (float32 parameters, and softmax
is not an op autocast lowers), the losses (computed from logits cast back to float32), the
gradients of float32 parameters, and every optimizer state. bf16 keeps float32's exponent range,
so no loss scaling is needed, unlike fp16.

bf16 autocast works on the CPU too (slowly): that is how CI checks that a bf16 search runs and
keeps its architecture weights in float32. Whether bf16 pays on a GPU for the paper's small
supernet is not yet measured (docs/performance.md), so fp32 is the default everywhere.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import torch

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16")
#: Device types with a bf16 autocast.
AUTOCAST_DEVICES = frozenset({"cpu", "cuda"})


def autocast(device: torch.device, precision: Precision) -> AbstractContextManager[object]:
    """The context to run a forward pass in: bf16 autocast, or nothing for fp32 (and for a
    device type without autocast, where bf16 would fail deep inside torch).

    Without autocast's cache of cast weights: torch requires that for a CUDA-graph capture,
    and a forward pass uses each weight once, so the cache would save nothing anyway.
    """
    if precision == "fp32" or device.type not in AUTOCAST_DEVICES:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=False)


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 if it is in a lower precision (bf16 logits), unchanged otherwise (a
    float64 network stays float64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def forward_fp32_out(
    module: torch.nn.Module, x: torch.Tensor, precision: Precision
) -> torch.Tensor:
    """``module(x)`` under :func:`autocast`, its logits returned in at least float32 for the
    loss (:func:`at_least_fp32`)."""
    with autocast(x.device, precision):
        logits = module(x)
    return at_least_fp32(logits)
