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
    EpochBatches,
    FileList,
    ImageArrays,
    ImageFolderDataset,
    augment_batch,
    imagenet_split,
    load_image_arrays,
    normalize_batch,
)
from factornas.data.errors import DataError
from factornas.data.seeds import generator
from factornas.evaluate.config import RetrainConfig, RetrainDataConfig

Batch = tuple[torch.Tensor, torch.Tensor]

#: Per-channel statistics of ImageNet's training images, the normalization everyone uses.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    """ImageNet from ``root/train`` and ``root/val``, decoded by ``workers`` processes."""

    def __init__(self, config: RetrainConfig, device: torch.device, workers: int) -> None:
        data = config.data
        if data.root is None:
            raise DataError("ImageNet is not downloadable: pass --data pointing at its folder")
        train_files = _take(imagenet_split(data.root, "train"), data.subset, config.seed)
        test_files = _take(imagenet_split(data.root, "val"), data.test_subset, config.seed)
        self.train_set = ImageFolderDataset(
            train_files, train=True, size=data.image_size, resize=data.resize, seed=config.seed
        )
        self.test_set = ImageFolderDataset(
            test_files, train=False, size=data.image_size, resize=data.resize
        )
        self.device = device
        self.workers = workers
        self.batch_size = config.batch_size
        self.num_classes = len(train_files.classes)
        self.in_channels = 3
        self.image_size = data.image_size
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
                normalize_batch(images, mean=IMAGENET_MEAN, std=IMAGENET_STD),
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


def _arrays(data: RetrainDataConfig, train: bool, seed: int) -> ImageArrays:
    shape = (data.synthetic_channels, data.synthetic_image, data.synthetic_image)
    return load_image_arrays(
        data.dataset,  # type: ignore[arg-type]  # imagenet is handled by the caller
        data.root,
        train,
        data.download,
        synthetic_shape=shape,
        synthetic_size=data.synthetic_size if train else data.synthetic_test_size,
        synthetic_classes=data.synthetic_classes,
        seed=seed,
    )


def build_retrain_data(
    config: RetrainConfig, device: torch.device, *, workers: int = 4
) -> ArrayRetrainData | ImageNetRetrainData:
    """Load ``config.data`` (downloading it if allowed and missing), subsets applied."""
    data = config.data
    if data.dataset == "imagenet":
        return ImageNetRetrainData(config, device, workers)
    train = _arrays(data, True, config.seed)
    test = _arrays(data, False, config.seed)
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
