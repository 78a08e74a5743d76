"""Tiny datasets in the real on-disk formats, for tests and CLI smoke runs.

Each writer produces exactly what the official distribution ships (pickle batches, idx
files, JPEG class folders) so that the real loaders, not a shortcut, are exercised. Pixel
content comes from :mod:`factornas.data.synthetic`, so models can still learn from it.
Output is byte-for-byte deterministic for a seed (archives carry fixed timestamps).
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import torch

from factornas.data.cifar10 import ARCHIVE, FOLDER, TEST_BATCHES, TRAIN_BATCHES
from factornas.data.fashion_mnist import FILES
from factornas.data.imagenet import require_pillow
from factornas.data.synthetic import make_synthetic

CIFAR10_LABEL_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


def _cifar_batch(images: torch.Tensor, labels: torch.Tensor, name: str) -> bytes:
    batch = {
        b"batch_label": name.encode(),
        b"labels": labels.tolist(),
        b"data": images.reshape(len(labels), -1).numpy(),
        b"filenames": [f"{name}_{i}.png".encode() for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=2)


def make_fake_cifar10(
    root: Path,
    train_per_batch: int = 20,
    test_size: int = 20,
    *,
    seed: int = 0,
    archive: bool = False,
) -> Path:
    """Write ``root/cifar-10-batches-py/`` (or, with ``archive``, ``root/cifar-10-python.tar.gz``
    holding it); returns the folder or archive path."""
    train = make_synthetic(len(TRAIN_BATCHES) * train_per_batch, seed=seed, train=True)
    test = make_synthetic(test_size, seed=seed, train=False)
    contents = {
        name: _cifar_batch(
            train.images[i * train_per_batch : (i + 1) * train_per_batch],
            train.labels[i * train_per_batch : (i + 1) * train_per_batch],
            name,
        )
        for i, name in enumerate(TRAIN_BATCHES)
    }
    contents[TEST_BATCHES[0]] = _cifar_batch(test.images, test.labels, TEST_BATCHES[0])
    contents["batches.meta"] = pickle.dumps(
        {b"label_names": [n.encode() for n in CIFAR10_LABEL_NAMES],
         b"num_cases_per_batch": train_per_batch, b"num_vis": 3072},
        protocol=2,
    )  # fmt: skip
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if archive:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, data in contents.items():
                info = tarfile.TarInfo(f"{FOLDER}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        path = root / ARCHIVE
        path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
        return path
    folder = root / FOLDER
    folder.mkdir(exist_ok=True)
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return folder


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte array in idx format: magic, big-endian dimensions, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def make_fake_fashion_mnist(
    root: Path,
    train_size: int = 60,
    test_size: int = 20,
    *,
    seed: int = 0,
    gzipped: bool = False,
) -> Path:
    """Write the four Fashion-MNIST idx files (``.gz`` when ``gzipped``) into ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for train, size in ((True, train_size), (False, test_size)):
        data = make_synthetic(size, (1, 28, 28), seed=seed, train=train)
        images_name, labels_name = FILES[train]
        for name, array in ((images_name, data.images[:, 0]), (labels_name, data.labels)):
            raw = idx_bytes(array.numpy().astype(np.uint8))
            if gzipped:
                (root / f"{name}.gz").write_bytes(gzip.compress(raw, mtime=0))
            else:
                (root / name).write_bytes(raw)
    return root


def make_fake_imagenet(
    root: Path,
    classes: int = 3,
    images_per_class: int = 10,
    size: int | tuple[int, int] = 64,
    seed: int = 0,
    *,
    val_images_per_class: int = 2,
) -> Path:
    """Write ``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG`` of real JPEGs.

    ``size`` is the side, or (width, height). Class ``k`` is named ``n{k:08d}``.
    """
    pil = require_pillow()
    width, height = (size, size) if isinstance(size, int) else size
    root = Path(root)
    for split, count in (("train", images_per_class), ("val", val_images_per_class)):
        data = make_synthetic(
            classes * count, (3, height, width), classes, seed=seed, train=split == "train"
        )
        for i, (image, label) in enumerate(zip(data.images, data.labels.tolist(), strict=True)):
            folder = root / split / f"n{label:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = image.permute(1, 2, 0).contiguous().numpy()
            pil.fromarray(pixels).save(folder / f"{split}_{i:06d}.JPEG", quality=90)
    return root
