"""``bench compare``'s budgets: named sizes, overrides, and commands that reproduce them."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest

from factornas.bench.arms import build_arms
from factornas.bench.budgets import (
    BUDGETS,
    FULL,
    MEDIUM,
    PAPER,
    QUICK,
    apply_overrides,
    budget_of,
    overrides_of,
)
from factornas.bench.compare.settings import CompareSettings, retrain_config, search_config
from factornas.cli import main
from factornas.cli.bench_compare import register_compare, settings_from_args
from factornas.errors import FactorNASError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register_compare(parser.add_subparsers())
    return parser.parse_args(["compare", "--space", "adarts", *argv])


def test_medium_and_paper_are_the_documented_sizes() -> None:
    assert MEDIUM.search.model_dump() == {
        "channels": 8, "layers": 5, "epochs": 6, "batch_size": 64, "subset": 4000
    }  # fmt: skip
    assert MEDIUM.retrain.model_dump() == {
        "channels": 8, "layers": 5, "epochs": 8, "batch_size": 64, "subset": 4000,
        "test_subset": None,
    }  # fmt: skip
    # The paper's search network and batch, 25 epochs, the whole training split (halved).
    assert PAPER.search.model_dump() == {
        "channels": 16, "layers": 8, "epochs": 25, "batch_size": 64, "subset": None
    }  # fmt: skip
    assert (PAPER.retrain.subset, PAPER.retrain.test_subset) == (None, None)
    assert [budget_of(sizes) for sizes in (QUICK, FULL, MEDIUM, PAPER)] == list(BUDGETS)


def test_overrides_replace_single_sizes_and_are_recovered() -> None:
    sizes = apply_overrides(
        MEDIUM, {"search-epochs": 2, "test-subset": 500, "retrain-subset": None}
    )
    assert (sizes.search.epochs, sizes.retrain.test_subset, sizes.retrain.subset) == (2, 500, None)
    assert sizes.search.channels == MEDIUM.search.channels
    assert budget_of(sizes) is None
    assert overrides_of(sizes, MEDIUM) == {
        "search-epochs": 2, "retrain-subset": None, "test-subset": 500
    }  # fmt: skip
    assert apply_overrides(MEDIUM, overrides_of(sizes, MEDIUM)) == sizes


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"search-layers": 2}, "--search-layers 2: input should be greater than or equal to 3"),
        ({"retrain-epochs": 0}, "--retrain-epochs 0: input should be greater than 0"),
        ({"search-channels": None}, "--search-channels all: input should be a valid integer"),
        ({"search-width": 3}, "unknown size --search-width"),
    ],
)
def test_bad_overrides_name_the_flag(overrides: dict[str, int | None], message: str) -> None:
    with pytest.raises(FactorNASError, match=f"^{message}"):
        apply_overrides(FULL, overrides)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--budget", "medium"],
        ["--budget", "paper", "--retrain-epochs", "10", "--test-subset", "2000"],
        ["--quick", "--search-subset", "all", "--threads", "2", "--dataset", "cifar10"],
        ["--budget", "full", "--search-epochs", "2"],  # equal to full's: no override
    ],
)
def test_the_command_line_reproduces_every_budget_exactly(argv: list[str]) -> None:
    settings = settings_from_args(parse([*argv, "--out", "x"]))
    command = settings.command(Path("x"), as_json=False)
    words = shlex.split(command)
    assert words[:3] == ["factornas", "bench", "compare"]
    assert settings_from_args(parse(words[5:])) == settings


def test_the_command_names_overrides_in_a_fixed_order() -> None:
    settings = settings_from_args(
        parse(["--budget", "medium", "--test-subset", "500", "--search-epochs", "3", "--out", "o"])
    )
    assert settings.overrides == {"search-epochs": 3, "test-subset": 500}
    assert settings.command(Path("o"), as_json=True) == (
        "factornas bench compare --space adarts --baselines flat,relu,selu --seeds 3 "
        "--budget medium --search-epochs 3 --test-subset 500 --out o --json"
    )


def test_quick_is_an_alias_of_the_quick_budget() -> None:
    quick = settings_from_args(parse(["--quick", "--out", "x"]))
    assert quick == settings_from_args(parse(["--budget", "quick", "--out", "x"]))
    assert (quick.sizes, quick.baselines) == (QUICK, ("flat",))
    with pytest.raises(SystemExit):
        parse(["--quick", "--budget", "medium", "--out", "x"])


def test_api_sizes_get_a_command_too() -> None:
    """Sizes set through the Python API start from the budget they equal, else from full."""
    medium = CompareSettings(space="adarts", baselines=(), seeds=3, sizes=MEDIUM)
    assert (medium.base_budget, medium.overrides) == ("medium", {})
    custom = CompareSettings(
        space="adarts", baselines=(), seeds=3, sizes=apply_overrides(FULL, {"search-epochs": 9})
    )
    assert (custom.base_budget, custom.overrides) == ("full", {"search-epochs": 9})
    assert "--budget full --search-epochs 9 " in custom.command(Path("o"), as_json=False)


def test_the_cli_refuses_bad_sizes_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "compare", "--space", "adarts", "--out", str(tmp_path / "o")]
    assert main([*argv, "--retrain-layers", "1"]) == 2
    assert capsys.readouterr().err == (
        "error: --retrain-layers 1: input should be greater than or equal to 3\n"
    )
    with pytest.raises(SystemExit):  # argparse: not a number
        main([*argv, "--search-subset", "many"])
    assert "expected an integer or all, got many" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cifar10_runs_get_three_channels_and_the_same_recipe() -> None:
    arm = build_arms("adarts", ())[0]
    fashion = CompareSettings(space="adarts", baselines=(), seeds=3, sizes=MEDIUM)
    cifar = fashion.model_copy(update={"dataset": "cifar10"})
    assert search_config(arm, 1, cifar).data.dataset == "cifar10"
    assert search_config(arm, 1, cifar).data.subset == 4000
    retrain_fashion, retrain_cifar = (
        retrain_config(1, None, fashion),
        retrain_config(1, None, cifar),
    )
    assert (retrain_fashion.network.in_channels, retrain_cifar.network.in_channels) == (1, 3)
    assert retrain_cifar.data.dataset == "cifar10"
    # Nothing else differs: one recipe for both datasets.
    left = retrain_fashion.model_dump(exclude={"network": {"in_channels"}, "data": {"dataset"}})
    right = retrain_cifar.model_dump(exclude={"network": {"in_channels"}, "data": {"dataset"}})
    assert left == right
