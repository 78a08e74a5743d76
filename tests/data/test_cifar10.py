"""CIFAR-10: real pickle batches written by the fake writer, archives, downloads, errors."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from factornas.data import (
    DataConfig,
    DataError,
    load_image_arrays,
    make_fake_cifar10,
    prepare_cifar10,
)
from factornas.data.cifar10 import ARCHIVE, FOLDER, load_cifar10
from factornas.data.download import file_md5


def test_loads_folder_from_parent_or_itself(tmp_path: Path) -> None:
    folder = make_fake_cifar10(tmp_path, train_per_batch=8, test_size=12)
    for root in (tmp_path, folder):
        train = load_cifar10(root, train=True, download=False)
        assert train.images.shape == (40, 3, 32, 32) and train.images.dtype == torch.uint8
        assert train.labels.dtype == torch.int64
        assert int(train.labels.min()) >= 0 and int(train.labels.max()) < 10
        assert train.num_classes == 10 and len(train.mean) == 3
    config = DataConfig(dataset="cifar10", root=tmp_path, download=False)
    test = load_image_arrays(config, train=False)
    assert test.images.shape == (12, 3, 32, 32) and test.name == "cifar10"


def test_extracts_a_verified_archive(tmp_path: Path) -> None:
    archive = make_fake_cifar10(tmp_path, train_per_batch=4, archive=True)
    assert not (tmp_path / FOLDER).exists()
    folder = prepare_cifar10(tmp_path, download=False, md5=file_md5(archive))
    assert folder == tmp_path / FOLDER
    assert len(load_cifar10(tmp_path, download=False)) == 20


def test_archive_with_wrong_md5_is_rejected(tmp_path: Path) -> None:
    make_fake_cifar10(tmp_path, archive=True)
    with pytest.raises(DataError, match=rf"{ARCHIVE} has MD5 .*expected c58f3010"):
        load_cifar10(tmp_path, download=False)


def test_download_is_verified_and_atomic(tmp_path: Path) -> None:
    archive = make_fake_cifar10(tmp_path / "mirror", archive=True)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"expected 0{32}"):
        prepare_cifar10(dest, url=archive.as_uri(), md5="0" * 32)
    assert not dest.exists()  # neither a bad archive, a partial file nor the folder it made remains
    dest.mkdir()  # a folder the user made is kept, and stays empty
    with pytest.raises(DataError, match=r"expected 0{32}"):
        prepare_cifar10(dest, url=archive.as_uri(), md5="0" * 32)
    assert list(dest.iterdir()) == []
    folder = prepare_cifar10(dest, url=archive.as_uri(), md5=file_md5(archive))
    assert sorted(p.name for p in dest.iterdir()) == sorted([ARCHIVE, FOLDER])
    assert (folder / "test_batch").is_file()


def test_failed_download_says_where_to_put_files(tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere.tar.gz").as_uri()
    with pytest.raises(DataError) as info:
        prepare_cifar10(tmp_path / "data", url=missing)
    message = str(info.value)
    assert "\n" not in message and "could not download" in message
    assert f"put {ARCHIVE}" in message and str(tmp_path / "data") in message


def test_missing_data_without_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path / "empty", download=False)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "empty") in message
    assert "download=True" in message and f"{FOLDER}/" in message
    assert isinstance(info.value, RuntimeError)


def test_truncated_batch_names_the_file(tmp_path: Path) -> None:
    folder = make_fake_cifar10(tmp_path, train_per_batch=4)
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(DataError, match=re.escape(f"cannot read CIFAR-10 batch {batch} (")):
        load_cifar10(tmp_path, download=False)


def test_batch_with_wrong_contents_names_the_file(tmp_path: Path) -> None:
    folder = make_fake_cifar10(tmp_path, train_per_batch=4)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": [1, 2], b"labels": [0]}))
    with pytest.raises(
        DataError, match=re.escape(f"{folder / 'test_batch'} has unexpected contents")
    ):
        load_cifar10(tmp_path, train=False, download=False)


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_pickles_cannot_run_code(tmp_path: Path) -> None:
    folder = make_fake_cifar10(tmp_path, train_per_batch=4)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": []}))
    with pytest.raises(DataError, match="unexpected object"):
        load_cifar10(tmp_path, train=False, download=False)
