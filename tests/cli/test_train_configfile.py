"""``factornas train --config``: the recipe amended by the file, the file by the flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factornas.cli import main
from factornas.presets.retrain import imagenet_recipe

TINY = """\
epochs = 1
batch_size = 16

[network]
channels = 4
layers = 3

[data]
dataset = "synthetic"
subset = 48
test_subset = 16
"""


def printed(capsys: pytest.CaptureFixture[str], *argv: str, kind: str = "auto") -> str:
    capsys.readouterr()
    assert main(["train", "--genotype", "darts_v2", *argv, "--print-config", kind]) == 0
    return capsys.readouterr().out


def test_train_config_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for kind in ("toml", "json"):
        text = printed(capsys, "--recipe", "imagenet", "--epochs", "3", kind=kind)
        path = tmp_path / f"retrain.{kind}"
        path.write_text(text)
        assert printed(capsys, "--config", str(path)) == text
    expected = imagenet_recipe().model_copy(update={"epochs": 3}).model_dump(mode="json")
    assert json.loads((tmp_path / "retrain.json").read_text()) == expected


def test_train_precedence_flag_over_file_over_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "retrain.toml"
    path.write_text('recipe = "imagenet"\nepochs = 5\n[optimizer]\nlr = 0.1\n')
    out = json.loads(printed(capsys, "--config", str(path), "--lr", "0.2", kind="json"))
    assert out["optimizer"]["lr"] == 0.2  # flag
    assert out["epochs"] == 5  # file
    assert out["batch_size"] == 512 and out["optimizer"]["weight_decay"] == 3e-5  # recipe
    assert out["data"]["dataset"] == "imagenet"  # the recipe's, no --dataset given


def test_train_config_error_names_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "retrain.toml"
    path.write_text("[optimizer]\nlr = 0\n")
    assert main(["train", "--genotype", "darts_v2", "--config", str(path), "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: optimizer.lr: Input should be greater than 0\n"


def test_train_runs_from_a_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "run"
    argv = ["train", "--genotype", "darts_v2", "--config", str(path), "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["epochs"], config["network"]["channels"], config["data"]["subset"]) == (1, 4, 48)
    # A run directory's config.json is itself a config file.
    assert json.loads(printed(capsys, "--config", str(out / "config.json"))) == config
