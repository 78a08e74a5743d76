"""Datasets by name: what a search, a retraining, ``export`` and ``info`` need to know of one.

A dataset is one :class:`DatasetSpec`, registered beside its loader with
:func:`register_dataset`; a plug-in that does so is searchable, retrainable and exportable
like CIFAR-10 (``docs/datasets.md``). In-memory datasets load into
:class:`~factornas.data.arrays.ImageArrays`; a *folder* dataset (ImageNet) is streamed from
its image folders by the search's and the retraining's own pipelines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from factornas.data.arrays import ImageArrays
from factornas.data.errors import DataError
from factornas.registry import Registry

#: ``load(config, train, seed)``: the training (``train=True``) or test split of a dataset,
#: given the run's :class:`~factornas.data.config.DataConfig` (typed ``Any`` here: the config
#: validates dataset names against this registry, so this module cannot import it).
Loader = Callable[[Any, bool, int], ImageArrays]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its name, its images' shape and classes, its normalization, its loader."""

    name: str
    image_size: int
    channels: int
    classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    load: Loader | None = None
    #: Streamed from image folders (ImageNet) rather than loaded whole.
    folder: bool = False
    description: str = ""
    #: (channels, side) for a config, when the options decide them (the synthetic dataset).
    shape: Callable[[Any], tuple[int, int]] | None = None

    def input_shape(self, config: Any) -> tuple[int, int]:
        """(channels, side) of the images ``config`` reads."""
        return self.shape(config) if self.shape is not None else (self.channels, self.image_size)

    def arrays(self, config: Any, train: bool, seed: int) -> ImageArrays:
        """The training or test split, loaded whole."""
        if self.load is None:
            raise DataError(f"{self.name} is read from its folders, not loaded whole")
        return self.load(config, train, seed)


DATASETS: Registry[DatasetSpec] = Registry("dataset", unknown=DataError)


def register_dataset(
    name: str,
    *,
    image_size: int,
    channels: int,
    classes: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    description: str = "",
    shape: Callable[[Any], tuple[int, int]] | None = None,
) -> Callable[[Loader], Loader]:
    """Register the decorated loader ``load(config, train, seed) -> ImageArrays`` as dataset
    ``name`` (a taken name is refused)."""

    def decorate(load: Loader) -> Loader:
        spec = DatasetSpec(
            name, image_size, channels, classes, tuple(mean), tuple(std), load,
            description=description, shape=shape,
        )  # fmt: skip
        DATASETS.add(name, spec)
        return load

    return decorate


def dataset_spec(name: str) -> DatasetSpec:
    """The registered dataset ``name``; an unknown name lists the registered ones."""
    return DATASETS.get(name)
