"""The search's data streams: the training set split into search-train and search-val.

The search needs one validation batch per training step (Algorithm 1), so validation is a
persistent cycling stream whose position is checkpointed; training batches follow a
permutation that is a pure function of (seed, epoch), so resuming mid-epoch needs only the
step index. Images stay uint8 on the device and are augmented there in batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import torch

from factornas.data.arrays import ImageArrays
from factornas.data.augment import augment_batch, normalize_batch
from factornas.data.batches import Batch, CyclingBatches, EpochBatches
from factornas.data.load import load_image_arrays
from factornas.data.registry import dataset_spec
from factornas.errors import FactorNASError
from factornas.runtime.distributed import DistContext
from factornas.search.config import SearchConfig
from factornas.search.imagenet_data import ImageNetSearchData


class SearchData(Protocol):
    """What the search loop needs from its data."""

    num_classes: int
    in_channels: int
    steps_per_epoch: int

    def train_batches(
        self, epoch: int, start_step: int, rng: torch.Generator
    ) -> Iterator[Batch]: ...

    def next_val_batch(self, rng: torch.Generator) -> Batch: ...

    def eval_batches(self, limit: int | None) -> Iterator[Batch]: ...

    def val_stream_state(self) -> dict[str, Any]: ...

    def load_val_stream_state(self, state: dict[str, Any]) -> None: ...


class ArraySearchData:
    """An in-memory dataset (CIFAR-10, Fashion-MNIST, synthetic) as device tensors."""

    def __init__(
        self,
        train: ImageArrays,
        val: ImageArrays,
        config: SearchConfig,
        dist: DistContext,
        device: torch.device,
    ) -> None:
        if config.batch_size % dist.world_size:
            raise FactorNASError(
                f"batch size {config.batch_size} does not split over {dist.world_size} "
                "processes: use a multiple of the process count"
            )
        self.config = config
        self.dist = dist
        self.train = train.to(device)
        self.val = val.to(device)
        self.num_classes = train.num_classes
        self.in_channels = int(train.images.shape[1])
        shard = {"rank": dist.rank, "world_size": dist.world_size}
        self.train_order = EpochBatches(
            len(train), config.batch_size, seed=config.seed, drop_last=True, **shard
        )
        self.val_order = CyclingBatches(
            len(val), config.batch_size, seed=config.seed + 1, drop_last=True, **shard
        )
        self.steps_per_epoch = self.train_order.batches_per_epoch

    def _augmented(self, arrays: ImageArrays, index: torch.Tensor, rng: torch.Generator) -> Batch:
        index = index.to(arrays.images.device)
        x = augment_batch(
            arrays.images[index],
            mean=arrays.mean,
            std=arrays.std,
            crop_padding=self.config.data.crop_padding,
            flip=self.config.data.flip,
            cutout=self.config.data.cutout,
            generator=rng,
        )
        return x, arrays.labels[index]

    def train_batches(self, epoch: int, start_step: int, rng: torch.Generator) -> Iterator[Batch]:
        for index in self.train_order.iter_epoch(epoch, start_step):
            yield self._augmented(self.train, index, rng)

    def next_val_batch(self, rng: torch.Generator) -> Batch:
        return self._augmented(self.val, self.val_order.next(), rng)

    def eval_batches(self, limit: int | None) -> Iterator[Batch]:
        """The validation split in order, this rank's share of each batch, unaugmented."""
        size = self.config.batch_size
        n = len(self.val)
        for i, start in enumerate(range(0, n, size)):
            if limit is not None and i >= limit:
                break
            index = torch.arange(start, min(start + size, n), device=self.val.images.device)
            index = index[self.dist.rank :: self.dist.world_size]
            images = self.val.images[index]
            yield (
                normalize_batch(images, mean=self.val.mean, std=self.val.std),
                self.val.labels[index],
            )

    def val_stream_state(self) -> dict[str, Any]:
        return self.val_order.state_dict()

    def load_val_stream_state(self, state: dict[str, Any]) -> None:
        self.val_order.load_state_dict(state)


def build_search_data(
    config: SearchConfig, dist: DistContext, device: torch.device, run_root: Path
) -> SearchData:
    """Load the configured dataset and split its training set into search train/val.

    A folder dataset (ImageNet) is sampled from its training folder and decoded on the fly
    (:mod:`factornas.search.imagenet_data`); the others load whole into memory.
    """
    data = config.data
    if dataset_spec(data.dataset).folder:
        return ImageNetSearchData(config, dist, device, run_root)
    arrays = load_image_arrays(data, train=True, seed=config.seed)
    if data.subset is not None:
        if data.subset > len(arrays):
            raise FactorNASError(
                f"--subset {data.subset} exceeds the {len(arrays)} training images of "
                f"{data.dataset}"
            )
        arrays = arrays.subset(data.subset, seed=config.seed)
    train, val = arrays.split(data.train_portion, seed=config.seed)
    return ArraySearchData(train, val, config, dist, device)
