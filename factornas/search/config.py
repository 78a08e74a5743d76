"""Search configuration: every constant of a search lives here, validated by pydantic.

Defaults are the paper's CIFAR-10 A-DARTS setting (§4.2); the presets in
:mod:`factornas.presets.search` fill in the others (DARTS, PC-DARTS, A-PC-DARTS).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factornas.data.config import DataConfig
from factornas.errors import RegistryError
from factornas.relaxations.registry import build_relaxation, relaxation_class
from factornas.relaxations.stabilizer import build_stabilizer, stabilizer_class
from factornas.runtime.memory import MAX_CELLS, MAX_CHANNELS
from factornas.runtime.optimizers import OptimizerConfig
from factornas.runtime.precision import Precision
from factornas.runtime.rng import MAX_SEED
from factornas.space.config import SearchSpace
from factornas.supernet.cell import CellExecution

#: Which half of an iteration comes first: the network weights (the A-DARTS paper's Algorithm 1,
#: GDAS) or the architecture levels (DARTS, PC-DARTS, DrNAS, FairDARTS, SDARTS, β-DARTS).
StepOrder = Literal["weights_first", "architecture_first"]


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


class _RegisteredSpec(BaseModel):
    """A registered relaxation or stabilizer by name, with its own options: checked by its
    ``Options`` model when the config is validated, and kept as that model dumps them
    (defaults filled in, old spellings translated), so a config states every setting it runs
    with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    _build: ClassVar[Callable[..., Any]]

    @model_validator(mode="before")
    @classmethod
    def _validated_options(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("name", cls.model_fields["name"].default)
        options = data.get("options") or {}
        if not isinstance(name, str) or not isinstance(options, Mapping):
            return data  # the field validation names the problem
        try:
            built = cls._build(name, options)
        except RegistryError as error:
            raise ValueError(str(error.args[0])) from None
        return {**data, "options": built.options.model_dump(mode="json")}


class RelaxationSpec(_RegisteredSpec):
    """A group's relaxation (``docs/relaxations.md``)."""

    name: str = "softmax"
    _build = staticmethod(build_relaxation)


class StabilizerSpec(_RegisteredSpec):
    """One of a group's stabilizers (``docs/relaxations.md``)."""

    _build = staticmethod(build_stabilizer)


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
    stabilizers: tuple[StabilizerSpec, ...] = Field(
        (), description="stabilizers of the group's weights (smoothing: SDARTS; beta: β-DARTS)"
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """factornas 0.1's ``smoothing`` and ``beta`` fields are stabilizers now."""
        if not isinstance(data, dict) or not {"smoothing", "beta"} & set(data):
            return data
        data = dict(data)
        stabilizers = list(data.get("stabilizers") or ())
        for name in ("smoothing", "beta"):
            options = data.pop(name, None)
            if options is not None:
                stabilizers.append({"name": name, "options": options})
        data["stabilizers"] = stabilizers
        return data

    @model_validator(mode="after")
    def _stabilizers_fit_the_relaxation(self) -> LevelConfig:
        relaxation = relaxation_class(self.relaxation.name)
        if relaxation.simplex and not relaxation.sampled:
            return self
        why = "are sampled one-hot" if relaxation.sampled else "do not sum to one per edge"
        for spec in self.stabilizers:
            if stabilizer_class(spec.name).needs_simplex:
                raise ValueError(
                    f"{spec.name} renormalizes each edge's weights onto the simplex, but the "
                    f"{self.relaxation.name!r} relaxation's weights {why}: drop {spec.name} or "
                    "use softmax or dirichlet"
                )
        if len({spec.name for spec in self.stabilizers}) != len(self.stabilizers):
            raise ValueError("a stabilizer is listed twice")
        return self


class SkipGuardConfig(BaseModel):
    """Guards against the collapse of the normal cell into skip connections."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skip_op: str = "skip_connect"
    early_stop: bool = Field(
        False,
        description="DARTS+: stop once the derived normal cell holds `early_stop_skips` or more "
        "skip connections for `patience` epochs in a row",
    )
    early_stop_skips: int = Field(
        2, ge=1, description="DARTS+'s threshold: this many skips in the normal cell stop it"
    )
    patience: int = Field(1, ge=1, description="consecutive epochs at the threshold to stop")
    cap_at_derivation: bool = Field(
        False, description="P-DARTS: derive at most `max_skips` skips in the normal cell"
    )
    max_skips: int = Field(2, ge=0, description="P-DARTS's cap M on the normal cell's skips")


class SkipDropoutConfig(BaseModel):
    """P-DARTS's dropout after every stride-1 skip connection of the supernet (a stabilizer
    against skip connections winning by learning fastest, ``pdarts/model_search.py``).

    The rate follows P-DARTS's ``train_search.py``: during the op level's warm-up of W epochs,
    ``rate · (E − e − 1) / E``; from then on ``rate · exp(−decay · (e − W))``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(gt=0, lt=1, description="P-DARTS's drop rate (CIFAR-10: 0.1, 0.4, 0.7)")
    decay: float = Field(0.2, ge=0, description="the rate's exponential decay after warm-up")

    def rate_at(self, epoch: int, epochs: int, warmup: int) -> float:
        if epoch < warmup:
            return self.rate * (epochs - epoch - 1) / epochs
        return self.rate * math.exp(-self.decay * (epoch - warmup))


DerivationRule = Literal["darts", "pairs", "threshold"]


class DerivationConfig(BaseModel):
    """How the discrete architecture is read off the weights (``docs/presets.md``).

    * ``darts``: per node the ``edges_per_node`` inputs whose best non-zero op is strongest,
      that op on each (DARTS);
    * ``pairs``: per node the ``edges_per_node`` strongest (op, input) pairs over every
      non-zero op, so one input may be kept twice with two ops (GDAS);
    * ``threshold``: DARTS's edges, each kept only if its best op's weight reaches
      ``threshold``; a node left without inputs drops out of the cell (FairDARTS's
      ``threshold_sparse``).

    It changes no step of the search, so a run may be resumed (and finished) with another.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: DerivationRule = "darts"
    threshold: float = Field(
        0.85, gt=0, le=1, description="threshold rule: the weight an edge's op must reach"
    )


class StageConfig(BaseModel):
    """One stage of a progressive search (DrNAS): its length, its partial channels, how many
    ops every edge keeps when it starts, and its own architecture warm-up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(gt=0)
    partial_channels: int | None = Field(
        None, ge=1, description="PC-DARTS's K in this stage (None: the space's)"
    )
    keep_ops: int | None = Field(
        None,
        ge=1,
        description="before the stage, prune each edge's op group to its keep_ops strongest "
        "candidates (None: keep them all)",
    )
    warmup_epochs: int = Field(
        0, ge=0, description="epochs of this stage before the architecture levels step"
    )


def _replacing_warmup(optimizer: Any) -> Any:
    """An optimizer dict whose warm-up has no mode gets factornas 0.1's: ``replace``."""
    if (
        isinstance(optimizer, dict)
        and optimizer.get("lr_warmup_epochs")
        and (optimizer.get("lr_warmup_mode") is None)
    ):
        return {**optimizer, "lr_warmup_mode": "replace"}
    return optimizer


class SearchConfig(BaseModel):
    """A complete, reproducible search."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    space: SearchSpace
    data: DataConfig = DataConfig()
    channels: int = Field(16, gt=0, le=MAX_CHANNELS)
    layers: int = Field(8, ge=3, le=MAX_CELLS)
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
    step_order: StepOrder = Field(
        "weights_first",
        description="weights_first: ω steps, then the architecture levels see the new ω "
        "(Algorithm 1); architecture_first: the levels step, then ω sees the new weights",
    )
    order: Literal["first", "second"] = "first"
    unrolled_radius: float = Field(
        0.01, gt=0, description="second order: finite-difference step is radius / ‖∇ω' L_val‖"
    )
    arch_init_std: float = Field(
        1e-3, ge=0, description="architecture weights start at N(0, std²); 0: all zeros"
    )
    seed: int = Field(2, ge=0, le=MAX_SEED)
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
    skip_dropout: SkipDropoutConfig | None = Field(
        None, description="P-DARTS's dropout after the supernet's skip connections"
    )
    derivation: DerivationConfig = DerivationConfig()
    stages: tuple[StageConfig, ...] = Field(
        (),
        description="a progressive search (DrNAS): stages whose epochs add up to `epochs`; "
        "none: one stage",
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """A config written by factornas 0.1 still reads as it ran: its warm-ups replaced the
        schedule's rate (the mode was implicit then)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("weights_optimizer", "arch_optimizer"):
            if key in data:
                data[key] = _replacing_warmup(data[key])
        if isinstance(data.get("levels"), list | tuple):
            data["levels"] = [
                {**lv, "optimizer": _replacing_warmup(lv.get("optimizer"))}
                if isinstance(lv, dict) and lv.get("optimizer") is not None
                else lv
                for lv in data["levels"]
            ]
        return data

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

    @model_validator(mode="after")
    def _stages_fit(self) -> SearchConfig:
        if not self.stages:
            return self
        total = sum(stage.epochs for stage in self.stages)
        if total != self.epochs:
            lengths = " + ".join(str(stage.epochs) for stage in self.stages)
            raise ValueError(
                f"the stages last {lengths} = {total} epochs but epochs is {self.epochs}: "
                "change the stages' epochs with the run's"
            )
        for index, stage in enumerate(self.stages):
            if stage.warmup_epochs >= stage.epochs:
                raise ValueError(
                    f"stage {index + 1} warms up for {stage.warmup_epochs} of its "
                    f"{stage.epochs} epochs, so its architecture levels would never step"
                )
        partial = {
            (stage.partial_channels or self.space.partial_channels) > 1 for stage in self.stages
        }
        if len(partial) > 1:
            # K = 1 builds plain mixed edges, K > 1 partial-channel ones: another network.
            raise ValueError("either every stage searches partial channels (K > 1) or none does")
        return self

    def stage_at(self, epoch: int) -> tuple[int, int]:
        """The stage that ``epoch`` belongs to and the epoch it starts at (0, 0 without
        stages)."""
        start = 0
        for index, stage in enumerate(self.stages):
            if epoch < start + stage.epochs or index == len(self.stages) - 1:
                return index, start
            start += stage.epochs
        return 0, 0

    def architecture_open(self, epoch: int) -> bool:
        """Whether the architecture levels may step in ``epoch``: not during the warm-up that
        starts each stage (DrNAS); always without stages (each level keeps its own warm-up)."""
        if not self.stages:
            return True
        index, start = self.stage_at(epoch)
        return epoch - start >= self.stages[index].warmup_epochs

    def stage_space(self, index: int) -> SearchSpace:
        """The space stage ``index`` searches: the config's, with that stage's partial
        channels."""
        if not self.stages or self.stages[index].partial_channels is None:
            return self.space
        raw = {**self.space.model_dump(), "partial_channels": self.stages[index].partial_channels}
        return SearchSpace.model_validate(raw)

    @property
    def skip_op(self) -> str:
        """The op that counts as a skip connection (the skip guard's, else DARTS's name)."""
        return self.skip_guard.skip_op if self.skip_guard is not None else "skip_connect"

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
