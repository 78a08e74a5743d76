"""A factorized genotype, a small run directory, and checks that picture files are valid."""

from __future__ import annotations

import importlib.util
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from factornas import GroupSpec, SearchSpace, parse_darts_genotype
from factornas.space.genotype import Genotype

#: Tests that draw need the optional matplotlib; the rest run without it.
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib (the plot extra) missing"
)

#: DARTS-V2's topology (Liu et al., 2019), with factor choices of the op × activation × norm space.
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0),"
    " ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0),"
    " ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5],"
    " reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1),"
    " ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)],"
    " reduce_concat=[2, 3, 4, 5])"
)
FACTORS = {
    "sep_conv_3x3": {"activation": "selu", "normalization": "bn_affine"},
    "dil_conv_3x3": {"activation": "swish", "normalization": "gn"},
}

#: The space of the fake run: few searched groups keep the figure tests fast.
SPACE = SearchSpace(
    name="small_norm",
    normal=(
        GroupSpec(group="op_bare", candidates=("none", "skip_connect", "sep_conv_3x3")),
        GroupSpec(group="activation", candidates=("selu",)),
        GroupSpec(group="normalization", candidates=("bn", "bn_affine", "gn")),
    ),
    reduce=(GroupSpec(group="op_bare", candidates=("max_pool_3x3", "skip_connect")),),
)


@pytest.fixture
def genotype() -> Genotype:
    return parse_darts_genotype(DARTS_V2, op_group="op_bare", default_factors=FACTORS)


def arch_record(epoch: int) -> dict[str, dict[str, list[list[float]]]]:
    """Softmax rows that move steadily towards the last candidate, per edge."""

    def rows(n: int) -> list[list[float]]:
        out = []
        for e in range(14):
            last = min(0.9, 1.0 / n + 0.05 * epoch + 0.01 * e)
            out.append([(1.0 - last) / (n - 1)] * (n - 1) + [last])
        return out

    return {
        "normal": {"op_bare": rows(3), "normalization": rows(3)},
        "reduce": {"op_bare": rows(2)},
    }


def search_numbers(epoch: int) -> dict[str, float]:
    """A search record's loss, accuracy (fractions) and learning rate, improving by epoch."""
    return {
        "train_loss": 2.2 - 0.3 * epoch,
        "train_acc": 0.15 + 0.1 * epoch,
        "val_loss": 2.25 - 0.25 * epoch,
        "val_acc": 0.12 + 0.1 * epoch,
        "lr": 0.025 - 0.005 * epoch,
    }


def step_entries(epoch: int, steps_per_epoch: int = 50) -> list[dict[str, float]]:
    """One entry per 10-step window of an epoch, as the loops record them."""
    first = epoch * steps_per_epoch
    return [
        {
            "step": first + window + 9,
            "epoch": epoch,
            "loss": 2.3 - 0.3 * epoch - 0.004 * window,
            "acc": 0.1 + 0.1 * epoch + 0.002 * window,
            "lr": 0.025 - 0.0001 * (first + window),
        }
        for window in range(0, steps_per_epoch, 10)
    ]


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


@pytest.fixture
def run_dir(tmp_path: Path, genotype: Genotype) -> Path:
    """A finished search's directory: config, metrics of three epochs, genotype."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"space": SPACE.model_dump(mode="json")}))
    records = [
        {
            "epoch": epoch,
            **search_numbers(epoch),
            "arch": arch_record(epoch),
            "genotype": genotype.model_dump(mode="json"),
        }
        for epoch in range(3)
    ]
    write_records(run / "metrics.jsonl", records)
    genotype.save(run / "genotype.json")
    return run


def assert_png(path: Path, min_width: int = 300) -> tuple[int, int]:
    """A PNG by signature that decodes fully; returns its size."""
    image_module = pytest.importorskip("PIL.Image")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with image_module.open(path) as image:
        image.load()
        width, height = image.size
    assert width >= min_width and height >= 100, (path, width, height)
    return width, height


def svg_texts(path: Path) -> str:
    """All text of an SVG file, which must parse as XML with an <svg> root."""
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return "\n".join(t for t in root.itertext() if t.strip())
