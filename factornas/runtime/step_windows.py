"""Per-step training curves without a host read per step: the means of each progress window.

The loops keep an epoch's training sums on the device (:mod:`factornas.runtime.meter`) and read
them every :data:`~factornas.runtime.progress.REFRESH_EVERY` steps and at the epoch's end. Each
read closes a *window*: the steps since the previous read. Its mean loss and accuracy are the
difference of two cumulative reads divided by the difference of the sample counts, so a curve
with one point per window costs no read beyond those the loops already make, and the windows of
an epoch, weighted by their samples, add up to the epoch's ``train_loss`` and accuracy.

A window's record is ``{"step", "epoch", "loss", "acc", "lr"}``: ``step`` is the global index
(from 0 over the whole run) of the window's last step, ``acc`` in the unit of the epoch record's
training accuracy. A search checkpointed mid-epoch saves :meth:`StepWindows.state` beside its
running sums, so a resumed epoch records the windows an uninterrupted one records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict


class StepRecord(TypedDict):
    """One progress window of training steps, as ``metrics.jsonl``'s ``steps`` lists hold it."""

    step: int
    epoch: int
    loss: float
    acc: float
    lr: float


class StepWindows:
    """The closed windows of one epoch and the cumulative sums at the last one's end.

    ``start`` holds (loss × samples, correct, samples) summed from the epoch's first step to
    the last closed window's last step; ``accuracy_scale`` turns correct / samples into the
    unit the command records (1 for a fraction, 100 for a percentage).
    """

    def __init__(
        self,
        accuracy_scale: float = 1.0,
        records: Sequence[StepRecord] = (),
        start: Sequence[float] = (0.0, 0.0, 0.0),
    ) -> None:
        self.accuracy_scale = accuracy_scale
        self.records: list[StepRecord] = list(records)
        self.start = tuple(float(v) for v in start)

    def pending(self, samples: float) -> bool:
        """Whether steps ran since the last window closed (``samples``: the epoch's so far)."""
        return samples > self.start[2]

    def close(self, *, epoch: int, step: int, sums: Sequence[float], lr: float) -> StepRecord:
        """Close the window ending at global step ``step``, from the epoch's cumulative
        ``sums`` (loss × samples, correct, samples) read now."""
        now = [float(v) for v in sums]
        loss_sum, correct, samples = (a - b for a, b in zip(now, self.start, strict=True))
        record: StepRecord = {
            "step": step,
            "epoch": epoch,
            "loss": loss_sum / max(samples, 1.0),
            "acc": self.accuracy_scale * correct / max(samples, 1.0),
            "lr": lr,
        }
        self.records.append(record)
        self.start = tuple(now)
        return record

    def state(self) -> dict[str, Any]:
        """Plain data for a checkpoint (read back with ``weights_only=True``): float64 values
        pickle exactly, so a resumed epoch's windows equal the uninterrupted ones bit for bit."""
        return {"records": [dict(r) for r in self.records], "start": list(self.start)}

    @classmethod
    def from_state(cls, state: dict[str, Any], accuracy_scale: float = 1.0) -> StepWindows:
        records: list[StepRecord] = [
            {
                "step": int(r["step"]),
                "epoch": int(r["epoch"]),
                "loss": float(r["loss"]),
                "acc": float(r["acc"]),
                "lr": float(r["lr"]),
            }
            for r in state["records"]
        ]
        return cls(accuracy_scale, records, state["start"])
