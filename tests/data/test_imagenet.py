"""ImageNet: class-balanced disjoint subsets, file lists, JPEG decoding and its errors."""

from __future__ import annotations

import random
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from factornas.data import (
    DataError,
    ImageFolderDataset,
    imagenet_split,
    make_fake_imagenet,
    read_file_list,
    sample_imagenet_subset,
    write_file_list,
)
from factornas.data.imagenet import random_resized_crop_box, require_pillow


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_imagenet(
        tmp_path_factory.mktemp("imagenet"), classes=4, images_per_class=40, size=(48, 36)
    )


def test_subsets_are_balanced_disjoint_and_seeded(imagenet: Path) -> None:
    train, val = sample_imagenet_subset(imagenet, 0.1, 0.05, seed=1)
    assert train.root == val.root == imagenet / "train"
    assert train.classes == val.classes == tuple(f"n{k:08d}" for k in range(4))
    assert Counter(label for _, label in train.files) == {k: 4 for k in range(4)}
    assert Counter(label for _, label in val.files) == {k: 2 for k in range(4)}
    assert not {f for f, _ in train.files} & {f for f, _ in val.files}
    assert all(rel.startswith(f"n{label:08d}/") for rel, label in train.files)
    assert sample_imagenet_subset(imagenet, 0.1, 0.05, seed=1) == (train, val)
    assert sample_imagenet_subset(imagenet, 0.1, 0.05, seed=2)[0] != train


def test_every_class_gets_at_least_one_image(tmp_path: Path) -> None:
    root = make_fake_imagenet(tmp_path, classes=3, images_per_class=3, size=8)
    train, val = sample_imagenet_subset(root, 0.1, 0.025, seed=0)
    assert sorted(label for _, label in train.files) == [0, 1, 2]
    assert sorted(label for _, label in val.files) == [0, 1, 2]


def test_class_too_small_for_two_samples(tmp_path: Path) -> None:
    root = make_fake_imagenet(tmp_path, classes=2, images_per_class=1, size=8)
    with pytest.raises(DataError, match=re.escape(f"{root / 'train' / 'n00000000'} has 1")):
        sample_imagenet_subset(root)


def test_missing_train_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'train'} does not exist")):
        sample_imagenet_subset(tmp_path)


def test_val_split_uses_training_labels(imagenet: Path) -> None:
    val = imagenet_split(imagenet, "val")
    assert val.root == imagenet / "val" and len(val) == 8
    assert Counter(label for _, label in val.files) == {k: 2 for k in range(4)}


def test_file_list_round_trip(imagenet: Path, tmp_path: Path) -> None:
    train, _ = sample_imagenet_subset(imagenet, seed=0)
    path = tmp_path / "run" / "search_train_files.json"
    write_file_list(path, train)
    assert read_file_list(path) == train
    moved = read_file_list(path, root=tmp_path / "elsewhere")
    assert moved.root == tmp_path / "elsewhere" and moved.files == train.files


def test_corrupt_file_list_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "files.json"
    path.write_text('{"format": "factornas-file-list/1", "files": [')
    with pytest.raises(DataError, match=re.escape(f"cannot read file list {path} (")):
        read_file_list(path)


def test_training_and_evaluation_views(imagenet: Path) -> None:
    files = imagenet_split(imagenet, "train")
    train = ImageFolderDataset(files, train=True, size=32, resize=40, seed=3)
    image, label = train[5]
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8
    assert label == files.files[5][1]
    assert torch.equal(train[5][0], image)  # a pure function of (seed, epoch, index)
    train.set_epoch(1)
    assert not torch.equal(train[5][0], image)
    evaluation = ImageFolderDataset(files, train=False, size=32, resize=40)
    assert evaluation[0][0].shape == (3, 32, 32)
    images, labels = next(iter(DataLoader(evaluation, batch_size=6)))
    assert images.shape == (6, 3, 32, 32) and labels.dtype == torch.int64


def test_unreadable_images_raise_naming_the_file(tmp_path: Path) -> None:
    root = make_fake_imagenet(tmp_path, classes=2, images_per_class=2, size=16)
    files = imagenet_split(root, "train")
    corrupt = root / "train" / files.files[0][0]
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    missing = root / "train" / files.files[1][0]
    missing.unlink()
    dataset = ImageFolderDataset(files, train=True, size=8, resize=8)
    for index, path in ((0, corrupt), (1, missing)):
        with pytest.raises(DataError, match=re.escape(f"cannot read image {path} (")):
            dataset[index]


def test_missing_pillow_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DataError, match=re.escape("factornas[imagenet]")):
        require_pillow()


def test_random_resized_crop_box_stays_inside() -> None:
    rng = random.Random(0)
    for width, height in ((50, 30), (30, 50), (7, 7)):
        for _ in range(200):
            left, top, w, h = random_resized_crop_box(
                width, height, (0.08, 1.0), (0.75, 4 / 3), rng
            )
            assert (
                w > 0 and h > 0 and left + w <= width and top + h <= height and min(left, top) >= 0
            )
    # no draw fits a 100×1 strip with square-ish ratios: the centred fallback is used
    assert random_resized_crop_box(100, 1, (0.9, 1.0), (0.75, 4 / 3), rng) == (49, 0, 1, 1)
