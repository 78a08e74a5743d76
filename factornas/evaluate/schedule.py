"""Per-epoch schedules of a retraining: the learning rate and the drop-path probability.

Both are pure functions of the epoch, so a resumed run recomputes them instead of restoring
scheduler objects, and a test can state them exactly.
"""

from __future__ import annotations

import math

from factornas.evaluate.config import ScheduleConfig


def learning_rate(schedule: ScheduleConfig, lr: float, epoch: int, epochs: int) -> float:
    """The learning rate of ``epoch`` (0-based) out of ``epochs``.

    Cosine from ``lr`` at epoch 0 towards ``lr_min`` at epoch ``epochs`` (DARTS's
    ``CosineAnnealingLR(epochs)`` stepped once per epoch), scaled by ``(epoch + 1) / W`` during
    the first ``W = warmup_epochs`` epochs as PC-DARTS's ImageNet training does.
    """
    if schedule.kind == "cosine":
        cosine = (1 + math.cos(math.pi * epoch / epochs)) / 2
        value = schedule.lr_min + (lr - schedule.lr_min) * cosine
    else:
        value = lr
    if epoch < schedule.warmup_epochs:
        value *= (epoch + 1) / schedule.warmup_epochs
    return value


def drop_path_probability(final: float, epoch: int, epochs: int) -> float:
    """DARTS's linear ramp: 0 in the first epoch, ``final · (epochs − 1) / epochs`` in the last."""
    return final * epoch / epochs
