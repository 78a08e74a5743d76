"""Retraining configuration: every constant of an evaluation network and its training.

The paper's two recipes (CIFAR-10 §4.2, ImageNet §4.3) are instances of these models in
:mod:`factornas.presets.retrain`; docs/evaluation.md explains the choices where the paper is
ambiguous.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factornas.data.config import DataConfig
from factornas.runtime.memory import MAX_CELLS, MAX_CHANNELS
from factornas.runtime.optimizers import OptimizerConfig
from factornas.runtime.precision import Precision
from factornas.runtime.rng import MAX_SEED

NetworkKind = Literal["cifar", "imagenet"]


class NetworkConfig(BaseModel):
    """Which evaluation network to build from a genotype, and how wide and deep."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NetworkKind = Field(
        default="cifar", description="cifar (3×3 stem) or imagenet (×8 stems)"
    )
    channels: int = Field(default=36, gt=0, le=MAX_CHANNELS, description="initial channel count C")
    layers: int = Field(
        default=20, ge=3, le=MAX_CELLS, description="cells; reductions at 1/3 and 2/3 of the depth"
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


class RetrainConfig(BaseModel):
    """A complete, reproducible retraining of one genotype."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    network: NetworkConfig = NetworkConfig()
    data: DataConfig = DataConfig(cutout=16)
    epochs: int = Field(default=600, gt=0)
    batch_size: int = Field(default=128, gt=0)
    optimizer: OptimizerConfig = OptimizerConfig(
        kind="sgd", lr=0.03, weight_decay=3e-4, schedule="cosine"
    )
    grad_clip: float | None = Field(default=5.0, gt=0, description="max gradient norm (None: off)")
    drop_path: float = Field(
        default=0.2, ge=0, lt=1, description="final drop-path probability, ramped linearly from 0"
    )
    auxiliary_weight: float = Field(default=0.4, ge=0, description="weight of the auxiliary loss")
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    precision: Precision = Field(
        default="fp32",
        description="fp32, or bf16 autocast of the forward pass (losses and optimizer states "
        "stay fp32); bf16 is not yet measured on a GPU",
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """factornas 0.1's retraining configs still read as they ran: their optimizer had no
        ``kind`` (it was SGD) and their schedule was a section of its own (cosine unless it
        said otherwise), whose warm-up scaled the cosine."""
        if not isinstance(data, dict):
            return data
        optimizer = data.get("optimizer")
        legacy = "schedule" in data or (isinstance(optimizer, dict) and "kind" not in optimizer)
        if not legacy:
            return data
        data = dict(data)
        schedule = data.pop("schedule", None) or {}
        merged = {"kind": "sgd", **(optimizer if isinstance(optimizer, dict) else {})}
        merged.setdefault("schedule", schedule.get("kind", "cosine"))
        merged.setdefault("lr_min", schedule.get("lr_min", 0.0))
        merged.setdefault("lr_warmup_epochs", schedule.get("warmup_epochs", 0))
        if merged["lr_warmup_epochs"]:
            merged.setdefault("lr_warmup_mode", "scale")
        data["optimizer"] = merged
        return data

    @model_validator(mode="after")
    def _consistent(self) -> RetrainConfig:
        if self.optimizer.kind != "sgd":
            raise ValueError("retraining uses SGD (optimizer.kind = 'sgd'), as DARTS's recipes")
        if self.auxiliary_weight > 0 and not self.network.auxiliary:
            raise ValueError(
                "auxiliary_weight > 0 needs network.auxiliary = true (or set the weight to 0)"
            )
        return self
