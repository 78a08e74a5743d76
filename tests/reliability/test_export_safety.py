"""``export`` and ``info`` lose nothing of the user's (issue #20): an output that is an input or
another output, a missing output directory, an image side the network cannot take and a
run directory whose config does not describe its checkpoint all end in one ``error:`` line,
exit 2, before anything is written; a failed export leaves no file and no temporary; an ONNX
file is complete on its own."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import factornas.export
from factornas.cli import main
from factornas.export import read_retrain_run, sample_batch, trained_model
from factornas.presets.published import published_genotype
from tests.reliability.conftest import TINY_TRAIN, one_line_error, snapshot

Prepare = Callable[[Path, pytest.MonkeyPatch], object]


@dataclass(frozen=True)
class Case:
    """``argv`` and ``message`` with ``{tmp}`` for the test's directory, which holds a copy of
    the tiny trained run as ``run`` after ``prepare``."""

    name: str
    argv: list[str]
    message: str
    prepare: Prepare | None = None


def _tree(root: Path) -> list[str]:
    """Every path under ``root``, directories and temporaries included."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _edit_config(change: Callable[[dict], object]) -> Prepare:
    def prepare(tmp: Path, _: pytest.MonkeyPatch) -> None:
        path = tmp / "run" / "config.json"
        saved = json.loads(path.read_text())
        change(saved)
        path.write_text(json.dumps(saved))

    return prepare


def _network(**settings: object) -> Prepare:
    return _edit_config(lambda saved: saved["config"]["network"].update(settings))


def _write(name: str, text: str) -> Prepare:
    def prepare(tmp: Path, _: pytest.MonkeyPatch) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)

    return prepare


def _genotype(name: str) -> Prepare:
    return lambda tmp, _: published_genotype("darts_v2").save(tmp / name)


def _search_run(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp / "search").mkdir()
    _genotype("search/genotype.json")(tmp, monkeypatch)
    (tmp / "search" / "config.json").write_text("{}")


def _swap_an_op(saved: dict) -> None:
    saved["genotype"]["normal"]["nodes"][0][0]["op"] = "dil_conv_3x3"


def _weightless_checkpoint(tmp: Path, _: pytest.MonkeyPatch) -> None:
    torch.save({"epoch": 1}, tmp / "run" / "checkpoint.pt")


def _onnx_too_large_for_one_file(_: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factornas.export, "ONNX_SINGLE_FILE_BYTES", 0)


