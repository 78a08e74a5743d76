"""``factornas bench compare``: the agreement metric, the arms, and a tiny end-to-end run."""

from __future__ import annotations

import argparse
import json
import math
import shlex
import struct
from pathlib import Path

import pytest
import torch

from factornas.bench.arms import build_arms
from factornas.bench.budgets import RetrainSizes, SearchSizes, Sizes
from factornas.bench.compare import run as compare_run
from factornas.bench.compare.results import load_results
from factornas.bench.compare.run import run_pair
from factornas.bench.compare.settings import CompareSettings
from factornas.bench.stability import compare_genotypes, stability
from factornas.cli import bench_compare as compare_cli
from factornas.cli import main
from factornas.cli.bench_compare import register_compare, settings_from_args
from factornas.data import make_fake_cifar10, make_fake_fashion_mnist
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
    assert (quick.baselines, quick.seeds, quick.base_budget) == (("flat",), (0, 1, 2), "quick")
    assert quick.command(Path("x"), as_json=False) == (
        "factornas bench compare --space adarts --baselines flat --seeds 3 --budget quick --out x"
    )
    full = settings_from_args(parser.parse_args(["compare", "--space", "adarts", "--out", "x"]))
    assert (full.baselines, full.base_budget) == (("flat", "relu", "selu"), "full")


