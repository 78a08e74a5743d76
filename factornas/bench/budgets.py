"""The sizes of a comparison: named budgets, and the command-line overrides of every size.

A budget is the search and retraining sizes every arm gets. The named ones span a smoke test
to the paper's search shape; docs/benchmarks.md gives each one's wall time. Any size can be
overridden on the command line, so *every* set of sizes has a command that reproduces it:
:func:`overrides_of` recovers the flags that turn a named budget into given sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from factornas.errors import FactorNASError

BudgetName = Literal["quick", "full", "medium", "paper"]
SizeValue = int | None


class SearchSizes(BaseModel):
    """The search budget every arm gets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: int = Field(gt=0, description="initial channels (C)")
    layers: int = Field(ge=3, description="cells")
    epochs: int = Field(gt=0, description="epochs")
    batch_size: int = Field(gt=0, description="batch size")
    subset: int | None = Field(
        gt=0, description="training images, split 50/50 into train and val (None: the whole split)"
    )


class RetrainSizes(BaseModel):
    """The retraining budget every derived architecture gets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: int = Field(gt=0, description="initial channels (C)")
    layers: int = Field(ge=3, description="cells")
    epochs: int = Field(gt=0, description="epochs")
    batch_size: int = Field(gt=0, description="batch size")
    subset: int | None = Field(gt=0, description="training images (None: the whole split)")
    test_subset: int | None = Field(None, gt=0, description="test images (None: all 10,000)")


class Sizes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    search: SearchSizes
    retrain: RetrainSizes


#: ≤ 5 minutes on 2 idle cores: a smoke test of the whole pipeline, not a measurement.
QUICK = Sizes(
    search=SearchSizes(channels=4, layers=3, epochs=2, batch_size=16, subset=64),
    retrain=RetrainSizes(
        channels=4, layers=3, epochs=1, batch_size=32, subset=512, test_subset=512
    ),
)
#: 21 minutes on 2 cores with four arms and three seeds (measured: docs/benchmarks.md); a toy
#: whose supernets stay near chance.
FULL = Sizes(
    search=SearchSizes(channels=4, layers=3, epochs=2, batch_size=32, subset=512),
    retrain=RetrainSizes(
        channels=8, layers=5, epochs=3, batch_size=64, subset=1000, test_subset=1000
    ),
)
#: The smallest budget whose supernets learn (> 80 % val on Fashion-MNIST): about 20 minutes
#: per arm and seed with 2 threads (issue #16); the full test split, so test noise is small.
MEDIUM = Sizes(
    search=SearchSizes(channels=8, layers=5, epochs=6, batch_size=64, subset=4000),
    retrain=RetrainSizes(
        channels=8, layers=5, epochs=8, batch_size=64, subset=4000, test_subset=None
    ),
)
#: The paper's search network and batch for 25 epochs on the whole training split (halved into
#: search-train and search-val); the retraining keeps that network, on every training image,
#: for 30 epochs (docs/benchmarks.md says why not the paper's 600-epoch C=36 network).
PAPER = Sizes(
    search=SearchSizes(channels=16, layers=8, epochs=25, batch_size=64, subset=None),
    retrain=RetrainSizes(
        channels=16, layers=8, epochs=30, batch_size=96, subset=None, test_subset=None
    ),
)
BUDGETS: dict[BudgetName, Sizes] = {"quick": QUICK, "full": FULL, "medium": MEDIUM, "paper": PAPER}

#: Every size's command-line flag (without ``--``), in the order the command line lists them.
SIZE_FLAGS: dict[str, tuple[Literal["search", "retrain"], str]] = {
    "search-epochs": ("search", "epochs"),
    "search-subset": ("search", "subset"),
    "search-channels": ("search", "channels"),
    "search-layers": ("search", "layers"),
    "search-batch-size": ("search", "batch_size"),
    "retrain-epochs": ("retrain", "epochs"),
    "retrain-subset": ("retrain", "subset"),
    "retrain-channels": ("retrain", "channels"),
    "retrain-layers": ("retrain", "layers"),
    "retrain-batch-size": ("retrain", "batch_size"),
    "test-subset": ("retrain", "test_subset"),
}
#: Sizes that may be ``None``, written ``all`` on the command line: the whole split.
ALL = "all"


def budget_of(sizes: Sizes) -> BudgetName | None:
    """The name of the budget ``sizes`` equal, if any."""
    return next((name for name, budget in BUDGETS.items() if budget == sizes), None)


def describe_flag(flag: str) -> str:
    """What the size behind ``flag`` is, from its model's field description (``None`` read
    as the command line's ``all``)."""
    part, field = SIZE_FLAGS[flag]
    model = SearchSizes if part == "search" else RetrainSizes
    description = model.model_fields[field].description or field
    return f"{'search' if part == 'search' else 'retraining'}: " + description.replace("None", ALL)


def format_size(value: SizeValue) -> str:
    """A size as the command line writes it."""
    return ALL if value is None else str(value)


def apply_overrides(base: Sizes, overrides: Mapping[str, SizeValue]) -> Sizes:
    """``base`` with the sizes named by flag (``search-epochs`` …) replaced, validated."""
    raw = base.model_dump()
    for flag, value in overrides.items():
        if flag not in SIZE_FLAGS:
            raise FactorNASError(f"unknown size --{flag}: use one of --{', --'.join(SIZE_FLAGS)}")
        part, field = SIZE_FLAGS[flag]
        raw[part][field] = value
    try:
        return Sizes.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        location = (str(first["loc"][0]), str(first["loc"][1]))
        flag = next(f for f, target in SIZE_FLAGS.items() if target == location)
        value = raw[location[0]][location[1]]
        raise FactorNASError(f"--{flag} {format_size(value)}: {first['msg'].lower()}") from None


def overrides_of(sizes: Sizes, base: Sizes) -> dict[str, SizeValue]:
    """The flags that turn ``base`` into ``sizes``: the sizes that differ, in flag order."""
    new, old = sizes.model_dump(), base.model_dump()
    return {
        flag: new[part][field]
        for flag, (part, field) in SIZE_FLAGS.items()
        if new[part][field] != old[part][field]
    }
