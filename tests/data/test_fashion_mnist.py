"""Fashion-MNIST: idx files (plain and gzipped), search order, header validation."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from factornas.data import DataConfig, DataError, load_image_arrays, make_fake_fashion_mnist
from factornas.data import fashion_mnist as fm
from factornas.data.fake import idx_bytes


@pytest.fixture
def no_debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the system copy so the tests see only their own files."""
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")


@pytest.mark.parametrize("gzipped", [False, True])
def test_loads_both_splits(tmp_path: Path, gzipped: bool, no_debian: None) -> None:
    make_fake_fashion_mnist(tmp_path, train_size=30, test_size=10, gzipped=gzipped)
    train = fm.load_fashion_mnist(tmp_path, train=True, download=False)
    config = DataConfig(dataset="fashion-mnist", root=tmp_path, download=False)
    test = load_image_arrays(config, train=False)
    assert train.images.shape == (30, 1, 28, 28) and test.images.shape == (10, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert set(train.labels.tolist()) == set(range(10))
    assert train.mean == fm.MEAN and train.std == fm.STD


def test_finds_files_in_fashion_mnist_subfolder(tmp_path: Path, no_debian: None) -> None:
    make_fake_fashion_mnist(tmp_path / "fashion-mnist", test_size=5)
    assert len(fm.load_fashion_mnist(tmp_path, train=False, download=False)) == 5


def test_falls_back_to_debian_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = make_fake_fashion_mnist(tmp_path / "debian", test_size=7, gzipped=True)
    monkeypatch.setattr(fm, "DEBIAN_DIR", debian)
    monkeypatch.setenv("FACTORNAS_DATA", str(tmp_path / "empty"))
    images, labels = fm.locate_fashion_mnist(None, train=False, download=False)
    assert images == debian / "t10k-images-idx3-ubyte.gz" and labels.parent == debian


def test_a_named_root_is_never_swapped_for_debian(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fm, "DEBIAN_DIR", make_fake_fashion_mnist(tmp_path / "debian"))
    with pytest.raises(DataError, match=r"Fashion-MNIST not found in .*empty"):
        fm.locate_fashion_mnist(tmp_path / "empty", train=False, download=False)


def test_missing_files_message(tmp_path: Path, no_debian: None) -> None:
    with pytest.raises(DataError) as info:
        fm.load_fashion_mnist(tmp_path / "empty", download=False)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "empty") in message
    assert "train-images-idx3-ubyte" in message and "dataset-fashion-mnist" in message


def test_download_checks_published_md5(tmp_path: Path, no_debian: None) -> None:
    mirror = make_fake_fashion_mnist(tmp_path / "mirror", gzipped=True)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"MD5 [0-9a-f]{32}, expected 8d4fb7e6"):
        fm.locate_fashion_mnist(dest, base_url=mirror.as_uri() + "/")
    assert not dest.exists()  # the folder the failed download made is removed again
    dest.mkdir()
    with pytest.raises(DataError, match=r"MD5 [0-9a-f]{32}, expected 8d4fb7e6"):
        fm.locate_fashion_mnist(dest, base_url=mirror.as_uri() + "/")
    assert list(dest.iterdir()) == []


def _corrupt(tmp_path: Path, name: str, data: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_fake_fashion_mnist(tmp_path, test_size=4)
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x08\x03\x00\x00" + bytes(100), "bad magic number"),
        (b"\x00\x00\x0d\x03" + bytes(100), "idx type 0x0d"),
        (idx_bytes(np.zeros((4, 28), np.uint8)), "with 2 dimensions"),
        (idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-1], "announces 3136"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated inside its header"),
    ],
)
def test_corrupt_idx_names_the_file(
    tmp_path: Path, data: bytes, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _corrupt(tmp_path, "t10k-images-idx3-ubyte", data, monkeypatch)
    with pytest.raises(DataError) as info:
        fm.load_fashion_mnist(tmp_path, train=False, download=False)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_truncated_gzip_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = gzip.compress(idx_bytes(np.zeros((4,), np.uint8)))
    path = _corrupt(tmp_path, "t10k-labels-idx1-ubyte.gz", raw[:-6], monkeypatch)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=re.escape(f"cannot read {path} (")):
        fm.load_fashion_mnist(tmp_path, train=False, download=False)


def test_label_count_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _corrupt(tmp_path, "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8)), monkeypatch)
    with pytest.raises(DataError, match=r"has 4 images but .* has 3 labels"):
        fm.load_fashion_mnist(tmp_path, train=False, download=False)


@pytest.mark.skipif(not fm.DEBIAN_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_debian_test_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORNAS_DATA", str(tmp_path / "empty"))
    test = fm.load_fashion_mnist(None, train=False, download=False)
    assert test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(test.labels).tolist() == [1000] * 10