RUN = ["export", "--checkpoint", "{tmp}/run"]
TINY_INFO = ["info", "--genotype", "darts_v2", "--layers", "5"]
CASES = [
    # -- an output that is an input, or another output -------------------------------------
    Case(
        "onnx-over-the-checkpoint",
        [*RUN, "--onnx", "{tmp}/run/checkpoint.pt"],
        "error: --onnx {tmp}/run/checkpoint.pt is an input of this export (the checkpoint): "
        "choose another output path",
    ),
    Case(
        "torchscript-over-the-config",
        [*RUN, "--torchscript", "{tmp}/run/config.json"],
        "--torchscript {tmp}/run/config.json is an input of this export (the run's config)",
    ),
    Case(
        "onnx-through-a-link-to-the-checkpoint",
        [*RUN, "--onnx", "{tmp}/link.pt"],
        "--onnx {tmp}/link.pt is an input of this export (the checkpoint)",
        lambda tmp, _: (tmp / "link.pt").symlink_to(tmp / "run" / "checkpoint.pt"),
    ),
    Case(
        "torchscript-over-a-hard-link-to-the-checkpoint",
        [*RUN, "--torchscript", "{tmp}/hard.pt"],
        "--torchscript {tmp}/hard.pt is an input of this export (the checkpoint)",
        lambda tmp, _: os.link(tmp / "run" / "checkpoint.pt", tmp / "hard.pt"),
    ),
    Case(
        "onnx-over-the-genotype-file",
        ["export", "{tmp}/genotype.json", "--onnx", "{tmp}/genotype.json"],
        "--onnx {tmp}/genotype.json is an input of this export (the genotype)",
        _genotype("genotype.json"),
    ),
    Case(
        "torchscript-over-the-genotype-next-to-a-checkpoint",
        [*RUN, "{tmp}/genotype.json", "--torchscript", "{tmp}/genotype.json"],
        "--torchscript {tmp}/genotype.json is an input of this export (the genotype)",
        _genotype("genotype.json"),
    ),
    Case(
        "onnx-over-a-search-runs-genotype",
        ["export", "{tmp}/search", "--onnx", "{tmp}/search/genotype.json"],
        "is an input of this export (the genotype)",
        _search_run,
    ),
    Case(
        "torchscript-over-a-search-runs-config",
        ["export", "{tmp}/search", "--torchscript", "{tmp}/search/config.json"],
        "--torchscript {tmp}/search/config.json is an input of this export (the genotype's run "
        "config)",
        _search_run,
    ),
    Case(
        "onnx-over-a-plug-in",
        ["export", "darts_v2", "--plugin", "{tmp}/plug.py", "--onnx", "{tmp}/plug.py"],
        "is an input of this export (the plug-in {tmp}/plug.py)",
        _write("plug.py", "# registers nothing\n"),
    ),
    Case(
        "both-formats-to-one-existing-file",
        [*RUN, "--onnx", "{tmp}/same.bin", "--torchscript", "{tmp}/same.bin"],
        "error: --onnx and --torchscript both name {tmp}/same.bin: give each format its own path",
        _write("same.bin", "an older export"),
    ),
    Case(
        "both-formats-to-one-file-by-two-names",
        [*RUN, "--onnx", "{tmp}/a.bin", "--torchscript", "{tmp}/alias/a.bin"],
        "--onnx and --torchscript both name {tmp}/alias/a.bin",
        lambda tmp, _: (tmp / "alias").symlink_to(tmp, target_is_directory=True),
    ),
    Case(
        "torchscript-over-the-onnx-weights-file",
        [*RUN, "--onnx", "{tmp}/m.onnx", "--torchscript", "{tmp}/m.onnx.data"],
        "--torchscript and --onnx's weights file both name {tmp}/m.onnx.data",
        _onnx_too_large_for_one_file,
    ),
    # -- where an output cannot go ---------------------------------------------------------
    Case(
        "output-directory-missing",
        [*RUN, "--onnx", "{tmp}/nowhere/model.onnx"],
        "error: --onnx {tmp}/nowhere/model.onnx: directory {tmp}/nowhere does not exist: "
        "create it, or choose another path",
    ),
    Case(
        "output-under-a-file",
        [*RUN, "--torchscript", "{tmp}/run/config.json/model.pt"],
        "{tmp}/run/config.json is a file, not a directory",
    ),
    Case(
        "output-is-a-directory",
        [*RUN, "--onnx", "{tmp}/run"],
        "--onnx {tmp}/run is a directory: give the path of a file in it",
    ),
    # -- image sides -----------------------------------------------------------------------
    Case(
        "export-image-size-1",
        [*RUN, "--onnx", "{tmp}/m.onnx", "--image-size", "1"],
        "error: --image-size 1 is too small for this cifar network of 3 cells: the smallest "
        "side it takes is 2",
    ),
    Case(
        "export-image-size-2-on-5-cells",
        ["export", "darts_v2", "--layers", "5", "--onnx", "{tmp}/m.onnx", "--image-size", "2"],
        "--image-size 2 is too small for this cifar network of 5 cells: the smallest side it "
        "takes is 4",
    ),
    Case(
        "export-image-size-0",
        [*RUN, "--onnx", "{tmp}/m.onnx", "--image-size", "0"],
        "error: --image-size 0 is not an image side: the smallest side this cifar network of 3 "
        "cells takes is 2",
    ),
    Case(
        "export-image-size-negative",
        [*RUN, "--torchscript", "{tmp}/m.pt", "--image-size", "-1"],
        "--image-size -1 is not an image side",
    ),
    Case(
        "export-image-size-huge",
        [*RUN, "--torchscript", "{tmp}/m.pt", "--image-size", str(10**9)],
        f"error: --image-size {10**9} is too large: factornas takes image sides up to 1024 (an "
        "export runs the network on a batch of images of that side on the CPU)",
    ),
    Case(
        "export-image-size-odd",
        [*RUN, "--torchscript", "{tmp}/m.pt", "--image-size", "31"],
        "error: --image-size 31 does not fit the reductions of this cifar network of 3 cells: "
        "the nearest sides it takes are 30 and 32",
    ),
    Case(
        "info-image-size-2",
        ["info", "--genotype", "darts_v2", "--image-size", "2"],
        "error: --image-size 2 is too small for this cifar network of 20 cells: the smallest "
        "side it takes is 4",
    ),
    Case("info-image-size-1", [*TINY_INFO, "--image-size", "1"], "the smallest side it takes"),
    Case("info-image-size-0", [*TINY_INFO, "--image-size", "0"], "0 is not an image side"),
    Case("info-image-size-negative", [*TINY_INFO, "--image-size", "-1"], "not an image side"),
    Case("info-image-size-huge", [*TINY_INFO, "--image-size", str(10**9)], "up to 1024"),
    Case(
        "info-image-size-between-imagenet-sides",
        [*TINY_INFO, "--network", "imagenet", "--layers", "3", "--image-size", "33"],
        "--image-size 33 does not fit the reductions of this imagenet network of 3 cells: the "
        "nearest sides it takes are 32 and 45",
    ),
    Case(
        "info-width-solve-image-size-2",
        [*TINY_INFO, "--max-macs", "1000000", "--image-size", "2"],
        "--image-size 2 is too small",
    ),
    # -- a config.json that does not describe its checkpoint -------------------------------
    Case(
        "config-wider-than-checkpoint",
        [*RUN, "--onnx", "{tmp}/m.onnx"],
        "error: {tmp}/run/checkpoint.pt does not fit the network {tmp}/run/config.json "
        "describes (cifar, C=16, 3 cells, 10 classes): stem.0.weight is 12×3×3×3 in the "
        "weights, 48×3×3×3 in the network; was config.json edited, or copied from another run?",
        _network(channels=16),
    ),
    Case(
        "config-deeper-than-checkpoint",
        [*RUN, "--onnx", "{tmp}/m.onnx"],
        "{tmp}/run/checkpoint.pt does not fit the network {tmp}/run/config.json describes "
        "(cifar, C=4, 5 cells",
        _network(layers=5),
    ),
    Case(
        "config-with-other-classes",
        [*RUN, "--torchscript", "{tmp}/m.pt"],
        "(cifar, C=4, 3 cells, 7 classes): auxiliary_head.classifier.weight is 10×768",
        _network(num_classes=7),
    ),
    Case(
        "config-with-another-genotype",
        [*RUN, "--torchscript", "{tmp}/m.pt"],
        "{tmp}/run/config.json describes (cifar, C=4, 3 cells, 10 classes): the weights' "
        "cells.0.edges.0.1.op.4.weight has no place in the network (and 6 more)",
        _edit_config(_swap_an_op),
    ),
    Case(
        "config-a-list",
        [*RUN, "--onnx", "{tmp}/m.onnx"],
        '{tmp}/run/config.json is not a retraining config (a JSON object with "config" and '
        '"genotype"), so it cannot describe the network of {tmp}/run/checkpoint.pt',
        _write("run/config.json", "[1, 2]"),
    ),
    Case(
        "config-network-of-the-wrong-type",
        [*RUN, "--onnx", "{tmp}/m.onnx"],
        "error: {tmp}/run/config.json does not describe the network of {tmp}/run/checkpoint.pt: "
        "config.network.channels: Input should be a valid integer",
        _network(channels="many"),
    ),
    Case(
        "config-genotype-not-an-object",
        [*RUN, "--onnx", "{tmp}/m.onnx"],
        "{tmp}/run/config.json does not describe the network of {tmp}/run/checkpoint.pt: "
        "genotype: ",
        _edit_config(lambda saved: saved.update(genotype=[1])),
    ),
    Case(
        "config-not-json",
        [*RUN, "--onnx", "{tmp}/m.onnx"],
        "error: {tmp}/run/config.json is damaged (not valid JSON): it cannot describe the "
        "network of {tmp}/run/checkpoint.pt",
        _write("run/config.json", '{"config": '),
    ),
    Case(
        "checkpoint-without-weights",
        [*RUN, "--onnx", "{tmp}/m.onnx"],
        "error: {tmp}/run/checkpoint.pt holds no evaluation network weights",
        _weightless_checkpoint,
    ),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny retraining (3 cells, C=4, 32×32 synthetic images) shared by every test."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main([*TINY_TRAIN, "--genotype", "darts_v2", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`trained` at ``tmp_path / "run"``."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_refused_in_one_line_with_nothing_touched(
    case: Case,
    run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if case.prepare is not None:
        case.prepare(tmp_path, monkeypatch)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    before, tree = snapshot(tmp_path), _tree(tmp_path)
    line = one_line_error(capsys, argv)
    assert case.message.replace("{tmp}", str(tmp_path)) in line
    assert snapshot(tmp_path) == before
    assert _tree(tmp_path) == tree  # no directory made, no temporary left


def _onnx_logits(path: Path, images: torch.Tensor) -> torch.Tensor:
    """``path`` checked by onnx and run by onnxruntime on ``images``."""
    import onnx
    import onnxruntime

    onnx.checker.check_model(onnx.load(str(path)))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": images.numpy()})
    return torch.from_numpy(logits)


def _trained_logits(run: Path, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return trained_model(read_retrain_run(run))(images)


@pytest.mark.slow
def test_onnx_is_one_file_that_works_copied_alone(run: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out, alone = tmp_path / "out", tmp_path / "alone"
    out.mkdir()
    alone.mkdir()
    inputs = snapshot(run)
    assert main(["export", "--checkpoint", str(run), "--onnx", str(out / "model.onnx")]) == 0
    assert sorted(os.listdir(out)) == ["model.onnx"]  # no model.onnx.data, no temporary
    assert snapshot(run) == inputs
    shutil.copy(out / "model.onnx", alone)

    images = sample_batch(read_retrain_run(run).network, 32, seed=1)
    got = _onnx_logits(alone / "model.onnx", images)
    assert torch.allclose(got, _trained_logits(run, images), atol=1e-4, rtol=0)


@pytest.mark.slow
def test_onnx_too_large_for_one_file_keeps_its_weights_named_after_it(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    monkeypatch.setattr(factornas.export, "ONNX_SINGLE_FILE_BYTES", 0)
    monkeypatch.setenv("COLUMNS", "1000")  # rich would wrap the line
    out, moved = tmp_path / "out", tmp_path / "moved"
    out.mkdir()
    moved.mkdir()
    assert main(["export", "--checkpoint", str(run), "--onnx", str(out / "big.onnx")]) == 0
    said = capsys.readouterr().out
    assert f"with its weights in {out / 'big.onnx.data'} (ONNX files hold at most 2 GB" in said
    assert sorted(os.listdir(out)) == ["big.onnx", "big.onnx.data"]
    for name in ("big.onnx", "big.onnx.data"):
        shutil.copy(out / name, moved)

    images = sample_batch(read_retrain_run(run).network, 32, seed=1)
    got = _onnx_logits(moved / "big.onnx", images)
    assert torch.allclose(got, _trained_logits(run, images), atol=1e-4, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize(("flag", "name"), [("--onnx", "model.onnx"), ("--torchscript", "m.pt")])
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_a_failed_export_leaves_the_old_file_and_no_temporary(
    flag: str,
    name: str,
    run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if flag == "--onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    monkeypatch.setattr(factornas.export, "TOLERANCE", -1.0)  # every check fails
    (tmp_path / name).write_bytes(b"the export of yesterday")
    before, tree = snapshot(tmp_path), _tree(tmp_path)
    line = one_line_error(capsys, ["export", "--checkpoint", str(run), flag, str(tmp_path / name)])
    assert f"file {tmp_path / name} differs from PyTorch" in line
    assert snapshot(tmp_path) == before
    assert _tree(tmp_path) == tree
