"""What decides a comparison's runs: :class:`CompareSettings`, and the search and retraining
configs of one (arm, seed) at those settings."""

from __future__ import annotations

import shlex
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from factornas.bench.arms import FLAT, Arm
from factornas.bench.budgets import (
    BUDGETS,
    BudgetName,
    Sizes,
    budget_of,
    format_size,
    overrides_of,
)
from factornas.bench.seeds import format_seeds
from factornas.data.registry import DATASETS, DatasetSpec, dataset_spec
from factornas.evaluate.config import RetrainConfig
from factornas.presets.retrain import cifar10_recipe
from factornas.search.config import DataConfig, SearchConfig

DEFAULT_BASELINES = (FLAT, "relu", "selu")
QUICK_BASELINES = (FLAT,)
#: ``--baselines none``: the space alone, a seed sweep.
NO_BASELINES = "none"
#: The design card's minimum: agreement and a standard deviation from fewer seeds mean little.
MIN_SEEDS = 3


def comparable_datasets() -> tuple[str, ...]:
    """The registered datasets the harness runs on: every one that loads whole (a folder
    dataset such as ImageNet is beyond a comparison's budgets)."""
    return tuple(name for name, spec in DATASETS.items() if not spec.folder)


class CompareSettings(BaseModel):
    """Everything that decides a comparison's runs; equal settings reuse the same runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    space: str
    baselines: tuple[str, ...]
    seeds: tuple[int, ...] = Field(
        description="the seeds every arm runs with (a count n: 0 to n − 1); ≥ 2 to measure "
        "agreement, the CLI asks for ≥ 3"
    )
    sizes: Sizes
    budget: BudgetName | None = Field(
        None,
        description="the named budget the sizes start from, for the command line (None: the "
        "one they equal, else full)",
    )
    dataset: str = Field("fashion-mnist", description="a registered dataset that loads whole")
    data: Path | None = Field(None, description="dataset folder (None: the usual places)")
    threads: int = Field(1, gt=0, description="torch intra-op threads of each run")
    device: str = Field(
        "cpu", description="where every search and retraining runs: cpu, cuda or cuda:N"
    )
    cuda_graphs: bool = Field(
        False,
        description="searches and retrainings replay their steps from CUDA graphs where they "
        "allow it (not yet measured on a GPU; off by default)",
    )

    @field_validator("seeds", mode="before")
    @classmethod
    def _count_or_seeds(cls, value: object) -> object:
        """A count n means seeds 0 to n − 1, the only form before ``--seeds 0-9``."""
        return tuple(range(value)) if isinstance(value, int) else value

    @field_validator("seeds")
    @classmethod
    def _two_distinct(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError(f"expected at least two distinct seeds ≥ 0, got {seeds}")
        return seeds

    @field_validator("dataset")
    @classmethod
    def _comparable(cls, name: str) -> str:
        if name not in comparable_datasets():
            raise ValueError(
                f"dataset {name!r} cannot be compared: choose one of "
                f"{', '.join(comparable_datasets())}"
            )
        return name

    @property
    def spec(self) -> DatasetSpec:
        return dataset_spec(self.dataset)

    @property
    def base_budget(self) -> BudgetName:
        """The named budget the command line starts from; overrides give the rest."""
        return self.budget or budget_of(self.sizes) or "full"

    @property
    def overrides(self) -> dict[str, int | None]:
        """The size flags that turn the base budget into these sizes."""
        return overrides_of(self.sizes, BUDGETS[self.base_budget])

    def command(self, out: Path, *, as_json: bool) -> str:
        """The canonical command line of these settings into ``out``: every size is a budget
        or an override of one, so the command reproduces any sizes exactly."""
        parts = ["factornas", "bench", "compare", "--space", self.space]
        parts += ["--baselines", ",".join(self.baselines) or NO_BASELINES]
        parts += ["--seeds", format_seeds(self.seeds)]
        parts += ["--budget", self.base_budget]
        for flag, value in self.overrides.items():
            parts += [f"--{flag}", format_size(value)]
        if self.dataset != "fashion-mnist":
            parts += ["--dataset", self.dataset]
        if self.threads != 1:
            parts += ["--threads", str(self.threads)]
        if self.data is not None:
            parts += ["--data", str(self.data)]
        if self.device != "cpu":
            parts += ["--device", self.device]
        if self.cuda_graphs:
            parts.append("--cuda-graphs")
        parts += ["--out", str(out)]
        if as_json:
            parts.append("--json")
        return shlex.join(parts)


# -- configs of one (arm, seed) -------------------------------------------------------------------
def search_config(arm: Arm, seed: int, settings: CompareSettings) -> SearchConfig:
    """The paper's search setting (SearchConfig's defaults) at the comparison's budget."""
    size = settings.sizes.search
    return SearchConfig(
        space=arm.space,
        data=DataConfig(dataset=settings.dataset, root=settings.data, subset=size.subset),
        channels=size.channels,
        layers=size.layers,
        epochs=size.epochs,
        batch_size=size.batch_size,
        seed=seed,
    )


def retrain_config(seed: int, inner_group: str | None, settings: CompareSettings) -> RetrainConfig:
    """The paper's CIFAR-10 recipe, shortened to the comparison's budget.

    A few epochs leave nothing for the long-run regularizers to fight, and on 28×28 images a
    16-pixel cutout hides most of the garment: cutout, drop path and the auxiliary head are off,
    on CIFAR-10 too, so that both datasets are retrained by one recipe.
    """
    size = settings.sizes.retrain
    data = DataConfig(dataset=settings.dataset)
    in_channels, num_classes = settings.spec.input_shape(data)[0], settings.spec.classes
    raw = cifar10_recipe().model_dump()
    raw["network"].update(
        channels=size.channels,
        layers=size.layers,
        num_classes=num_classes,
        in_channels=in_channels,
        auxiliary=False,
        inner_group=inner_group,
    )
    raw["data"].update(
        dataset=settings.dataset,
        root=settings.data,
        subset=size.subset,
        test_subset=size.test_subset,
        cutout=0,
    )
    raw.update(
        epochs=size.epochs,
        batch_size=size.batch_size,
        drop_path=0.0,
        auxiliary_weight=0.0,
        seed=seed,
    )
    return RetrainConfig.model_validate(raw)
