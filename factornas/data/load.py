"""One entry point for the datasets that fit in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from factornas.data.arrays import ImageArrays
from factornas.data.cifar10 import load_cifar10
from factornas.data.errors import DataError
from factornas.data.fashion_mnist import load_fashion_mnist
from factornas.data.synthetic import make_synthetic

ArrayDatasetName = Literal["cifar10", "fashion-mnist", "synthetic"]


def load_image_arrays(
    name: ArrayDatasetName,
    root: Path | None = None,
    train: bool = True,
    download: bool = True,
    *,
    synthetic_shape: tuple[int, int, int] = (3, 32, 32),
    synthetic_size: int = 512,
    synthetic_classes: int = 10,
    seed: int = 0,
) -> ImageArrays:
    """The training (``train=True``) or test split of dataset ``name``.

    ``root`` and ``download`` apply to the real datasets; ``synthetic_*`` and ``seed`` to the
    synthetic one, whose train and test splits share class templates.
    """
    if root is not None and name != "synthetic" and Path(root).exists() and not Path(root).is_dir():
        raise DataError(
            f"--data {root} is a file: give the directory that holds (or will hold) {name}"
        )
    if name == "cifar10":
        return load_cifar10(root, train, download)
    if name == "fashion-mnist":
        return load_fashion_mnist(root, train, download)
    if name == "synthetic":
        return make_synthetic(
            synthetic_size, synthetic_shape, synthetic_classes, seed=seed, train=train
        )
    raise DataError(
        f"{name!r} is not an in-memory dataset: use one of {', '.join(get_args(ArrayDatasetName))}"
        " (ImageNet is read from its folders by factornas.data.ImageFolderDataset)"
    )
