"""Deterministic, resumable batch orders over N items, optionally sharded for DDP.

The permutation of epoch ``e`` is a pure function of ``(seed, e)``, so a run killed mid-epoch
resumes by recomputing it and skipping the batches already done: no sampler state needs to
be saved. Every process computes the same global order and takes its own contiguous slice of
each global batch, so the shards of one step are disjoint and together form the global batch
whatever the number of processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from factornas.data.errors import DataError
from factornas.data.seeds import generator

#: One batch of a dataset: images (N×C×H×W) and their labels; what every data stream yields.
Batch = tuple[torch.Tensor, torch.Tensor]


class EpochBatches:
    """Batches of indices into ``range(num_items)``; ``batch_size`` is the global batch."""

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size <= 0 or num_items < 0:
            raise ValueError(
                f"need batch_size > 0 and num_items >= 0, got {batch_size}, {num_items}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
        if batch_size % world_size:
            raise ValueError(
                f"global batch {batch_size} does not split over {world_size} processes"
            )
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        if self.batches_per_epoch == 0:
            raise DataError(
                f"{num_items} items make no batch of {batch_size}: use a smaller "
                "batch size or more data"
            )

    @property
    def batches_per_epoch(self) -> int:
        full, rest = divmod(self.num_items, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def permutation(self, epoch: int) -> torch.Tensor:
        """The global order of epoch ``epoch`` (identical on every process)."""
        return torch.randperm(
            self.num_items, generator=generator("epoch-batches", self.seed, epoch)
        )

    def shard(self, global_batch: torch.Tensor) -> torch.Tensor:
        """This process's contiguous slice of a global batch."""
        return global_batch.tensor_split(self.world_size)[self.rank]

    def iter_epoch(self, epoch: int, start_batch: int = 0) -> Iterator[torch.Tensor]:
        """This process's index tensors for batches ``start_batch..`` of epoch ``epoch``."""
        if not 0 <= start_batch <= self.batches_per_epoch:
            raise ValueError(f"start_batch {start_batch} outside 0..{self.batches_per_epoch}")
        order = self.permutation(epoch)
        for b in range(start_batch, self.batches_per_epoch):
            yield self.shard(order[b * self.batch_size : (b + 1) * self.batch_size])


class CyclingBatches:
    """An endless stream of batches that walks epoch after epoch of :class:`EpochBatches`.

    DARTS takes one validation batch per training step, and the two sets need not have the
    same number of batches, so the validation stream keeps its own (epoch, position). Saving
    that pair with :meth:`state_dict` lets a resumed search see exactly the same batches.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        seed: int = 0,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.order = EpochBatches(
            num_items, batch_size, seed=seed, drop_last=drop_last, rank=rank, world_size=world_size
        )
        self.epoch = 0
        self.position = 0
        self._cached: tuple[int, torch.Tensor] | None = None

    def _permutation(self) -> torch.Tensor:
        if self._cached is None or self._cached[0] != self.epoch:
            self._cached = (self.epoch, self.order.permutation(self.epoch))
        return self._cached[1]

    def next(self) -> torch.Tensor:
        """This process's indices of the next batch."""
        if self.position >= self.order.batches_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
        size = self.order.batch_size
        start = self.position * size
        self.position += 1
        return self.order.shard(self._permutation()[start : start + size])

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            yield self.next()

    def state_dict(self) -> dict[str, Any]:
        """Where the stream stands, plus what it streams over to catch mismatched resumes."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.order.seed,
            "num_items": self.order.num_items,
            "batch_size": self.order.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; the process count may differ from the saving run."""
        expected = {
            "seed": self.order.seed,
            "num_items": self.order.num_items,
            "batch_size": self.order.batch_size,
        }
        saved = {key: state.get(key) for key in expected}
        if saved != expected:
            raise DataError(
                f"the checkpoint's batch stream was made for {saved}, this run has "
                f"{expected}: resume with the same data, seed and batch size"
            )
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position <= self.order.batches_per_epoch:
            raise DataError(
                f"the checkpoint's batch stream position ({epoch}, {position}) is "
                "invalid: the checkpoint is corrupt, restart from an earlier one"
            )
        self.epoch, self.position = epoch, position
