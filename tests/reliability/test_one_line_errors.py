"""Every way a user can get a command wrong ends the same way: exit status 2, one ``error:``
line naming the thing at fault (no traceback), every file that was there before untouched, and
no run directory left behind by a run that never started."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from factornas.data import fashion_mnist as fm
from factornas.data import make_fake_fashion_mnist
from factornas.presets.published import published_genotype
from factornas.runtime.owned import claim
from tests.reliability.conftest import (
    TINY_ADARTS,
    TINY_SEARCH,
    TINY_TRAIN,
    one_line_error,
    snapshot,
)

Setup = Callable[[Path, pytest.MonkeyPatch], list[str]]


@dataclass(frozen=True)
class Case:
    """``setup`` prepares ``tmp`` and returns the argv; ``message`` (``{tmp}`` = the test's
    directory) must appear in the error line; ``tmp/run`` must not exist afterwards unless it
    existed before."""

    name: str
    setup: Setup
    message: str


def _search(*extra: str, out: str = "run") -> Setup:
    return lambda tmp, _: [*TINY_SEARCH, *extra, "--out", str(tmp / out)]


def _adarts(*extra: str) -> Setup:
    return lambda tmp, _: [*TINY_ADARTS, *extra, "--out", str(tmp / "run")]


def _train(*extra: str, genotype: str = "darts_v2", out: str = "run") -> Setup:
    return lambda tmp, _: [*TINY_TRAIN, "--genotype", genotype, *extra, "--out", str(tmp / out)]


def _file(name: str, text: str) -> Callable[[Path], Path]:
    def write(tmp: Path) -> Path:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write


def _with(prepare: Callable[[Path], object], then: Setup) -> Setup:
    def setup(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        prepare(tmp)
        return then(tmp, monkeypatch)

    return setup


def _genotype_with(change: Callable[[dict], None]) -> Callable[[Path], Path]:
    def write(tmp: Path) -> Path:
        data = published_genotype("darts_v2").model_dump(mode="json")
        change(data)
        return _file("genotype.json", json.dumps(data))(tmp)

    return write


def _empty_concat(data: dict) -> None:
    data["normal"]["concat"] = []


def _concat_out_of_range(data: dict) -> None:
    data["reduce"]["concat"] = [9]


def _offline_with_debian_copy(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An empty --data directory on a machine that has Debian's copy but no network."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(fm, "DEBIAN_DIR", make_fake_fashion_mnist(tmp / "debian", 64, 16))
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    (tmp / "empty").mkdir()
    return [
        *TINY_SEARCH, "--dataset", "fashion-mnist", "--data", str(tmp / "empty"),
        "--out", str(tmp / "run"),
    ]  # fmt: skip


def _run_dir_with(kind: str = "search", **files: str) -> Callable[[Path], None]:
    """A run directory of ours (its marker records the files) holding ``files``."""

    def write(tmp: Path) -> None:
        names = [name.replace("_json", ".json").replace("_pt", ".pt") for name in files]
        claim(tmp / "run", kind).record(names)
        for name, text in zip(names, files.values(), strict=True):
            _file(f"run/{name}", text)(tmp)

    return write


def _arch_weights(value: object) -> Callable[[Path], Path]:
    return _file("prev/arch_weights.json", json.dumps(value))


def _unwritable(tmp: Path, _: pytest.MonkeyPatch) -> list[str]:
    return [*TINY_SEARCH, "--out", "/sys/factornas-reliability/run"]


CASES = [
    # -- where the run goes ----------------------------------------------------------------
    Case("out-under-a-file", _with(_file("f", "x"), _search(out="f/run")), "Not a directory"),
    Case("out-is-a-file", _with(_file("run", "x"), _search()), "is a file, not a directory"),
    Case("out-unwritable", _unwritable, "/sys/factornas-reliability/run"),
    Case("train-out-is-a-file", _with(_file("run", "x"), _train()), "is a file, not a directory"),
    Case("train-out-under-a-file", _with(_file("f", "x"), _train(out="f/run")), "Not a dir"),
    # -- what is already in it -------------------------------------------------------------
    Case(
        "corrupt-config-next-to-checkpoint",
        _with(_run_dir_with(checkpoint_pt="x", config_json="{not json"), _search()),
        "config.json is damaged (not a JSON object)",
    ),
    Case(
        "config-holding-a-list",
        _with(_run_dir_with(checkpoint_pt="x", config_json="[1]"), _search()),
        "config.json is damaged",
    ),
    Case(
        "summary-holding-a-list",
        _with(_run_dir_with(summary_json="[]"), _search()),
        "summary.json is damaged (not a JSON object): pass --overwrite",
    ),
    Case(
        "summary-not-json",
        _with(_run_dir_with(summary_json="{"), _search()),
        "summary.json is damaged",
    ),
    Case(
        "finished-run",
        _with(_run_dir_with(summary_json='{"finished": true}'), _search()),
        "holds a finished run: choose another --out, or pass --overwrite",
    ),
    Case(
        "checkpoint-of-another-config",
        _with(_run_dir_with(checkpoint_pt="x", config_json="{}"), _search()),
        "holds a checkpoint of a different configuration",
    ),
    Case(
        "train-summary-holding-a-list",
        _with(_run_dir_with("train", summary_json="[]"), _train()),
        "summary.json is damaged",
    ),
    # -- devices ---------------------------------------------------------------------------
    Case("search-device-tpu9", _search("--device", "tpu9"), "unknown device 'tpu9'"),
    Case("train-device-tpu9", _train("--device", "tpu9"), "unknown device 'tpu9'"),
    Case("search-device-cuda7", _search("--device", "cuda:7"), "device 'cuda:7' requested"),
    # -- data ------------------------------------------------------------------------------
    Case(
        "data-empty-directory-no-debian-fallback",
        _offline_with_debian_copy,
        "could not download",
    ),
    Case(
        "data-is-a-file",
        _with(_file("data", "x"), _search("--dataset", "fashion-mnist", "--data", "{tmp}/data")),
        "is a file: give the directory",
    ),
    Case(
        "cifar-data-is-a-file",
        _with(_file("data", "x"), _search("--dataset", "cifar10", "--data", "{tmp}/data")),
        "is a file: give the directory",
    ),
    Case(
        "train-data-is-a-file",
        _with(_file("data", "x"), _train("--dataset", "fashion-mnist", "--data", "{tmp}/data")),
        "is a file: give the directory",
    ),
    Case("search-subset-too-large", _search("--subset", "100000"), "--subset 100000 exceeds"),
    Case(
        "train-test-subset-too-large",
        _train("--test-subset", "20000"),
        "--test-subset 20000 exceeds the 256 test images of synthetic: give at most 256",
    ),
    Case("train-subset-too-large", _train("--subset", "20000"), "--subset 20000 exceeds"),
    # -- configurations that would search nothing -----------------------------------------
    Case("fix-op-none", _search("--fix", "op=none"), "puts the zero op on every edge"),
    Case("fix-unknown-candidate", _adarts("--fix", "activation=gelu"), "no candidate 'gelu'"),
    Case("fix-without-equals", _search("--fix", "op"), "--fix expects GROUP=CANDIDATE"),
    Case("warmup-equals-epochs", _search("--warmup", "1"), "lower --warmup below --epochs"),
    Case(
        "warmup-above-epochs",
        _search("--warmup", "5", "--epochs", "2"),
        "warms up for 5 of 2 epochs",
    ),
    Case("negative-lr", _search("--lr", "-1"), "weights_optimizer.lr"),
    Case("zero-arch-lr", _search("--arch-lr", "0"), "arch_optimizer.lr"),
    Case("zero-epochs", _search("--epochs", "0"), "epochs"),
    Case("negative-checkpoint-every", _search("--checkpoint-every", "-1"), "checkpoint_every"),
    Case("unknown-preset", _search("--preset", "nope"), "nope"),
    # -- --fix-from ------------------------------------------------------------------------
    Case(
        "fix-from-wrong-structure",
        _with(_arch_weights({"normal": 5}), _adarts("--fix-from", "{tmp}/prev:activation")),
        "arch_weights.json is malformed at normal.activation",
    ),
    Case(
        "fix-from-rows-not-a-matrix",
        _with(
            _arch_weights({"normal": {"activation": [1, 2]}, "reduce": {"activation": [1]}}),
            _adarts("--fix-from", "{tmp}/prev:activation"),
        ),
        "is malformed at normal.activation",
    ),
    Case(
        "fix-from-not-json",
        _with(_file("prev/arch_weights.json", "{"), _adarts("--fix-from", "{tmp}/prev:activation")),
        "arch_weights.json is not valid JSON",
    ),
    Case(
        "fix-from-no-run",
        _adarts("--fix-from", "{tmp}/nowhere:activation"),
        "--fix-from needs the directory of a finished factornas search",
    ),
    Case(
        "fix-from-other-space",
        _with(_arch_weights({"normal": {}}), _adarts("--fix-from", "{tmp}/prev:activation")),
        "searched a different space",
    ),
    # -- genotypes -------------------------------------------------------------------------
    Case(
        "train-empty-concat",
        _with(_genotype_with(_empty_concat), _train(genotype="{tmp}/genotype.json")),
        "concat is empty",
    ),
    Case(
        "info-empty-concat",
        _with(
            _genotype_with(_empty_concat),
            lambda t, _: ["info", "--genotype", str(t / "genotype.json")],
        ),
        "concat is empty",
    ),
    Case(
        "train-concat-out-of-range",
        _with(_genotype_with(_concat_out_of_range), _train(genotype="{tmp}/genotype.json")),
        "concat names node 9",
    ),
    Case(
        "info-genotype-not-json",
        _with(
            _file("genotype.json", "{"), lambda t, _: ["info", "--genotype", f"{t}/genotype.json"]
        ),
        "is not valid JSON",
    ),
    Case(
        "train-genotype-dir-without-genotype",
        _with(lambda t: (t / "prev").mkdir(), _train(genotype="{tmp}/prev")),
        "is a directory without a genotype.json",
    ),
    # -- reading runs ----------------------------------------------------------------------
    Case(
        "show-damaged-metrics-line",
        _with(
            _file("shown/metrics.jsonl", '{"epoch": 0}\n{torn\n{"epoch": 2}\n'),
            lambda t, _: ["show", str(t / "shown"), "--no-figures"],
        ),
        "metrics.jsonl line 2 is damaged",
    ),
    # -- benchmarks ------------------------------------------------------------------------
    Case(
        "bench-compare-unfactorized-space",
        lambda t, _: ["bench", "compare", "--space", "darts", "--quick", "--out", str(t / "run")],
        "space 'darts' is not factorized",
    ),
    Case(
        "bench-compare-flat-space",
        lambda t, _: ["bench", "compare", "--space", "flat40", "--quick", "--out", str(t / "run")],
        "is already flat",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_one_line_exit_2_and_nothing_touched(
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.setup(tmp_path, monkeypatch)]
    if case.name == "out-unwritable" and not Path("/sys").is_dir():
        pytest.skip("needs /sys, where even root may not create directories")
    out_existed = (tmp_path / "run").exists()
    before = snapshot(tmp_path)
    line = one_line_error(capsys, argv)
    assert case.message.replace("{tmp}", str(tmp_path)) in line
    assert snapshot(tmp_path) == before
    assert out_existed or not (tmp_path / "run").exists()
