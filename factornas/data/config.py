"""The one data config of factornas: which dataset a search or a retraining reads, which
part of it, and how its training batches are augmented.

Search and retraining share it field for field (a ``[data]`` section reads the same in
either); the two settings only one of them uses say so (``train_portion``: the search's split
of the training set; ``test_subset``: the retraining's test images). Options of one dataset
are nested under its name (``[data.imagenet]``, ``[data.synthetic]``). The dataset is any
registered one (:mod:`factornas.data.registry`): a plug-in's dataset is checked like a
built-in's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from factornas.data.registry import DATASETS

#: Flat names of factornas 0.1's search (``imagenet_*``, ``synthetic_*``, ``workers``) and
#: retraining (``image_size``, ``resize``) data configs → their nested place now.
LEGACY_FIELDS: dict[str, tuple[str, str]] = {
    "synthetic_size": ("synthetic", "size"),
    "synthetic_test_size": ("synthetic", "test_size"),
    "synthetic_image": ("synthetic", "image"),
    "synthetic_channels": ("synthetic", "channels"),
    "synthetic_classes": ("synthetic", "classes"),
    "imagenet_train_fraction": ("imagenet", "train_fraction"),
    "imagenet_val_fraction": ("imagenet", "val_fraction"),
    "imagenet_image": ("imagenet", "image_size"),
    "image_size": ("imagenet", "image_size"),
    "imagenet_resize": ("imagenet", "resize"),
    "resize": ("imagenet", "resize"),
    "imagenet_mean": ("imagenet", "mean"),
    "imagenet_std": ("imagenet", "std"),
    "workers": ("imagenet", "workers"),
}


class SyntheticOptions(BaseModel):
    """The synthetic dataset: class templates plus noise, generated from the seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = Field(512, gt=0, description="training images")
    test_size: int = Field(256, gt=0, description="test images (retraining)")
    image: int = Field(32, gt=0, description="side of the square images")
    channels: int = Field(3, gt=0)
    classes: int = Field(10, ge=2)


class ImageNetOptions(BaseModel):
    """ImageNet (ILSVRC2012) read from its ``train``/``val`` folders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train_fraction: float = Field(
        0.1, gt=0, le=1, description="search: the class-balanced share of train that trains ω"
    )
    val_fraction: float = Field(
        0.025, gt=0, le=1, description="search: the share that trains the architecture"
    )
    image_size: int = Field(224, gt=0, description="side of the training crops")
    resize: int = Field(256, gt=0, description="scoring: the shorter side, then a centred crop")
    mean: tuple[float, float, float] = Field(
        (0.485, 0.456, 0.406), description="per-channel mean of ImageNet's training images"
    )
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    workers: int = Field(4, ge=0, description="decoding processes per loader and rank")

    @model_validator(mode="after")
    def _crop_fits(self) -> ImageNetOptions:
        if self.image_size > self.resize:
            raise ValueError(
                f"image_size ({self.image_size}) must not exceed resize ({self.resize})"
            )
        return self


class DataConfig(BaseModel):
    """Where the data comes from, which part of it, and how it is augmented."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str = Field("cifar10", description="a registered dataset (factornas info lists them)")
    root: Path | None = Field(None, description="dataset directory (downloaded into if missing)")
    download: bool = True
    subset: int | None = Field(None, gt=0, description="use only this many training images")
    test_subset: int | None = Field(
        None, gt=0, description="retraining: evaluate on only this many test images"
    )
    train_portion: float = Field(
        0.5, gt=0, lt=1, description="search: the share of the training images that trains ω"
    )
    crop_padding: int = Field(4, ge=0, description="random crop after zero padding")
    flip: bool = True
    cutout: int = Field(0, ge=0, description="side of the cutout square (0: none)")
    synthetic: SyntheticOptions = SyntheticOptions()
    imagenet: ImageNetOptions = ImageNetOptions()

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """factornas 0.1's flat option names still read (old configs and run directories)."""
        if not isinstance(data, dict) or not any(key in data for key in LEGACY_FIELDS):
            return data
        data = dict(data)
        for old, (section, field) in LEGACY_FIELDS.items():
            if old in data:
                nested = data.get(section)
                nested = dict(nested) if isinstance(nested, dict) else {}
                nested[field] = data.pop(old)  # a flat name given beside the section wins
                data[section] = nested
        return data

    @field_validator("dataset")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in DATASETS:
            raise ValueError(
                f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)} (a plug-in "
                "registers more)"
            )
        return name
