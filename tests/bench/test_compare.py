"""``factornas bench compare``: the agreement metric, the arms, and a tiny end-to-end run."""

from __future__ import annotations

import argparse
import json
import math
import struct
from pathlib import Path

import pytest

from factornas.bench.arms import build_arms
from factornas.bench.compare import (
    CompareSettings,
    RetrainSizes,
    SearchSizes,
    Sizes,
    register_compare,
    run_compare,
    settings_from_args,
)
from factornas.bench.stability import compare_genotypes, stability
from factornas.cli import main
from factornas.data import make_fake_fashion_mnist
from factornas.errors import FactorNASError
from factornas.presets.spaces import space_preset
from factornas.space.genotype import CellGenotype, EdgeChoice, Genotype


# -- the agreement metric ---------------------------------------------------------------------
def conv(source: int, op: str = "sep_conv_3x3", act: str = "relu") -> EdgeChoice:
    return EdgeChoice(source=source, op=op, factors={"activation": act})


def plain(source: int, op: str = "skip_connect") -> EdgeChoice:
    return EdgeChoice(source=source, op=op)


def genotype(
    normal: list[tuple[EdgeChoice, EdgeChoice]], reduce: list[tuple[EdgeChoice, EdgeChoice]]
) -> Genotype:
    return Genotype(
        normal=CellGenotype(nodes=tuple(normal), concat=(2, 3, 4, 5)),
        reduce=CellGenotype(nodes=tuple(reduce), concat=(2, 3, 4, 5)),
    )


#: 16 kept edges; 10 parameterized (carry an activation), 6 not.
BASE = genotype(
    [
        (conv(0), conv(1)),
        (conv(0), plain(2)),
        (conv(1, "dil_conv_3x3"), plain(3)),
        (conv(0), plain(4)),
    ],
    [
        (plain(0, "max_pool_3x3"), conv(1)),
        (conv(0), plain(2)),
        (conv(3), conv(1)),
        (plain(2), conv(4)),
    ],
)


def test_identical_genotypes_agree_fully() -> None:
    result = compare_genotypes(BASE, BASE)
    assert (result.edges, result.same_op) == (16, 16)
    assert result.edge_agreement == 1.0
    assert result.factor_agreement("activation") == 1.0
    assert result.factor_compared == {"activation": 10}
    three = stability([BASE, BASE, BASE], ["activation"])
    assert (three.pairs, three.edge_agreement, three.factor_agreement) == (
        3,
        1.0,
        {"activation": 1.0},
    )


def test_the_order_of_a_nodes_edges_does_not_matter() -> None:
    swapped = genotype(
        [
            (conv(1), conv(0)),
            (plain(2), conv(0)),
            (plain(3), conv(1, "dil_conv_3x3")),
            (plain(4), conv(0)),
        ],
        [
            (conv(1), plain(0, "max_pool_3x3")),
            (plain(2), conv(0)),
            (conv(1), conv(3)),
            (conv(4), plain(2)),
        ],
    )
    assert compare_genotypes(BASE, swapped).edge_agreement == 1.0


#: Differs from BASE in: 2 ops on the same source (one of them with the same activation, one
#: with another), 1 source, and 3 activations on op-agreeing edges.
OTHER = genotype(
    [
        (conv(0, act="selu"), conv(1)),  # activation differs
        (conv(0, "sep_conv_5x5"), plain(2)),  # op differs, activation the same: not counted
        (conv(1, "dil_conv_3x3", act="elu"), plain(3)),  # activation differs
        (conv(0), plain(1)),  # source 4 → 1: the skip disagrees
    ],
    [
        (plain(0, "avg_pool_3x3"), conv(1)),  # op differs (a pool: no activation anyway)
        (conv(0, act="swish"), plain(2)),  # activation differs
        (conv(3), conv(1)),
        (plain(2), conv(4)),
    ],
)


