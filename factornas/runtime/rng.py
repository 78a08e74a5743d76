"""Capturing and restoring every random number generator a run touches.

Resuming must continue the exact random stream (data order, augmentation, RReLU slopes,
dropout), so a checkpoint stores the Python, NumPy, torch CPU and CUDA generator states.
States are stored as tensors and plain lists so ``weights_only`` loading accepts them.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

#: The largest seed a config takes: the seed and its offsets (data order, augmentation) stay
#: within torch's 64-bit generator seeds.
MAX_SEED = 2**62


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """Every generator's state as checkpoint-safe data."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [
            kind,
            torch.from_numpy(np.asarray(keys).copy()),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put every generator back where :func:`capture_rng_state` found it."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
