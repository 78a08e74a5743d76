"""A dataset is one plug-in: registered beside its loader, it is searched, retrained and
exported on exactly as a built-in one, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from factornas.data import DATASETS, DataConfig, dataset_spec, load_image_arrays
from factornas.errors import RegistryError

PLUGIN = """
import torch
from factornas import register_dataset
from factornas.data import ImageArrays


@register_dataset(
    "stripes", image_size=12, channels=1, classes=2, mean=(0.5,), std=(0.5,),
    description="horizontal or vertical stripes",
)
def stripes(config, train, seed):
    g = torch.Generator().manual_seed(seed * 2 + int(train))
    n = 64 if train else 32
    labels = torch.arange(n) % 2
    phase = torch.randint(0, 2, (n, 1, 1), generator=g)
    rows = (torch.arange(12).view(1, 12, 1) + phase) % 2
    cols = (torch.arange(12).view(1, 1, 12) + phase) % 2
    horizontal = labels.view(n, 1, 1).bool()
    images = torch.where(horizontal, rows.expand(n, 12, 12), cols.expand(n, 12, 12))
    noise = torch.randint(0, 40, (n, 12, 12), generator=g)
    pixels = (images * 200 + noise).clamp(0, 255).to(torch.uint8).unsqueeze(1)
    return ImageArrays(pixels, labels, 2, (0.5,), (0.5,), name="stripes")
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "factornas", *args]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, check=False)


@pytest.mark.slow
def test_a_plugin_dataset_searches_retrains_and_exports(tmp_path: Path) -> None:
    plugin = tmp_path / "stripes.py"
    plugin.write_text(PLUGIN)
    run = tmp_path / "search"
    searched = _cli(
        "search", "--plugin", str(plugin), "--preset", "darts", "--dataset", "stripes",
        "--epochs", "1", "--channels", "4", "--layers", "3", "--batch-size", "8",
        "--no-progress", "--out", str(run),
    )  # fmt: skip
    assert searched.returncode == 0, searched.stderr[-2000:]
    assert json.loads((run / "config.json").read_text())["data"]["dataset"] == "stripes"
    trained_dir = tmp_path / "train"
    trained = _cli(
        "train", "--plugin", str(plugin), "--genotype", str(run), "--dataset", "stripes",
        "--epochs", "1", "--channels", "4", "--layers", "3", "--batch-size", "16",
        "--no-progress", "--out", str(trained_dir),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    config = json.loads((trained_dir / "config.json").read_text())["config"]
    assert config["network"]["in_channels"] == 1 and config["network"]["num_classes"] == 2
    exported = _cli(
        "export", "--plugin", str(plugin), "--checkpoint", str(trained_dir),
        "--torchscript", str(tmp_path / "model.pt"),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert "1×12×12" in exported.stdout  # the input shape the plug-in's spec declares
    without = _cli("search", "--preset", "darts", "--dataset", "stripes", "--out", str(run))
    assert without.returncode == 2
    assert "unknown dataset 'stripes'; choose one of: cifar10" in without.stderr


def test_a_dataset_registers_once_and_is_found_by_name() -> None:
    spec = dataset_spec("fashion-mnist")
    assert (spec.image_size, spec.channels, spec.classes) == (28, 1, 10)
    assert dataset_spec("synthetic").input_shape(DataConfig(synthetic={"image": 9})) == (3, 9)
    with pytest.raises(RegistryError, match="a dataset named 'cifar10' is already registered"):
        DATASETS.add("cifar10", spec)
    arrays = load_image_arrays(DataConfig(dataset="synthetic", synthetic={"size": 20}))
    assert len(arrays) == 20
