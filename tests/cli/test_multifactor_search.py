"""Three- and four-factor searches run end to end from the CLI, and their genotypes carry every
factor attached to each kept op."""

from __future__ import annotations

from pathlib import Path

import pytest

from factornas.cli import main
from factornas.space.genotype import Genotype


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "factors"),
    [
        ("adarts_norm", {"activation", "normalization"}),
        ("adarts_conv", {"conv_type", "kernel_size", "activation", "normalization"}),
    ],
)
def test_multi_factor_search_from_the_cli(tmp_path: Path, preset: str, factors: set[str]) -> None:
    out = tmp_path / preset
    code = main(
        [
            "search",
            "--preset",
            preset,
            "--dataset",
            "synthetic",
            "--subset",
            "32",
            "--epochs",
            "1",
            "--channels",
            "4",
            "--layers",
            "3",
            "--batch-size",
            "16",
            "--eval-batches",
            "1",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    genotype = Genotype.load(out / "genotype.json")
    conv_edges = [
        edge for ct in ("normal", "reduce") for _, edge in genotype.cell(ct).edges() if edge.factors
    ]
    assert all(set(edge.factors) == factors for edge in conv_edges)
