"""The per-epoch drop-path probability of a retraining (its learning rate is
:func:`factornas.runtime.optimizers.scheduled_lr`).

A pure function of the epoch, so a resumed run recomputes it instead of restoring state, and a
test can state it exactly.
"""

from __future__ import annotations


def drop_path_probability(final: float, epoch: int, epochs: int) -> float:
    """DARTS's linear ramp: 0 in the first epoch, ``final · (epochs − 1) / epochs`` in the last."""
    return final * epoch / epochs
