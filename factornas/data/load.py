"""One entry point for the datasets that load whole into memory."""

from __future__ import annotations

from pathlib import Path

from factornas.data.arrays import ImageArrays
from factornas.data.config import DataConfig
from factornas.data.errors import DataError
from factornas.data.registry import dataset_spec


def load_image_arrays(config: DataConfig, train: bool = True, seed: int = 0) -> ImageArrays:
    """The training (``train=True``) or test split of ``config.dataset``, loaded whole."""
    root = config.root
    if root is not None and Path(root).exists() and not Path(root).is_dir():
        raise DataError(
            f"--data {root} is a file: give the directory that holds (or will hold) "
            f"{config.dataset}"
        )
    spec = dataset_spec(config.dataset)
    if spec.folder:
        raise DataError(
            f"{spec.name} is read from its folders, not loaded whole (its search and "
            "retraining pipelines stream it)"
        )
    return spec.arrays(config, train, seed)
