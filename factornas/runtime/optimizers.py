"""The one optimizer config of factornas, its learning-rate schedule and the torch optimizer
it describes: searches (the weights and every architecture level) and retraining use them
alike.

A learning rate is a pure function of the epoch (:func:`scheduled_lr`), so resuming needs no
scheduler object: the epoch *is* the scheduler state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from factornas.runtime import optim

#: How a linear warm-up meets the schedule: ``replace`` trains epoch e < W at lr·(e + 1)/W
#: (PC-DARTS's large-batch ImageNet search), ``scale`` at the schedule's own value times
#: (e + 1)/W (PC-DARTS's ImageNet retraining).
WarmupMode = Literal["replace", "scale"]


class OptimizerConfig(BaseModel):
    """One optimizer with its learning-rate schedule (a pure function of the epoch)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sgd", "adam"]
    lr: float = Field(gt=0, description="the peak learning rate (after any warm-up)")
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD only")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam only")
    schedule: Literal["constant", "cosine"] = "constant"
    lr_min: float = Field(0.0, ge=0, description="end of the cosine schedule")
    lr_warmup_epochs: int = Field(
        0, ge=0, description="epochs of linear warm-up before the schedule's own value"
    )
    lr_warmup_mode: WarmupMode | None = Field(
        None,
        description="with a warm-up: replace (epoch e < W trains at lr·(e+1)/W, PC-DARTS's "
        "ImageNet search) or scale (at the schedule's value times (e+1)/W, its retraining)",
    )
    nesterov: bool = Field(False, description="SGD only: Nesterov momentum (GDAS)")
    scheduler_step: Literal["after_epoch", "before_epoch"] = Field(
        "after_epoch",
        description="after_epoch: epoch e trains at the schedule's value for e (it starts at "
        "lr); before_epoch: at its value for e + 1, as the reference scripts that call "
        "scheduler.step() at the start of every epoch do (DARTS, PC-DARTS, FairDARTS, SDARTS): "
        "the first epoch already trains below lr and the last one at lr_min",
    )

    @model_validator(mode="after")
    def _consistent(self) -> OptimizerConfig:
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min ({self.lr_min}) exceeds lr ({self.lr})")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"Adam betas must lie in [0, 1), got {self.betas}")
        if self.nesterov and (self.kind != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs kind = 'sgd' with a momentum above 0")
        if self.lr_warmup_epochs and self.lr_warmup_mode is None:
            raise ValueError(
                "lr_warmup_epochs needs lr_warmup_mode: replace (the warm-up's rate replaces "
                "the schedule's, PC-DARTS's search) or scale (it scales it, its retraining)"
            )
        return self


def scheduled_lr(config: OptimizerConfig, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch`` (0-based) of ``epochs``: constant, or cosine from lr to
    lr_min over the run (DARTS's ``CosineAnnealingLR(epochs)``), taken at ``epoch`` or, for
    ``scheduler_step = "before_epoch"``, at ``epoch + 1``; during the first
    ``lr_warmup_epochs`` epochs the warm-up of ``lr_warmup_mode``."""
    warming = epoch < config.lr_warmup_epochs
    ramp = (epoch + 1) / config.lr_warmup_epochs if warming else 1.0
    if warming and config.lr_warmup_mode == "replace":
        return config.lr * ramp
    if config.schedule == "constant":
        value = config.lr
    else:
        t = epoch + 1 if config.scheduler_step == "before_epoch" else epoch
        cosine = (1 + math.cos(math.pi * t / epochs)) / 2
        value = config.lr_min + (config.lr - config.lr_min) * cosine
    return value * ramp


def build_optimizer(
    config: OptimizerConfig, params: Sequence[nn.Parameter]
) -> torch.optim.Optimizer:
    """The torch optimizer a config describes, fused where the device allows
    (:mod:`factornas.runtime.optim`); its checkpoints load whatever implementation saved them."""
    fast: dict[str, Any] = optim.implementation(params)
    optimizer: torch.optim.Optimizer
    if config.kind == "sgd":
        optimizer = torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=config.nesterov,
            **fast,
        )
    else:
        optimizer = torch.optim.Adam(
            params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay, **fast
        )
    optim.keep_implementation(optimizer)
    return optimizer
