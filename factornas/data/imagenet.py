"""ImageNet (ILSVRC2012 folder layout) as file lists and a decoding ``Dataset``.

PC-DARTS searches on two disjoint, class-balanced samples of the *training* folder (10% to
train weights, 2.5% to train architecture weights). Sampling is seeded, and the lists are
saved as JSON in the run directory, so a resumed or repeated search reads exactly the same
images even if the folder later gains files. The ``Dataset`` returns uint8 CHW tensors;
normalization runs batched on the device (:func:`factornas.data.augment.normalize_batch`).
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from factornas.data.errors import DataError
from factornas.data.registry import DATASETS, DatasetSpec
from factornas.data.seeds import derive_seed, generator
from factornas.files import write_atomic

if TYPE_CHECKING:
    from PIL import Image as PILImage

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png"})
FILE_LIST_FORMAT = "factornas-file-list/1"


def require_pillow() -> ModuleType:
    """``PIL.Image``, or a :class:`DataError` saying how to install Pillow."""
    try:
        from PIL import Image
    except ImportError as err:
        raise DataError("reading ImageNet needs Pillow: pip install 'factornas[imagenet]'") from err
    return Image


@dataclass(frozen=True)
class FileList:
    """Images as ``(path relative to root, label)``; ``label`` indexes ``classes`` (wnids)."""

    root: Path
    classes: tuple[str, ...]
    files: tuple[tuple[str, int], ...]

    def __len__(self) -> int:
        return len(self.files)


def imagenet_classes(root: Path) -> tuple[str, ...]:
    """The sorted class folders (wnids) of ``root/train``, which fix the label numbering."""
    train = Path(root) / "train"
    if not train.is_dir():
        raise DataError(
            f"{train} does not exist: point root at an ImageNet folder laid out as "
            "root/train/<wnid>/*.JPEG and root/val/<wnid>/*.JPEG"
        )
    classes = tuple(sorted(entry.name for entry in os.scandir(train) if entry.is_dir()))
    if not classes:
        raise DataError(f"{train} has no class folders: expected {train}/<wnid>/*.JPEG")
    return classes


def _class_images(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise DataError(f"class folder {folder} is missing: restore it or remove the class")
    names = sorted(
        entry.name
        for entry in os.scandir(folder)
        if entry.is_file() and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES
    )
    if not names:
        raise DataError(f"{folder} holds no images: add its .JPEG files or remove the folder")
    return names


def imagenet_split(root: Path, split: Literal["train", "val"]) -> FileList:
    """Every image of ``root/<split>``, labelled by the class order of the training folder."""
    classes = imagenet_classes(root)
    folder = Path(root) / split
    if split == "val":
        extra = sorted({e.name for e in os.scandir(folder) if e.is_dir()} - set(classes))
        if extra:
            raise DataError(
                f"{folder} has class folders missing from the training set ({extra[0]}, ...): "
                "use the class-folder layout of the ILSVRC2012 validation set"
            )
    files = tuple(
        (f"{wnid}/{name}", label)
        for label, wnid in enumerate(classes)
        for name in _class_images(folder / wnid)
    )
    return FileList(folder, classes, files)


def sample_imagenet_subset(
    root: Path, train_fraction: float = 0.1, val_fraction: float = 0.025, seed: int = 0
) -> tuple[FileList, FileList]:
    """Disjoint, class-balanced (search-train, search-val) samples of ``root/train``.

    Each class contributes ``round(fraction × its count)`` images to each sample, at least
    one, so every class is present in both.
    """
    if not (0 < train_fraction <= 1 and 0 < val_fraction <= 1):
        raise ValueError(f"fractions must lie in (0, 1], got {train_fraction}, {val_fraction}")
    if train_fraction + val_fraction > 1:
        raise ValueError(f"fractions {train_fraction} + {val_fraction} exceed 1")
    classes = imagenet_classes(root)
    folder = Path(root) / "train"
    g = generator("imagenet-subset", seed)
    train: list[tuple[str, int]] = []
    val: list[tuple[str, int]] = []
    for label, wnid in enumerate(classes):
        names = _class_images(folder / wnid)
        n_train = max(1, round(train_fraction * len(names)))
        n_val = max(1, round(val_fraction * len(names)))
        if n_train + n_val > len(names):
            raise DataError(
                f"{folder / wnid} has {len(names)} images, too few for disjoint samples of "
                f"{n_train} and {n_val}: add images or lower the fractions"
            )
        picked = torch.randperm(len(names), generator=g)[: n_train + n_val].tolist()
        train += [(f"{wnid}/{names[i]}", label) for i in sorted(picked[:n_train])]
        val += [(f"{wnid}/{names[i]}", label) for i in sorted(picked[n_train:])]
    return FileList(folder, classes, tuple(train)), FileList(folder, classes, tuple(val))


def write_file_list(path: Path, files: FileList) -> None:
    """Save ``files`` as JSON (atomically, so a crash never leaves half a list)."""
    payload = {
        "format": FILE_LIST_FORMAT,
        "root": str(files.root),
        "classes": list(files.classes),
        "files": [list(item) for item in files.files],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(payload))


def read_file_list(path: Path, root: Path | None = None) -> FileList:
    """Load a list saved by :func:`write_file_list`; ``root`` overrides where images live."""
    path = Path(path)
    try:
        payload: Any = json.loads(path.read_text())
        if payload["format"] != FILE_LIST_FORMAT:
            raise ValueError(f"format {payload['format']!r}")
        classes = tuple(str(c) for c in payload["classes"])
        files = tuple((str(rel), int(label)) for rel, label in payload["files"])
        saved_root = Path(payload["root"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
        raise DataError(
            f"cannot read file list {path} ({err}): delete it to sample the subset again"
        ) from err
    return FileList(saved_root if root is None else Path(root), classes, files)


def random_resized_crop_box(
    width: int,
    height: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: random.Random,
) -> tuple[int, int, int, int]:
    """(left, top, w, h) of a crop with random area fraction and aspect ratio.

    Tries ten draws; when none fits, falls back to the largest centred crop whose aspect
    ratio lies within ``ratio``.
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    aspect = min(max(width / height, ratio[0]), ratio[1])
    w, h = min(width, round(height * aspect)), min(height, round(width / aspect))
    return (width - w) // 2, (height - h) // 2, w, h


