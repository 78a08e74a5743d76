"""The in-memory image dataset that CIFAR-10, Fashion-MNIST and synthetic data load into.

Small datasets live as one uint8 tensor (a quarter of the float32 size) that can sit on the
accelerator whole; augmentation then runs batched there (:mod:`factornas.data.augment`).
Normalization constants travel with the data so that every subset and split normalizes the
same way as the full set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from factornas.data.errors import DataError
from factornas.data.seeds import generator


@dataclass(frozen=True)
class ImageArrays:
    """``images`` uint8 N×C×H×W, ``labels`` int64 N in ``[0, num_classes)``.

    ``mean`` and ``std`` are per channel in [0, 1] pixel units, as ``normalize_batch`` wants.
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be uint8 N×C×H×W, got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(
                f"labels must be int64 of shape ({self.images.shape[0]},), got "
                f"{self.labels.dtype} {tuple(self.labels.shape)}"
            )
        channels = self.images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean/std need {channels} entries, got {self.mean} / {self.std}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> ImageArrays:
        """The same data on ``device``."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def select(self, index: torch.Tensor) -> ImageArrays:
        """The images at ``index``, keeping class count and normalization constants."""
        index = index.to(self.labels.device)
        return replace(self, images=self.images[index], labels=self.labels[index])

    def subset(self, n: int, seed: int) -> ImageArrays:
        """``n`` images, as evenly spread over the classes as their counts allow."""
        if not 0 < n <= len(self):
            raise DataError(
                f"cannot take a subset of {n} images from {self.name}, which has "
                f"{len(self)}: use a subset size between 1 and {len(self)}"
            )
        order = balanced_order(self.labels.cpu(), self.num_classes, seed)
        return self.select(order[:n].sort().values)

    def split(self, fraction: float, seed: int) -> tuple[ImageArrays, ImageArrays]:
        """A class-stratified (train, val) split with ``fraction`` of the images in train.

        The search trains weights on one half of the training set and architecture
        weights on the other (DARTS/PC-DARTS use 0.5).
        """
        k = round(fraction * len(self))
        if not 0 < k < len(self):
            raise DataError(
                f"a {fraction} split of the {len(self)} images of {self.name} "
                "leaves one side empty: use more images or a fraction nearer 0.5"
            )
        order = balanced_order(self.labels.cpu(), self.num_classes, seed)
        return self.select(order[:k].sort().values), self.select(order[k:].sort().values)


def balanced_order(labels: torch.Tensor, num_classes: int, seed: int) -> torch.Tensor:
    """A seeded permutation of ``range(len(labels))`` that deals classes round-robin.

    Every prefix holds each class as often as possible (counts differ by at most one until a
    class runs out), so the first ``n`` entries are a class-balanced sample of size ``n``.
    """
    g = generator("balanced-order", seed)
    n = labels.numel()
    shuffled = torch.randperm(n, generator=g)
    by_class = shuffled[torch.argsort(labels[shuffled], stable=True)]
    sorted_labels = labels[by_class]
    counts = torch.bincount(labels, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    rank_in_class = torch.arange(n) - starts[sorted_labels]
    class_slot = torch.randperm(num_classes, generator=g)
    return by_class[torch.argsort(rank_in_class * num_classes + class_slot[sorted_labels])]
