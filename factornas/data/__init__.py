"""Datasets, batch orders and batched augmentation for searches and retraining.

CIFAR-10, Fashion-MNIST and synthetic data load whole into :class:`ImageArrays` (uint8
tensors that can live on the accelerator); ImageNet is read from its folders through file
lists and :class:`ImageFolderDataset`. Batch orders are pure functions of (seed, epoch) so
runs resume exactly, and augmentation runs batched on the device with an explicit generator.
"""

from factornas.data.arrays import ImageArrays, balanced_order
from factornas.data.augment import (
    augment_batch,
    normalize_batch,
    random_crop,
    random_cutout,
    random_flip,
)
from factornas.data.batches import Batch, CyclingBatches, EpochBatches
from factornas.data.cifar10 import load_cifar10, prepare_cifar10
from factornas.data.config import DataConfig, ImageNetOptions, SyntheticOptions
from factornas.data.download import default_data_root
from factornas.data.errors import DataError
from factornas.data.fake import make_fake_cifar10, make_fake_fashion_mnist, make_fake_imagenet
from factornas.data.fashion_mnist import load_fashion_mnist, locate_fashion_mnist
from factornas.data.imagenet import (
    FileList,
    ImageFolderDataset,
    imagenet_split,
    read_file_list,
    sample_imagenet_subset,
    write_file_list,
)
from factornas.data.load import load_image_arrays
from factornas.data.registry import DATASETS, DatasetSpec, dataset_spec, register_dataset
from factornas.data.synthetic import make_synthetic

__all__ = [
    "DATASETS",
    "Batch",
    "CyclingBatches",
    "DataConfig",
    "DataError",
    "DatasetSpec",
    "EpochBatches",
    "FileList",
    "ImageArrays",
    "ImageFolderDataset",
    "ImageNetOptions",
    "SyntheticOptions",
    "augment_batch",
    "balanced_order",
    "dataset_spec",
    "default_data_root",
    "imagenet_split",
    "load_cifar10",
    "load_fashion_mnist",
    "load_image_arrays",
    "locate_fashion_mnist",
    "make_fake_cifar10",
    "make_fake_fashion_mnist",
    "make_fake_imagenet",
    "make_synthetic",
    "normalize_batch",
    "prepare_cifar10",
    "random_crop",
    "random_cutout",
    "random_flip",
    "read_file_list",
    "register_dataset",
    "sample_imagenet_subset",
    "write_file_list",
]