def test_partial_agreement_is_the_exact_fraction() -> None:
    result = compare_genotypes(BASE, OTHER)
    assert (result.edges, result.same_op) == (16, 13)
    assert result.edge_agreement == 13 / 16
    # Op-agreeing edges with an activation: 10 parameterized in BASE, minus sep_conv_5x5's edge.
    assert result.factor_compared == {"activation": 9}
    assert result.factor_same == {"activation": 6}
    assert result.factor_agreement("activation") == 6 / 9
    # Symmetric.
    back = compare_genotypes(OTHER, BASE)
    assert (back.edges, back.same_op, back.factor_compared, back.factor_same) == (
        16, 13, {"activation": 9}, {"activation": 6}
    )  # fmt: skip
    # Per cell type on request.
    normal = compare_genotypes(BASE, OTHER, cell_types=("normal",))
    assert (normal.edges, normal.same_op) == (8, 6)
    assert normal.factor_agreement("activation") == 2 / 4


def test_the_arm_score_is_the_mean_over_pairs() -> None:
    result = stability([BASE, BASE, OTHER], ["activation"])
    assert result.pairs == 3
    assert result.pair_edge_agreement == [1.0, 13 / 16, 13 / 16]
    assert result.edge_agreement == pytest.approx((1 + 2 * 13 / 16) / 3)
    assert result.factor_agreement["activation"] == pytest.approx((1 + 2 * 6 / 9) / 3)


def test_factor_agreement_is_undefined_without_op_agreeing_parameterized_edges() -> None:
    pools = genotype([(plain(0, "max_pool_3x3"), plain(1))] * 4, [(plain(0), plain(1))] * 4)
    convs = genotype([(conv(0), conv(1))] * 4, [(conv(0), conv(1))] * 4)
    assert compare_genotypes(pools, convs).factor_agreement("activation") is None
    result = stability([pools, convs, convs], ["activation"])
    # Only the (convs, convs) pair has edges to compare the activation on.
    assert result.pair_factor_agreement["activation"] == [None, None, 1.0]
    assert result.factor_agreement["activation"] == 1.0
    assert stability([pools, convs], ["activation"]).factor_agreement["activation"] is None


def test_agreement_needs_two_genotypes() -> None:
    with pytest.raises(FactorNASError, match="at least two"):
        stability([BASE], ["activation"])


# -- arms -------------------------------------------------------------------------------------
def test_arms_derive_from_the_space() -> None:
    arms = build_arms("adarts", ("flat", "relu", "activation=selu"))
    assert [a.key for a in arms] == ["adarts", "flat", "activation=relu", "activation=selu"]
    assert [a.searched_factors for a in arms] == [("activation",), ("activation",), (), ()]
    flat = arms[1].space
    assert flat.flat and len(flat.cell("normal").op.candidates) == 40
    # ReLU-only A-DARTS is the DARTS space.
    darts = space_preset("darts")
    assert arms[2].space.model_dump(exclude={"name"}) == darts.model_dump(exclude={"name"})
    assert arms[3].space.cell("reduce").factors[0].names == ("selu",)


@pytest.mark.parametrize(
    ("baselines", "message"),
    [
        (("tanh",), "no searched factor group has it.*activation=selu"),
        (("op=sep_conv_3x3",), "does not name a searched factor group"),
        (("relu", "activation=relu"), "listed twice: activation=relu"),
    ],
)
def test_bad_baselines_say_what_exists(baselines: tuple[str, ...], message: str) -> None:
    with pytest.raises(FactorNASError, match=message):
        build_arms("adarts", baselines)


