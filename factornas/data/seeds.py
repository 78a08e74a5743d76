"""Deriving independent generator seeds from a run seed and a purpose.

Data order, augmentation and synthetic samples each need their own stream that is a pure
function of the run seed (and e.g. the epoch), so that resuming or changing one consumer never
shifts another. Hashing the parts gives well-separated 63-bit seeds, unlike ``seed + epoch``
where (seed 1, epoch 0) and (seed 0, epoch 1) would collide.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed that depends on every part and their order."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def generator(*parts: int | str) -> torch.Generator:
    """A CPU generator seeded by :func:`derive_seed` of ``parts``."""
    return torch.Generator().manual_seed(derive_seed(*parts))
