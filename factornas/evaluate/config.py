"""Retraining configuration: every constant of an evaluation network and its training.

The paper's two recipes (CIFAR-10 §4.2, ImageNet §4.3) are instances of these models in
:mod:`factornas.presets.retrain`; docs/evaluation.md explains the choices where the paper is
ambiguous.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factornas.runtime.precision import Precision

NetworkKind = Literal["cifar", "imagenet"]


class NetworkConfig(BaseModel):
    """Which evaluation network to build from a genotype, and how wide and deep."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NetworkKind = Field(
        default="cifar", description="cifar (3×3 stem) or imagenet (×8 stems)"
    )
    channels: int = Field(default=36, gt=0, description="initial channel count C")
    layers: int = Field(
        default=20, ge=3, description="cells; reductions at 1/3 and 2/3 of the depth"
    )
    num_classes: int = Field(default=10, ge=2)
    in_channels: int = Field(default=3, ge=1, description="image channels (1 for Fashion-MNIST)")
    auxiliary: bool = Field(default=True, description="auxiliary head after the second reduction")
    inner_group: str | None = Field(
        default=None, description="input factor that also replaces the ReLU inside sep_conv ops"
    )
    override: dict[str, str] = Field(
        default_factory=dict,
        description="factor group → candidate, replacing that choice on every edge",
    )

    @model_validator(mode="after")
    def _valid_width(self) -> NetworkConfig:
        if self.kind == "imagenet" and self.channels % 2:
            raise ValueError(
                f"the imagenet network needs an even channel count (its first cell halves the "
                f"stem through a FactorizedReduce), got {self.channels}"
            )
        return self


class OptimizerConfig(BaseModel):
    """SGD with momentum, as every DARTS-family retraining uses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lr: float = Field(gt=0, description="peak learning rate (after warm-up)")
    momentum: float = Field(default=0.9, ge=0, lt=1)
    weight_decay: float = Field(ge=0)
    nesterov: bool = False


class ScheduleConfig(BaseModel):
    """The learning rate as a function of the epoch (constant within an epoch, as DARTS).

    ``lr(e) = lr_min + (lr − lr_min)·(1 + cos(π·e / epochs)) / 2`` for ``cosine``, times
    ``(e + 1) / warmup_epochs`` during the first ``warmup_epochs`` epochs (PC-DARTS's
    ImageNet warm-up).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["cosine", "constant"] = "cosine"
    lr_min: float = Field(default=0.0, ge=0, description="where the cosine ends")
    warmup_epochs: int = Field(default=0, ge=0, description="linear warm-up epochs")


class RetrainDataConfig(BaseModel):
    """Which dataset to retrain on and how training batches are augmented."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Literal["cifar10", "fashion-mnist", "synthetic", "imagenet"] = "cifar10"
    root: Path | None = Field(default=None, description="dataset directory (downloaded if missing)")
    download: bool = True
    subset: int | None = Field(default=None, gt=0, description="train on only this many images")
    test_subset: int | None = Field(default=None, gt=0, description="evaluate on only this many")
    crop_padding: int = Field(default=4, ge=0, description="random crop after zero padding")
    flip: bool = True
    cutout: int = Field(default=16, ge=0, description="side of the cutout square (0: none)")
    synthetic_size: int = Field(default=512, gt=0, description="training images of synthetic data")
    synthetic_test_size: int = Field(default=256, gt=0, description="test images of synthetic data")
    synthetic_image: int = Field(default=32, gt=0, description="side of synthetic images")
    synthetic_channels: int = Field(default=3, gt=0)
    synthetic_classes: int = Field(default=10, ge=2)
    image_size: int = Field(default=224, gt=0, description="ImageNet crop side")
    resize: int = Field(default=256, gt=0, description="ImageNet test images: shorter side first")

    @model_validator(mode="after")
    def _crop_fits(self) -> RetrainDataConfig:
        if self.dataset == "imagenet" and self.image_size > self.resize:
            raise ValueError(
                f"image_size ({self.image_size}) must not exceed resize ({self.resize})"
            )
        return self


class RetrainConfig(BaseModel):
    """A complete, reproducible retraining of one genotype."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    network: NetworkConfig = NetworkConfig()
    data: RetrainDataConfig = RetrainDataConfig()
    epochs: int = Field(default=600, gt=0)
    batch_size: int = Field(default=128, gt=0)
    optimizer: OptimizerConfig = OptimizerConfig(lr=0.03, weight_decay=3e-4)
    schedule: ScheduleConfig = ScheduleConfig()
    grad_clip: float | None = Field(default=5.0, gt=0, description="max gradient norm (None: off)")
    drop_path: float = Field(
        default=0.2, ge=0, lt=1, description="final drop-path probability, ramped linearly from 0"
    )
    auxiliary_weight: float = Field(default=0.4, ge=0, description="weight of the auxiliary loss")
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    seed: int = 0
    precision: Precision = Field(
        default="fp32",
        description="fp32, or bf16 autocast of the forward pass (losses and optimizer states "
        "stay fp32); bf16 is not yet measured on a GPU",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RetrainConfig:
        if self.schedule.lr_min > self.optimizer.lr:
            raise ValueError(
                f"schedule.lr_min ({self.schedule.lr_min}) exceeds optimizer.lr "
                f"({self.optimizer.lr})"
            )
        if self.auxiliary_weight > 0 and not self.network.auxiliary:
            raise ValueError(
                "auxiliary_weight > 0 needs network.auxiliary = true (or set the weight to 0)"
            )
        return self