def test_factornas_bench_compare_refuses_two_seeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "compare", "--space", "adarts", "--seeds", "2", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "at least 3 seeds" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_cli_asks_for_three_seeds() -> None:
    parser = argparse.ArgumentParser()
    register_compare(parser.add_subparsers())
    args = parser.parse_args(["compare", "--space", "adarts", "--seeds", "2", "--out", "x"])
    with pytest.raises(FactorNASError, match="at least 3 seeds"):
        settings_from_args(args)
    quick = settings_from_args(
        parser.parse_args(["compare", "--space", "adarts", "--quick", "--out", "x"])
    )
    assert (quick.baselines, quick.seeds, quick.mode) == (("flat",), 3, "quick")
    assert quick.command(Path("x"), as_json=False) == (
        "factornas bench compare --space adarts --baselines flat --seeds 3 --quick --out x"
    )
    full = settings_from_args(parser.parse_args(["compare", "--space", "adarts", "--out", "x"]))
    assert (full.baselines, full.mode) == (("flat", "relu", "selu"), "full")


# -- end to end -------------------------------------------------------------------------------
TINY = Sizes(
    search=SearchSizes(channels=2, layers=3, epochs=1, batch_size=8, subset=16),
    retrain=RetrainSizes(
        channels=2, layers=3, epochs=1, batch_size=16, subset=32, test_subset=None
    ),
)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk (no imaging library needed)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    assert data.endswith(b"IEND\xaeB`\x82"), path
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
def test_a_tiny_comparison_reports_and_resumes(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = make_fake_fashion_mnist(tmp_path / "fmnist", train_size=64, test_size=20)
    settings = CompareSettings(space="adarts", baselines=("flat",), seeds=2, sizes=TINY, data=data)
    out = tmp_path / "cmp"
    results = run_compare(settings, out)

    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert [a["key"] for a in saved["arms"]] == ["adarts", "flat"]
    assert (saved["runs_total"], saved["runs_reused"]) == (8, 0)
    for arm in saved["arms"]:
        assert [r["seed"] for r in arm["runs"]] == [0, 1]
        summary = arm["summary"]
        for key in ("step_seconds", "peak_rss_mib", "val_top1", "test_top1"):
            assert summary[key]["n"] == 2 and math.isfinite(summary[key]["mean"]), (arm, key)
        assert 0.0 <= summary["stability"]["edge_agreement"] <= 1.0
        assert summary["peak_rss_mib"]["mean"] > summary["rss_above_start_mib"]["mean"] > 0
        run = arm["runs"][0]
        assert (out / run["search"]["run_dir"] / "genotype.json").is_file()
        assert run["retrain"]["params"] > 0
    assert saved["machine"]["torch"] and saved["machine"]["threads_per_run"] == 1
    assert saved["settings"]["mode"] == "custom" and saved["command"].endswith("(Python API)")

    report = (out / "report.md").read_text()
    assert saved["command"] in report and "retrained test top-1 (%)" in report
    assert "| `flat` | flat twin: 40 ops under one α |" in report
    assert saved["machine"]["cpu_model"] in report
    figures = {Path(p).name for p in saved["figures"]}
    assert {"accuracy.png", "cost.png", "normal_op.png", "reduce_activation.png"} <= figures
    assert "normal_op_x_activation.png" in figures  # the flat twin's one group
    for path in saved["figures"]:
        width, height = png_size(out / path)
        assert width >= 300 and height >= 100

    # A second invocation reuses every finished run and redoes a lost one, alone, identically.
    lost = out / "runs" / "flat" / "seed1" / "retrain"
    (lost / "summary.json").unlink()
    (lost / "checkpoint.pt").unlink()
    again = run_compare(settings, out)
    assert again["runs_reused"] == 7
    assert again["arms"][0]["summary"] == saved["arms"][0]["summary"]
    redone = again["arms"][1]["runs"][1]["retrain"]
    assert not redone["reused"]
    assert redone["test_top1"] == saved["arms"][1]["runs"][1]["retrain"]["test_top1"]

    # Other sizes into the same directory are refused, not mixed in.
    bigger = settings.model_copy(
        update={
            "sizes": TINY.model_copy(
                update={"search": TINY.search.model_copy(update={"epochs": 2})}
            )
        }
    )
    with pytest.raises(FactorNASError, match="holds a run of other settings"):
        run_compare(bigger, out)
