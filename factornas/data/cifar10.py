"""CIFAR-10 from the official python pickle batches.

``root`` may hold ``cifar-10-batches-py/``, be that folder, or hold the official
``cifar-10-python.tar.gz``, which is checked and extracted. Batches are unpickled with a
restricted unpickler that only rebuilds numpy arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from factornas.data.arrays import ImageArrays
from factornas.data.download import check_md5, default_data_root, download_file
from factornas.data.errors import DataError
from factornas.data.registry import register_dataset
from factornas.files import write_atomic

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
EXTRACTED = (*TRAIN_BATCHES, *TEST_BATCHES, "batches.meta")
NUM_CLASSES = 10
# The constants of the DARTS/PC-DARTS code, kept so that searches match the paper's setup.
MEAN = (0.49139968, 0.48215827, 0.44653124)
STD = (0.24703233, 0.24348505, 0.26158768)

_NUMPY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def _manual_hint(root: Path) -> str:
    return (
        f"download {CIFAR10_URL} by hand and put {ARCHIVE} (or its extracted {FOLDER}/ "
        f"with data_batch_1..5 and test_batch) in {root}"
    )


def _has_batches(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (*TRAIN_BATCHES, *TEST_BATCHES))


def _extract(archive: Path, dest: Path) -> None:
    """Extract the batch files only, each atomically, ignoring any other archive member."""
    folder = dest / FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parent, _, name = member.name.rpartition("/")
                if member.isfile() and parent.endswith(FOLDER) and name in EXTRACTED:
                    source = tar.extractfile(member)
                    if source is None:
                        raise tarfile.ReadError(f"cannot read member {member.name}")
                    with source:
                        write_atomic(folder / name, source.read())
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(
            f"cannot extract {archive} into {dest} ({err}): delete the archive "
            "and download it again, or check that the folder is writable"
        ) from err
    if not _has_batches(folder):
        raise DataError(
            f"{archive} does not contain the CIFAR-10 batches: delete it and "
            f"download {CIFAR10_URL} again"
        )


def prepare_cifar10(
    root: Path | None = None,
    download: bool = True,
    *,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
) -> Path:
    """The ``cifar-10-batches-py`` folder under ``root``, extracting or downloading as needed.

    ``url`` and ``md5`` are parameters so mirrors (and tests, with ``file://`` URLs) work.
    """
    root = default_data_root() if root is None else Path(root)
    for folder in (root, root / FOLDER):
        if _has_batches(folder):
            return folder
    archive = root / ARCHIVE
    if not archive.is_file():
        if not download:
            raise DataError(
                f"CIFAR-10 not found in {root}: pass download=True or {_manual_hint(root)}"
            )
        download_file(url, archive, md5, manual_hint=_manual_hint(root))
    check_md5(archive, md5)
    _extract(archive, root)
    return root / FOLDER


def read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One pickle batch as (uint8 N×3×32×32 images, int64 N labels)."""
    try:
        with path.open("rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data, labels = batch[b"data"], np.asarray(batch[b"labels"], dtype=np.int64)
    except (
        OSError,
        EOFError,
        pickle.UnpicklingError,
        KeyError,
        TypeError,
        ValueError,
        IndexError,
        AttributeError,
    ) as err:
        raise DataError(
            f"cannot read CIFAR-10 batch {path} ({err}): delete "
            f"{path.parent} and extract or download it again"
        ) from err
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3 * 32 * 32
        or labels.shape != (data.shape[0],)
        or labels.size == 0
        or labels.min() < 0
        or labels.max() >= NUM_CLASSES
    ):
        raise DataError(
            f"CIFAR-10 batch {path} has unexpected contents: delete "
            f"{path.parent} and extract or download it again"
        )
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(labels)


def load_cifar10(
    root: Path | None = None, train: bool = True, download: bool = True
) -> ImageArrays:
    """The 50 000 training or 10 000 test images of CIFAR-10."""
    folder = prepare_cifar10(root, download)
    parts = [read_batch(folder / name) for name in (TRAIN_BATCHES if train else TEST_BATCHES)]
    images = torch.cat([p[0] for p in parts])
    labels = torch.cat([p[1] for p in parts])
    return ImageArrays(images, labels, NUM_CLASSES, MEAN, STD, name="cifar10")


@register_dataset(
    "cifar10",
    image_size=32,
    channels=3,
    classes=NUM_CLASSES,
    mean=MEAN,
    std=STD,
    description="CIFAR-10: downloaded with its checksum, or read from --data",
)
def cifar10(config: Any, train: bool, seed: int) -> ImageArrays:
    """CIFAR-10's training or test split (the seed plays no part)."""
    return load_cifar10(config.root, train, config.download)