class ImageFolderDataset(Dataset[tuple[torch.Tensor, int]]):
    """Decodes the images of a :class:`FileList` into uint8 3×size×size tensors.

    Training: random-resized crop to ``size`` and a random flip, drawn from a generator
    seeded by (seed, epoch, index), so augmentation does not depend on worker scheduling;
    call :meth:`set_epoch` before each epoch. Evaluation: shorter side to ``resize``, then a
    centred ``size`` crop.
    """

    def __init__(
        self,
        files: FileList,
        *,
        train: bool,
        size: int = 224,
        resize: int = 256,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        seed: int = 0,
    ) -> None:
        if not 0 < size <= resize:
            raise ValueError(f"need 0 < size <= resize, got size {size}, resize {resize}")
        self.files = files
        self.train = train
        self.size = size
        self.resize = resize
        self.scale = scale
        self.ratio = ratio
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (workers copy the dataset per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        relative, label = self.files.files[index]
        image = self._open(self.files.root / relative)
        image = self._train_view(image, index) if self.train else self._eval_view(image)
        return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1), label

    @staticmethod
    def _open(path: Path) -> PILImage.Image:
        pil = require_pillow()
        try:
            with pil.open(path) as image:
                return image.convert("RGB")
        except (OSError, ValueError, pil.DecompressionBombError) as err:
            raise DataError(
                f"cannot read image {path} ({err}): replace the file, or remove it and "
                "delete the run's file lists so they are sampled again"
            ) from err

    def _train_view(self, image: PILImage.Image, index: int) -> PILImage.Image:
        pil = require_pillow()
        rng = random.Random(derive_seed("imagenet-augment", self.seed, self.epoch, index))
        left, top, w, h = random_resized_crop_box(*image.size, self.scale, self.ratio, rng)
        image = image.resize(
            (self.size, self.size), pil.Resampling.BILINEAR, box=(left, top, left + w, top + h)
        )
        return image.transpose(pil.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image

    def _eval_view(self, image: PILImage.Image) -> PILImage.Image:
        pil = require_pillow()
        width, height = image.size
        shorter = min(width, height)
        new = (round(width * self.resize / shorter), round(height * self.resize / shorter))
        image = image.resize(new, pil.Resampling.BILINEAR)
        left, top = (new[0] - self.size) // 2, (new[1] - self.size) // 2
        return image.crop((left, top, left + self.size, top + self.size))


#: ImageNet's per-channel statistics over its training images, the normalization everyone uses.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DATASETS.add(
    "imagenet",
    DatasetSpec(
        "imagenet",
        image_size=224,
        channels=3,
        classes=1000,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        folder=True,
        description="ILSVRC2012 from its train/ and val/ class folders (--data; not downloadable)",
        shape=lambda config: (3, config.imagenet.image_size),
    ),
)
