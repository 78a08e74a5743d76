"""Search configuration: every constant of a search lives here, validated by pydantic.

Defaults are the paper's CIFAR-10 A-DARTS setting (§4.2); the presets in
:mod:`factornas.presets.search` fill in the others (DARTS, PC-DARTS, A-PC-DARTS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factornas.errors import RegistryError
from factornas.relaxations.registry import build_relaxation
from factornas.relaxations.stabilizers import BetaRegConfig, SmoothingConfig
from factornas.runtime.precision import Precision
from factornas.space.config import SearchSpace
from factornas.supernet.cell import CellExecution

DatasetName = Literal["cifar10", "fashion-mnist", "synthetic", "imagenet"]


class OptimizerConfig(BaseModel):
    """One optimizer with its learning-rate schedule (a pure function of the epoch)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sgd", "adam"]
    lr: float = Field(gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD only")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam only")
    schedule: Literal["constant", "cosine"] = "constant"
    lr_min: float = Field(0.0, ge=0, description="end of the cosine schedule")
    lr_warmup_epochs: int = Field(
        0,
        ge=0,
        description="linear warm-up: epoch e < lr_warmup_epochs uses lr·(e+1)/lr_warmup_epochs "
        "(PC-DARTS's ImageNet search, for batches above 256)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> OptimizerConfig:
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min ({self.lr_min}) exceeds lr ({self.lr})")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"Adam betas must lie in [0, 1), got {self.betas}")
        return self


class FrozenSpec(BaseModel):
    """Freeze a group: a fixed one-hot ``choice``, or the weights of a finished run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    choice: str | None = Field(None, description="one candidate on every edge (one-hot)")
    from_run: Path | None = Field(None, description="a finished search's run directory")

    @model_validator(mode="after")
    def _exactly_one(self) -> FrozenSpec:
        if (self.choice is None) == (self.from_run is None):
            raise ValueError("freeze a group with exactly one of `choice` or `from_run`")
        return self


class RelaxationSpec(BaseModel):
    """A group's relaxation by registered name, with that relaxation's own options
    (``docs/relaxations.md``); checked against the relaxation when the config is validated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "softmax"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> RelaxationSpec:
        try:
            build_relaxation(self.name, self.options)
        except RegistryError as error:
            raise ValueError(str(error.args[0])) from None
        return self


class LevelConfig(BaseModel):
    """One architecture level of the N-level optimizer: a factor group and how it learns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str
    optimizer: OptimizerConfig | None = Field(
        None, description="defaults to SearchConfig.arch_optimizer"
    )
    warmup_epochs: int = Field(0, ge=0, description="epochs before this level starts stepping")
    period: int = Field(1, ge=1, description="step this level every `period` weight steps")
    frozen: FrozenSpec | None = None
    relaxation: RelaxationSpec = RelaxationSpec()
    smoothing: SmoothingConfig | None = Field(None, description="SDARTS random smoothing")
    beta: BetaRegConfig | None = Field(None, description="β-DARTS's regularizer")


class SkipGuardConfig(BaseModel):
    """Guards against the collapse of the normal cell into skip connections."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skip_op: str = "skip_connect"
    max_skips: int = Field(2, ge=0, description="M: skip connections a normal cell may hold")
    early_stop: bool = Field(
        False,
        description="DARTS+: stop once the derived normal cell holds more than M skips for "
        "`patience` epochs in a row",
    )
    patience: int = Field(1, ge=1, description="K: consecutive epochs over M before stopping")
    cap_at_derivation: bool = Field(
        False, description="P-DARTS: derive at most M skip connections in the normal cell"
    )


class DataConfig(BaseModel):
    """Where the search data comes from and how it is split and augmented."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: DatasetName = "cifar10"
    root: Path | None = None
    download: bool = True
    subset: int | None = Field(None, gt=0, description="use only this many training images")
    train_portion: float = Field(0.5, gt=0, lt=1, description="train/val split of the train set")
    crop_padding: int = Field(4, ge=0)
    flip: bool = True
    synthetic_size: int = Field(512, gt=0, description="images of the synthetic dataset")
    synthetic_image: int = Field(32, gt=0, description="side of synthetic images")
    synthetic_channels: int = Field(3, gt=0)
    imagenet_train_fraction: float = Field(0.1, gt=0, le=1)
    imagenet_val_fraction: float = Field(0.025, gt=0, le=1)
    imagenet_image: int = Field(224, gt=0)
    imagenet_resize: int = Field(
        256, gt=0, description="scoring the val split: shorter side, then a centred crop"
    )
    imagenet_mean: tuple[float, float, float] = Field(
        (0.485, 0.456, 0.406), description="per-channel mean of ImageNet's training images"
    )
    imagenet_std: tuple[float, float, float] = Field((0.229, 0.224, 0.225))
    workers: int = Field(
        4, ge=0, description="ImageNet decoding processes per loader and rank (0: in-process)"
    )

    @model_validator(mode="after")
    def _imagenet_crop_fits(self) -> DataConfig:
        if self.dataset == "imagenet" and self.imagenet_image > self.imagenet_resize:
            raise ValueError(
                f"imagenet_image ({self.imagenet_image}) must not exceed imagenet_resize "
                f"({self.imagenet_resize})"
            )
        return self


class SearchConfig(BaseModel):
    """A complete, reproducible search."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    space: SearchSpace
    data: DataConfig = DataConfig()
    channels: int = Field(16, gt=0)
    layers: int = Field(8, ge=3)
    stem: Literal["cifar", "imagenet"] = "cifar"
    epochs: int = Field(25, gt=0)
    batch_size: int = Field(64, gt=0, description="global batch (split across processes)")
    weights_optimizer: OptimizerConfig = OptimizerConfig(
        kind="sgd", lr=0.05, momentum=0.9, weight_decay=3e-4, schedule="cosine", lr_min=0.001
    )
    grad_clip: float | None = Field(5.0, gt=0)
    arch_optimizer: OptimizerConfig = OptimizerConfig(
        kind="adam", lr=6e-4, betas=(0.5, 0.999), weight_decay=1e-3
    )
    levels: tuple[LevelConfig, ...] = Field(
        (), description="per-group overrides; searched groups not listed get the defaults"
    )
    arch_warmup_epochs: int = Field(0, ge=0, description="default warm-up of every level")
    schedule: Literal["sequential", "joint"] = "sequential"
    order: Literal["first", "second"] = "first"
    unrolled_radius: float = Field(
        0.01, gt=0, description="second order: finite-difference step is radius / ‖∇ω' L_val‖"
    )
    arch_init_std: float = Field(1e-3, gt=0)
    seed: int = 2
    require_skip_connect: bool = Field(
        True, description="report whether the normal cell has a skip_connect (paper §4.2)"
    )
    checkpoint_every: int = Field(0, ge=0, description="also checkpoint every N steps (0: epochs)")
    eval_batches: int | None = Field(
        None, gt=0, description="validation batches scored per epoch (None: the whole split)"
    )
    cell_execution: CellExecution = Field(
        "auto",
        description="grouped (the edges leaving a node run as one batched call), per_edge, or "
        "auto: grouped on GPUs, per edge on CPUs, where oneDNN's grouped convolutions measured "
        "slower than separate ones (docs/performance.md)",
    )
    precision: Precision = Field(
        "fp32",
        description="fp32, or bf16 autocast of the network's forward (architecture weights, "
        "losses and optimizer states stay fp32); bf16 is not yet measured on a GPU",
    )
    skip_guard: SkipGuardConfig | None = Field(
        None, description="DARTS+ early stopping and the P-DARTS skip cap"
    )

    @model_validator(mode="after")
    def _levels_name_groups(self) -> SearchConfig:
        searched = {
            f.name
            for ct in self.space.cell_types
            for f in self.space.cell(ct).groups()
            if f.searched
        }
        for level in self.levels:
            if level.group not in searched:
                raise ValueError(
                    f"level {level.group!r} is not a searched group of the space; searched "
                    f"groups: {', '.join(sorted(searched))}"
                )
        if len({lv.group for lv in self.levels}) != len(self.levels):
            raise ValueError("a group has two level entries")
        for level in self.level_configs(tuple(sorted(searched))):
            if level.frozen is None and level.warmup_epochs >= self.epochs:
                raise ValueError(
                    f"the {level.group!r} level warms up for {level.warmup_epochs} of "
                    f"{self.epochs} epochs, so it would never step: lower --warmup below --epochs"
                )
        return self

    def replace(self, **changes: Any) -> SearchConfig:
        """A validated copy with ``changes`` applied; ``data`` may give only some data fields.

        Unlike ``model_copy(update=...)`` this re-runs every validator.
        """
        raw = self.model_dump()
        if isinstance(changes.get("data"), dict):
            changes["data"] = {**raw["data"], **changes["data"]}
        return SearchConfig.model_validate({**raw, **changes})

    def level_configs(self, groups: tuple[str, ...]) -> list[LevelConfig]:
        """One level per searched group in ``groups`` order, defaults filled in."""
        explicit = {lv.group: lv for lv in self.levels}
        out = []
        for group in groups:
            level = explicit.get(group) or LevelConfig(
                group=group, warmup_epochs=self.arch_warmup_epochs
            )
            if level.optimizer is None:
                level = level.model_copy(update={"optimizer": self.arch_optimizer})
            out.append(level)
        return out
