"""``build_model`` of a search run takes the images the search read: a Fashion-MNIST run gives a
network whose stem takes one channel, unless ``in_channels`` says otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import factornas
from factornas.cli import main
from factornas.presets.published import published_genotype
from factornas.presets.search import search_preset

SMALL: dict[str, Any] = {"channels": 4, "layers": 3}


def search_run(tmp_path: Path, **data: Any) -> Path:
    """A run directory as a finished search leaves it, as far as ``build_model`` reads it."""
    run = tmp_path / "run"
    run.mkdir()
    published_genotype("darts_v2").save(run / "genotype.json")
    config = search_preset("adarts").replace(data=data)
    (run / "config.json").write_text(config.model_dump_json())
    return run


def stem_channels(model: torch.nn.Module) -> int:
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    return conv.in_channels


def test_a_fashion_mnist_run_builds_a_one_channel_model(tmp_path: Path) -> None:
    run = search_run(tmp_path, dataset="fashion-mnist")
    for spec in (run, run / "genotype.json"):  # the directory or its genotype file
        model = factornas.build_model(str(spec), **SMALL)
        assert stem_channels(model) == 1
        logits, _ = model.eval()(torch.zeros(2, 1, 28, 28))  # the run's images, as they are
        assert logits.shape == (2, 10)


def test_in_channels_given_wins_over_the_run(tmp_path: Path) -> None:
    run = search_run(tmp_path, dataset="fashion-mnist")
    assert stem_channels(factornas.build_model(str(run), in_channels=3, **SMALL)) == 3


def test_a_run_on_options_sized_images_builds_for_them(tmp_path: Path) -> None:
    run = search_run(tmp_path, dataset="synthetic", synthetic={"channels": 2})
    assert stem_channels(factornas.build_model(str(run), **SMALL)) == 2


def test_without_a_run_the_network_takes_three_channels(tmp_path: Path) -> None:
    genotype = tmp_path / "genotype.json"  # a genotype file alone: no run to read
    published_genotype("darts_v2").save(genotype)
    assert stem_channels(factornas.build_model(str(genotype), **SMALL)) == 3
    assert stem_channels(factornas.build_model("darts_v2", **SMALL)) == 3


def test_a_run_on_an_unregistered_dataset_is_one_line(tmp_path: Path) -> None:
    run = search_run(tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["data"]["dataset"] = "my-plugin-data"  # its plug-in not imported here
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(factornas.FactorNASError) as caught:
        factornas.build_model(str(run), **SMALL)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{run / 'config.json'}: data.dataset:")
    assert message.endswith("give in_channels to build the network anyway")
    assert stem_channels(factornas.build_model(str(run), in_channels=3, **SMALL)) == 3


def _exported_input(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``factornas export RUN --torchscript``: the input shape it reports having checked, and
    the shape of the logits the written file gives for one image of that shape."""
    path = tmp_path / "model.pt"
    argv = ["export", str(run), "--torchscript", str(path), "--channels", "4", "--layers", "3"]
    assert main([*argv, *flags]) == 0
    out = capsys.readouterr().out
    shape = out.split("input N×", 1)[1].split()[0].rstrip(",")
    channels, side, _ = (int(n) for n in shape.replace("×", " ").split())
    traced = torch.jit.load(str(path))
    logits = traced(torch.zeros(1, channels, side, side))
    logits = logits[0] if isinstance(logits, tuple) else logits
    return (channels, side, side), tuple(logits.shape)


@pytest.mark.slow
def test_export_of_a_fashion_mnist_run_takes_its_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The exported network reads what the search read (1×28×28, 10 classes), not CIFAR's
    3×32×32; flags still win, and built as an ImageNet network the ImageNet defaults hold
    (a CIFAR-like search's cell transferred, as the papers do)."""
    run = search_run(tmp_path, dataset="fashion-mnist")
    assert _exported_input(run, tmp_path, capsys) == ((1, 28, 28), (1, 10))
    given = _exported_input(run, tmp_path, capsys, "--in-channels", "3", "--image-size", "32")
    assert given == ((3, 32, 32), (1, 10))
    genotype_only = tmp_path / "alone" / "genotype.json"
    genotype_only.parent.mkdir()
    published_genotype("darts_v2").save(genotype_only)
    assert _exported_input(genotype_only, tmp_path, capsys)[0] == (3, 32, 32)
