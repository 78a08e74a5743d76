"""Fashion-MNIST from the standard idx files, plain or gzipped.

Files are looked for in ``root`` (and ``root/fashion-mnist``), then downloaded into it. Without a
``root``, Debian's ``dataset-fashion-mnist`` copy is used before anything is downloaded; a
``root`` the user names is never silently swapped for that copy. Published MD5s
are checked on downloads only: Debian recompresses the ``.gz`` files, so their checksums
differ from Zalando's although the contents are identical.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from factornas.data.arrays import ImageArrays
from factornas.data.download import default_data_root, download_file
from factornas.data.errors import DataError
from factornas.data.registry import register_dataset

BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MD5 = {  # of the published .gz files
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}
NUM_CLASSES = 10
MEAN = (0.2860,)
STD = (0.3530,)
_UBYTE = 0x08


def _find(folder: Path, name: str) -> Path | None:
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def locate_fashion_mnist(
    root: Path | None = None,
    train: bool = True,
    download: bool = True,
    *,
    base_url: str = BASE_URL,
) -> tuple[Path, Path]:
    """Paths of the (images, labels) idx files of one split, downloading them if needed."""
    base = default_data_root() if root is None else Path(root)
    dest = base / "fashion-mnist" if root is None else base
    names = FILES[train]
    folders = (base, base / "fashion-mnist") + ((DEBIAN_DIR,) if root is None else ())
    for folder in folders:
        found = [_find(folder, name) for name in names]
        if found[0] is not None and found[1] is not None:
            return found[0], found[1]
    hint = (
        f"put {names[0]} and {names[1]} (optionally .gz) from {BASE_URL} in {dest}, "
        "or apt-get install dataset-fashion-mnist"
    )
    if not download:
        raise DataError(
            f"Fashion-MNIST not found in {' or '.join(map(str, folders))}: pass download=True "
            f"or {hint}"
        )
    images, labels = (
        download_file(f"{base_url}{name}.gz", dest / f"{name}.gz", MD5[name], manual_hint=hint)
        for name in names
    )
    return images, labels


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An unsigned-byte idx array with ``ndim`` dimensions, header and size validated."""
    opener = gzip.open if path.suffix == ".gz" else open
    fix = f"delete {path} and let factornas download it again"
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read {path} ({err}): {fix}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an idx file (bad magic number): {fix}")
    if raw[2] != _UBYTE or raw[3] != ndim:
        raise DataError(
            f"{path} holds idx type 0x{raw[2]:02x} with {raw[3]} dimensions, "
            f"expected unsigned bytes with {ndim}: {fix}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header: {fix}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) != header + int(np.prod(dims)):
        raise DataError(
            f"{path} holds {len(raw) - header} data bytes but its header "
            f"announces {int(np.prod(dims))} ({'x'.join(map(str, dims))}): {fix}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_fashion_mnist(
    root: Path | None = None, train: bool = True, download: bool = True
) -> ImageArrays:
    """The 60 000 training or 10 000 test images of Fashion-MNIST, as N×1×28×28."""
    images_path, labels_path = locate_fashion_mnist(root, train, download)
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has "
            f"{labels.shape[0]} labels: replace both files from the same release"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(
            f"{labels_path} has label {labels.max()}, expected 0..9: delete it "
            "and let factornas download it again"
        )
    return ImageArrays(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        NUM_CLASSES,
        MEAN,
        STD,
        name="fashion-mnist",
    )


@register_dataset(
    "fashion-mnist",
    image_size=28,
    channels=1,
    classes=NUM_CLASSES,
    mean=MEAN,
    std=STD,
    description="Fashion-MNIST: Debian's dataset-fashion-mnist, --data, or downloaded",
)
def fashion_mnist(config: Any, train: bool, seed: int) -> ImageArrays:
    """Fashion-MNIST's training or test split (the seed plays no part)."""
    return load_fashion_mnist(config.root, train, config.download)
