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
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FactorNASError(
            f"device {name!r} requested but CUDA is not available: use --device cpu"
        )
    return device
