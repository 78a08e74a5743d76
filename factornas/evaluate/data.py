"""The retraining loop's data: the configured dataset as resumable, device-side batches.

The loop only needs :class:`~factornas.evaluate.train.RetrainData`. The in-memory datasets
(CIFAR-10, Fashion-MNIST, synthetic) sit whole on the device as uint8 and are augmented there
in batches with the loop's generator (crop, flip, cutout, as DARTS). ImageNet is decoded from
its folders by worker processes; its random-resized crop and flip are drawn per image from
(seed, epoch, index), so they too survive a resume. Batch orders come from
:class:`~factornas.data.EpochBatches`: a pure function of (seed, epoch).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from factornas.data import (
    Batch,
    EpochBatches,
    FileList,
    ImageArrays,
    ImageFolderDataset,
    augment_batch,
    dataset_spec,
    imagenet_split,
    load_image_arrays,
    normalize_batch,
)
from factornas.data.errors import DataError
from factornas.data.seeds import generator
from factornas.evaluate.config import RetrainConfig


def _epoch_order(size: int, config: RetrainConfig) -> EpochBatches:
    # Every image every epoch, as DARTS's loaders; only a lone last image is dropped, since
    # batch norm cannot normalize a batch of one.
    return EpochBatches(
        size,
        config.batch_size,
        seed=config.seed,
        drop_last=size % config.batch_size == 1,
    )


class ArrayRetrainData:
    """CIFAR-10, Fashion-MNIST or synthetic data, held on ``device``."""

    def __init__(
        self, train: ImageArrays, test: ImageArrays, config: RetrainConfig, device: torch.device
    ) -> None:
        self.config = config.data
        self.train = train.to(device)
        self.test = test.to(device)
        self.batch_size = config.batch_size
        self.num_classes = train.num_classes
        self.in_channels = int(train.images.shape[1])
        self.image_size = int(train.images.shape[-1])
        self.order = _epoch_order(len(train), config)
        self.steps_per_epoch = self.order.batches_per_epoch

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        for index in self.order.iter_epoch(epoch):
            index = index.to(self.train.labels.device)
            images = augment_batch(
                self.train.images[index],
                mean=self.train.mean,
                std=self.train.std,
                crop_padding=self.config.crop_padding,
                flip=self.config.flip,
                cutout=self.config.cutout,
                generator=generator,
            )
            yield images, self.train.labels[index]

    def test_batches(self) -> Iterator[Batch]:
        for start in range(0, len(self.test), self.batch_size):
            images = self.test.images[start : start + self.batch_size]
            yield (
                normalize_batch(images, mean=self.test.mean, std=self.test.std),
                self.test.labels[start : start + self.batch_size],
            )


class ImageNetRetrainData:
    """ImageNet from ``root/train`` and ``root/val``, decoded by ``data.imagenet.workers``
    processes."""

    def __init__(self, config: RetrainConfig, device: torch.device) -> None:
        data = config.data
        options = data.imagenet
        if data.root is None:
            raise DataError("ImageNet is not downloadable: pass --data pointing at its folder")
        train_files = _take(imagenet_split(data.root, "train"), data.subset, config.seed)
        test_files = _take(imagenet_split(data.root, "val"), data.test_subset, config.seed)
        size, resize = options.image_size, options.resize
        self.train_set = ImageFolderDataset(
            train_files, train=True, size=size, resize=resize, seed=config.seed
        )
        self.test_set = ImageFolderDataset(test_files, train=False, size=size, resize=resize)
        self.mean, self.std = options.mean, options.std
        self.device = device
        self.workers = options.workers
        self.batch_size = config.batch_size
        self.num_classes = len(train_files.classes)
        self.in_channels = 3
        self.image_size = size
        self.order = _epoch_order(len(self.train_set), config)
        self.steps_per_epoch = self.order.batches_per_epoch

    def _load(self, dataset: ImageFolderDataset, batches: list[list[int]]) -> Iterator[Batch]:
        loader = DataLoader(
            dataset,
            batch_sampler=batches,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
        )
        for images, labels in loader:
            images = images.to(self.device, non_blocking=True)
            yield (
                normalize_batch(images, mean=self.mean, std=self.std),
                labels.to(self.device, non_blocking=True),
            )

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        self.train_set.set_epoch(epoch)
        yield from self._load(self.train_set, [b.tolist() for b in self.order.iter_epoch(epoch)])

    def test_batches(self) -> Iterator[Batch]:
        n = len(self.test_set)
        starts = range(0, n, self.batch_size)
        yield from self._load(
            self.test_set, [list(range(s, min(s + self.batch_size, n))) for s in starts]
        )


def _take(files: FileList, n: int | None, seed: int) -> FileList:
    """A seeded sample of ``n`` images (all of them for ``None``), in folder order."""
    if n is None or n == len(files):
        return files
    if n > len(files):
        raise DataError(f"cannot take {n} images from {files.root}, which has {len(files)}")
    keep = torch.randperm(len(files), generator=generator("retrain-subset", seed))[:n]
    return FileList(files.root, files.classes, tuple(files.files[i] for i in sorted(keep.tolist())))


def build_retrain_data(
    config: RetrainConfig, device: torch.device
) -> ArrayRetrainData | ImageNetRetrainData:
    """Load ``config.data`` (downloading it if allowed and missing), subsets applied; a folder
    dataset (ImageNet) is decoded from its folders."""
    data = config.data
    if dataset_spec(data.dataset).folder:
        return ImageNetRetrainData(config, device)
    train = load_image_arrays(data, train=True, seed=config.seed)
    test = load_image_arrays(data, train=False, seed=config.seed)
    for flag, n, arrays in (
        ("--subset", data.subset, train),
        ("--test-subset", data.test_subset, test),
    ):
        if n is not None and n > len(arrays):
            split = "training" if arrays is train else "test"
            raise DataError(
                f"{flag} {n} exceeds the {len(arrays)} {split} images of {data.dataset}: give "
                f"at most {len(arrays)}"
            )
    if data.subset is not None:
        train = train.subset(data.subset, seed=config.seed)
    if data.test_subset is not None:
        test = test.subset(data.test_subset, seed=config.seed)
    return ArrayRetrainData(train, test, config, device)