def test_the_runs_take_the_device_and_graphs_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--device cuda --cuda-graphs`` reach every job (the GPU suite's comparison), and the
    canonical command line keeps them; without them a job runs on the CPU, eagerly."""
    # No GPU here: the flags' way to the jobs is what is tested (an unusable device is refused
    # by pick_device, tested with the other device checks).
    monkeypatch.setattr(compare_cli, "pick_device", torch.device)
    parser = argparse.ArgumentParser()
    register_compare(parser.add_subparsers())
    argv = ["compare", "--space", "adarts", "--quick", "--out", "x"]
    cpu = settings_from_args(parser.parse_args(argv))
    gpu = settings_from_args(parser.parse_args([*argv, "--device", "cuda", "--cuda-graphs"]))
    assert (cpu.device, cpu.cuda_graphs, gpu.device, gpu.cuda_graphs) == (
        "cpu",
        False,
        "cuda",
        True,
    )
    assert gpu.command(Path("x"), as_json=False).endswith("--device cuda --cuda-graphs --out x")
    jobs: list[dict[str, object]] = []

    def record(job: dict[str, object], run_dir: Path, threads: int) -> None:
        jobs.append(job)
        raise FactorNASError("recorded")  # no run: the job is what is tested

    monkeypatch.setattr(compare_run, "_run_worker", record)
    arm = build_arms("adarts", ("relu",))[0]
    with pytest.raises(FactorNASError, match="recorded"):
        run_pair(arm, 0, gpu, tmp_path)
    ((task, device, graphs),) = [(j["task"], j["device"], j["cuda_graphs"]) for j in jobs]
    assert (task, device, graphs) == ("search", "cuda", True)


# -- end to end -------------------------------------------------------------------------------
TINY = Sizes(
    search=SearchSizes(channels=2, layers=3, epochs=1, batch_size=8, subset=16),
    retrain=RetrainSizes(
        channels=2, layers=3, epochs=1, batch_size=16, subset=32, test_subset=None
    ),
)
#: The quick budget shrunk to TINY by overrides, in the order the command line writes them.
TINY_OVERRIDES = [
    "--search-epochs", "1", "--search-subset", "16", "--search-channels", "2",
    "--search-batch-size", "8", "--retrain-subset", "32", "--retrain-channels", "2",
    "--retrain-batch-size", "16", "--test-subset", "all",
]  # fmt: skip


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk (no imaging library needed)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    assert data.endswith(b"IEND\xaeB`\x82"), path
    return struct.unpack(">II", data[16:24])


#: The comparison in the repository: format 2 as the harness writes it.
COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks/results/adarts-full/results.json"


def shape(value: object) -> object:
    """The keys of every object, in order, down to the first item of each list; the contents
    that depend on the run (a genotype, size overrides, environment variables) left out."""
    if isinstance(value, dict):
        skip = {"genotype", "overrides", "environment"}
        return [(k, None if k in skip else shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_a_tiny_comparison_through_the_cli_reports_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    data = make_fake_fashion_mnist(tmp_path / "fmnist", train_size=64, test_size=20).resolve()
    out = tmp_path / "cmp"
    argv = ["bench", "compare", "--space", "adarts", "--budget", "quick", *TINY_OVERRIDES]
    argv += ["--data", str(data), "--out", str(out), "--json"]
    code, stdout, _ = run_cli(argv, capsys)
    assert code == 0
    results = json.loads(stdout)

    saved = json.loads((out / "results.json").read_text())
    assert saved == results
    # The typed model reads it back, and writes it back byte for byte.
    typed = load_results(out / "results.json")
    assert typed.dumps() == (out / "results.json").read_text()
    assert typed.machine.jobs == 1 and typed.arms[1].runs[2].retrain.params > 0
    # Laid out as the committed comparison, key for key (that one predates --jobs).
    committed = json.loads(COMMITTED.read_text())
    without_jobs = {**saved, "machine": {k: v for k, v in saved["machine"].items() if k != "jobs"}}
    assert shape(without_jobs) == shape(committed)
    # The command reproduces the quick budget with its overrides, exactly.
    assert saved["command"] == shlex.join(
        ["factornas", "bench", "compare", "--space", "adarts", "--baselines", "flat",
         "--seeds", "3", "--budget", "quick", *TINY_OVERRIDES,
         "--data", str(data), "--out", str(out), "--json"]
    )  # fmt: skip
    settings = saved["settings"]
    assert (settings["budget"], settings["dataset"]) == ("quick", "fashion-mnist")
    assert Sizes.model_validate(settings["sizes"]) == TINY
    assert settings["overrides"] == {
        "search-epochs": 1, "search-subset": 16, "search-channels": 2, "search-batch-size": 8,
        "retrain-subset": 32, "retrain-channels": 2, "retrain-batch-size": 16,
        "test-subset": None,
    }  # fmt: skip
    assert [a["key"] for a in saved["arms"]] == ["adarts", "flat"]
    assert (saved["runs_total"], saved["runs_reused"]) == (12, 0)
    for arm in saved["arms"]:
        assert [r["seed"] for r in arm["runs"]] == [0, 1, 2]
        summary = arm["summary"]
        for key in ("step_seconds", "peak_rss_mib", "val_top1", "test_top1"):
            assert summary[key]["n"] == 3 and math.isfinite(summary[key]["mean"]), (arm, key)
        assert 0.0 <= summary["stability"]["edge_agreement"] <= 1.0
        assert summary["peak_rss_mib"]["mean"] > summary["rss_above_start_mib"]["mean"] > 0
        run = arm["runs"][0]
        assert (out / run["search"]["run_dir"] / "genotype.json").is_file()
        assert run["retrain"]["params"] > 0
    assert saved["machine"]["torch"] and saved["machine"]["threads_per_run"] == 1

    # The flat twin against adarts, paired by seed, with its interval and verdict.
    (comparison,) = saved["comparisons"]
    assert (comparison["arm"], comparison["against"]) == ("flat", "adarts")
    adarts, flat = saved["arms"]
    test = comparison["metrics"]["test_top1"]
    assert test["differences"] == [
        a["retrain"]["test_top1"] - f["retrain"]["test_top1"]
        for a, f in zip(adarts["runs"], flat["runs"], strict=True)
    ]
    assert test["mean"] == pytest.approx(adarts["summary"]["test_top1"]["mean"]
                                         - flat["summary"]["test_top1"]["mean"])  # fmt: skip
    assert test["high"] - test["low"] == pytest.approx(2 * test["half_width"])
    assert test["verdict"].endswith("seed noise")

    report = (out / "report.md").read_text()
    assert saved["command"] in report and "retrained test top-1 (%; chance 10.0)" in report
    assert "| `flat` | flat twin: 40 ops under one α |" in report
    assert "Budget `quick` with `--search-epochs 1 --search-subset 16" in report
    assert "## Differences to `adarts`, paired by seed" in report
    assert test["verdict"] in report and comparison["metrics"]["val_top1"]["verdict"] in report
    assert saved["machine"]["cpu_model"] in report
    figures = {Path(p).name for p in saved["figures"]}
    assert {"accuracy.png", "cost.png", "normal_op.png", "reduce_activation.png"} <= figures
    assert "normal_op_x_activation.png" in figures  # the flat twin's one group
    for path in saved["figures"]:
        width, height = png_size(out / path)
        assert width >= 300 and height >= 100
    # Two rows of panels: accuracies, then differences with intervals.
    width, height = png_size(out / "figures" / "accuracy.png")
    assert height > width * 0.9

    # Rerunning the report's command reuses every finished run and redoes a lost one, alone,
    # identically.
    lost = out / "runs" / "flat" / "seed1" / "retrain"
    (lost / "summary.json").unlink()
    (lost / "checkpoint.pt").unlink()
    code, stdout, _ = run_cli(shlex.split(saved["command"])[1:], capsys)
    assert code == 0
    again = json.loads(stdout)
    assert again["runs_reused"] == 11
    assert again["arms"][0]["summary"] == saved["arms"][0]["summary"]
    redone = again["arms"][1]["runs"][1]["retrain"]
    assert not redone["reused"]
    assert redone["test_top1"] == saved["arms"][1]["runs"][1]["retrain"]["test_top1"]
    assert again["comparisons"] == saved["comparisons"]
    # Without --json, the verdicts follow the table.
    code, stdout, _ = run_cli(argv[:-1], capsys)
    assert code == 0
    assert f"retrained test top-1, adarts vs flat: {test['verdict']}\n" in stdout

    # Other sizes into the same directory are refused in one line before anything runs.
    before = sorted(p for p in out.rglob("*") if p.is_file())
    code, _, err = run_cli([*argv, "--search-epochs", "2", "--test-subset", "10"], capsys)
    assert code == 2
    assert err == (
        f"error: {out} holds a comparison of other sizes: --search-epochs 2 (was 1), "
        "--test-subset 10 (was all); resume it with its own sizes (its report.md gives the "
        "command), or use another --out\n"
    )
    code, _, err = run_cli([*argv, "--dataset", "cifar10"], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "--dataset cifar10 (was fashion-mnist)" in err
    assert sorted(p for p in out.rglob("*") if p.is_file()) == before
    # Without that record, each run directory still refuses other settings.
    (out / "bench_sizes.json").unlink()
    code, _, err = run_cli([*argv, "--search-epochs", "2"], capsys)
    assert code == 2 and "holds a run of other settings" in err


@pytest.mark.slow
def test_the_same_harness_runs_on_cifar10(tmp_path: Path) -> None:
    data = make_fake_cifar10(tmp_path / "cifar", train_per_batch=8, test_size=20)
    settings = CompareSettings(
        space="adarts", baselines=(), seeds=2, sizes=TINY, dataset="cifar10", data=data
    )
    arm = build_arms("adarts", ())[0]
    result = run_pair(arm, 0, settings, tmp_path / "cmp")
    retrain_dir = tmp_path / "cmp" / result.retrain.run_dir
    config = json.loads((retrain_dir / "config.json").read_text())["config"]
    assert (config["data"]["dataset"], config["network"]["in_channels"]) == ("cifar10", 3)
    search = json.loads((tmp_path / "cmp" / result.search.run_dir / "config.json").read_text())
    assert search["data"]["dataset"] == "cifar10"
    assert math.isfinite(result.retrain.test_top1) and result.retrain.params > 0


@pytest.mark.slow
def test_a_pair_whose_search_fails_before_its_checkpoint_names_the_reason(tmp_path: Path) -> None:
    """A search that fails early removes every file it recorded, the harness's log among them;
    the failure still carries the log's last line, the reason, read through a descriptor the
    harness opened before the search started."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (data / name).write_bytes(b"not an idx file")
    parser = argparse.ArgumentParser()
    register_compare(parser.add_subparsers())
    args = ["compare", "--space", "adarts", "--quick", "--data", str(data), "--out", "x"]
    settings = settings_from_args(parser.parse_args(args))
    (arm,) = build_arms("adarts", ())
    with pytest.raises(FactorNASError) as error:
        run_pair(arm, 0, settings, tmp_path / "cmp")
    message = str(error.value)
    assert "search in" in message and "failed (exit status 2): error: " in message
    assert "train-images-idx3-ubyte" in message and "its log went with its files" in message
    assert "\n" not in message
