"""Device selection: the GPU when there is one, the CPU otherwise (never a hard exit)."""

from __future__ import annotations

import torch

from factornas.errors import FactorNASError


def pick_device(name: str | None = None) -> torch.device:
    """``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) or the best available device."""
    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise FactorNASError(f"unknown device {name!r}: use --device cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FactorNASError(
            f"device {name!r} requested but CUDA is not available: use --device cpu"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise FactorNASError(
            f"device {name!r} requested but there are {torch.cuda.device_count()} CUDA devices: "
            "use cuda:0 .. cuda:N-1"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise FactorNASError(
            f"device {name!r} requested but MPS is not available: use --device cpu"
        )
    if device.type not in ("cpu", "cuda", "mps"):
        raise FactorNASError(f"device {name!r} is not supported: use --device cpu, cuda or cuda:N")
    return device
