"""``factornas info`` and ``factornas train``: numbers, run directories, clean failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from factornas.cli import main
from factornas.data import make_fake_fashion_mnist
from factornas.evaluate.config import NetworkConfig
from factornas.evaluate.cost import network_cost
from factornas.presets.published import published_genotype
from factornas.presets.source import load_genotype
from factornas.runtime.metrics import read_metrics
from tests.tiny import TINY_TRAIN_FLAGS

TINY_TRAIN = TINY_TRAIN_FLAGS


def info(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["info", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_info_reports_darts_counts(capsys: pytest.CaptureFixture[str]) -> None:
    out = info(capsys, "--genotype", "darts_v2")
    assert (out["params"], out["params_total"]) == (3_349_342, 3_825_768)
    assert out["macs"] == 528_359_040
    assert (out["channels"], out["layers"], out["image_size"]) == (36, 20, 32)


@pytest.mark.slow
def test_info_solves_the_width(capsys: pytest.CaptureFixture[str]) -> None:
    budget = network_cost(published_genotype("pdarts"), NetworkConfig(channels=10, layers=3)).macs
    out = info(capsys, "--genotype", "pdarts", "--layers", "3", "--max-macs", str(budget))
    assert out["channels"] == 10 and out["macs"] == budget
    assert out["next_channels"] == 11 and out["next_macs"] > budget


def test_info_reads_a_search_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    published_genotype("pc_darts").save(tmp_path / "genotype.json")
    (tmp_path / "config.json").write_text(json.dumps({"space": {"inner_group": "activation"}}))
    assert load_genotype(str(tmp_path)).inner_group == "activation"
    out = info(capsys, "--genotype", str(tmp_path), "--layers", "3", "--channels", "4")
    assert out["genotype"] == str(tmp_path / "genotype.json")


@pytest.mark.slow
def test_malformed_genotype_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "genotype.json"
    data = published_genotype("darts_v2").model_dump()
    data["normal"]["nodes"][0][0]["source"] = "zero"
    bad.write_text(json.dumps(data))
    result = subprocess.run(
        [sys.executable, "-m", "factornas", "train", "--genotype", str(bad),
         "--dataset", "synthetic", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {bad} is malformed at normal.nodes.0.0.source")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--genotype", "darts_v9"], "no published genotype of that name; published: darts_v1"),
        (["--genotype", "darts_v2", "--activation", "gelu"], "unknown 'activation' choice"),
        (["--genotype", "darts_v2", "--network", "imagenet", "--channels", "47"], "even"),
    ],
)
def test_info_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_train_resumes_refuses_and_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--genotype", "darts_v2", "--dataset", "synthetic", "--out", str(out)]
    assert main([*argv, *TINY_TRAIN]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["network"]["num_classes"] == 10
    assert config["config"]["data"]["dataset"] == "synthetic"
    assert config["genotype"] == published_genotype("darts_v2").model_dump(mode="json")
    assert [r["epoch"] for r in read_metrics(out / "metrics.jsonl")] == [0]
    capsys.readouterr()

    assert main([*argv, *TINY_TRAIN]) == 2
    assert "holds a finished run" in capsys.readouterr().err
    assert main([*argv, *TINY_TRAIN, "--overwrite"]) == 0


def test_train_grayscale_fashion_mnist_with_relu_override(tmp_path: Path) -> None:
    root = make_fake_fashion_mnist(tmp_path / "fmnist", train_size=48, test_size=16)
    out = tmp_path / "run"
    argv = [
        "train", "--genotype", "pc_darts", "--dataset", "fashion-mnist", "--data", str(root),
        "--out", str(out), "--activation", "selu", *TINY_TRAIN,
    ]  # fmt: skip
    assert main(argv) == 0
    network = json.loads((out / "config.json").read_text())["config"]["network"]
    assert (network["in_channels"], network["override"]) == (1, {"activation": "selu"})
    record = read_metrics(out / "metrics.jsonl")[0]
    assert record["train_loss"] > 0 and 0 <= record["test_top1"] <= 100
