"""The in-memory container, its balanced subsets and splits, and the synthetic dataset."""

from __future__ import annotations

import pytest
import torch

from factornas.data import DataConfig, DataError, ImageArrays, load_image_arrays, make_synthetic
from factornas.data.arrays import balanced_order


def _indexed(labels: list[int]) -> ImageArrays:
    """Arrays whose first pixel is the image's index, so selections can be traced."""
    n = len(labels)
    images = torch.zeros(n, 1, 2, 2, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.uint8)
    return ImageArrays(images, torch.tensor(labels), 3, (0.5,), (0.5,), name="indexed")


def _ids(arrays: ImageArrays) -> list[int]:
    return arrays.images[:, 0, 0, 0].tolist()


def test_subset_is_class_balanced_and_seeded() -> None:
    data = _indexed([0] * 10 + [1] * 10 + [2] * 2)
    subset = data.subset(9, seed=0)
    counts = torch.bincount(subset.labels).tolist()
    assert sorted(counts[:2]) == [3, 4] and counts[2] == 2  # the small class is used up
    assert _ids(subset) == sorted(_ids(subset))  # dataset order is kept
    assert _ids(data.subset(9, seed=0)) == _ids(subset)
    assert _ids(data.subset(9, seed=1)) != _ids(subset)
    assert subset.mean == data.mean and subset.num_classes == 3


def test_split_is_stratified_disjoint_and_complete() -> None:
    data = _indexed([0] * 8 + [1] * 8 + [2] * 8)
    train, val = data.split(0.5, seed=4)
    assert sorted(_ids(train) + _ids(val)) == list(range(24))
    assert torch.bincount(train.labels).tolist() == [4, 4, 4]
    assert torch.bincount(val.labels).tolist() == [4, 4, 4]


def test_balanced_order_prefixes_are_balanced() -> None:
    labels = torch.tensor([0, 1, 2] * 7)
    order = balanced_order(labels, 3, seed=0)
    assert sorted(order.tolist()) == list(range(21))
    for n in range(1, 22):
        counts = torch.bincount(labels[order[:n]], minlength=3)
        assert int(counts.max() - counts.min()) <= 1


def test_bad_subset_and_split_sizes() -> None:
    data = _indexed([0, 1, 2, 0])
    with pytest.raises(DataError, match=r"subset of 5 images .* has 4"):
        data.subset(5, seed=0)
    with pytest.raises(DataError, match="leaves one side empty"):
        data.split(0.1, seed=0)
    with pytest.raises(ValueError, match="uint8"):
        ImageArrays(torch.zeros(1, 1, 2, 2), torch.zeros(1, dtype=torch.int64), 2, (0,), (1,), "x")


def test_synthetic_is_deterministic_shaped_and_balanced() -> None:
    a = make_synthetic(40, (1, 16, 12), num_classes=4, seed=3)
    assert a.images.shape == (40, 1, 16, 12) and a.images.dtype == torch.uint8
    assert torch.bincount(a.labels).tolist() == [10] * 4
    assert torch.equal(a.images, make_synthetic(40, (1, 16, 12), num_classes=4, seed=3).images)
    assert not torch.equal(a.images, make_synthetic(40, (1, 16, 12), num_classes=4, seed=4).images)
    test = make_synthetic(40, (1, 16, 12), num_classes=4, seed=3, train=False)
    assert not torch.equal(a.images, test.images) and test.mean == a.mean


def test_synthetic_classes_are_learnable() -> None:
    """A nearest-class-mean classifier fit on train must generalize to test."""
    train = load_image_arrays(DataConfig(dataset="synthetic", synthetic={"size": 500}), seed=1)
    config = DataConfig(dataset="synthetic", synthetic={"test_size": 200})
    test = load_image_arrays(config, train=False, seed=1)
    x = train.images.flatten(1).float()
    centroids = torch.stack([x[train.labels == k].mean(0) for k in range(10)])
    predicted = torch.cdist(test.images.flatten(1).float(), centroids).argmin(1)
    assert (predicted == test.labels).float().mean() > 0.9


def test_folder_and_unknown_datasets() -> None:
    with pytest.raises(DataError, match="imagenet is read from its folders, not loaded whole"):
        load_image_arrays(DataConfig(dataset="imagenet"))
    with pytest.raises(ValueError, match="unknown dataset 'imagenett'; choose one of: cifar10"):
        DataConfig(dataset="imagenett")


def test_to_moves_both_tensors() -> None:
    data = _indexed([0, 1, 2]).to("cpu")
    assert data.images.device.type == data.labels.device.type == "cpu"
