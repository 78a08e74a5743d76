"""``build_model`` and ``factornas export``: the exported files compute what PyTorch computes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import factornas
from factornas.cli import main
from factornas.evaluate.config import NetworkConfig
from factornas.evaluate.network import NetworkCIFAR, NetworkImageNet, build_network
from factornas.export import (
    export_onnx,
    inference_model,
    read_retrain_run,
    sample_batch,
    trained_model,
)
from factornas.presets.published import published_genotype
from tests.tiny import TINY_TRAIN_FLAGS as TINY_TRAIN

TINY = ["--channels", "4", "--layers", "3"]


def test_build_model_takes_names_and_sizes() -> None:
    model = factornas.build_model("darts_v2", channels=4, layers=3, num_classes=7)
    assert isinstance(model, NetworkCIFAR) and len(model.cells) == 3
    assert model.auxiliary_head is None
    logits, aux = model.eval()(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 7) and aux is None

    imagenet = factornas.build_model(
        published_genotype("pc_darts"), network="imagenet", channels=8, layers=3, auxiliary=True
    )
    assert isinstance(imagenet, NetworkImageNet) and imagenet.auxiliary_head is not None
    assert imagenet.classifier.out_features == 1000


def test_build_model_rejects_a_bad_setting_in_one_line() -> None:
    with pytest.raises(factornas.FactorNASError, match=r"^invalid network setting channels"):
        factornas.build_model("darts_v2", channels=0)


@pytest.mark.slow
def test_export_onnx_matches_pytorch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = tmp_path / "model.onnx"
    assert main(["export", "darts_v2", *TINY, "--classes", "5", "--onnx", str(path)]) == 0
    assert "onnxruntime matches PyTorch" in capsys.readouterr().out

    torch.manual_seed(0)  # the CLI's default --seed: the same untrained weights
    model = inference_model(
        published_genotype("darts_v2"),
        NetworkConfig(channels=4, layers=3, num_classes=5, auxiliary=False),
    )
    images = torch.randn(5, 3, 32, 32)  # another batch size than the traced one
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"images": images.numpy()})
    with torch.no_grad():
        want = model(images)
    assert got.shape == (5, 5)
    assert torch.allclose(torch.from_numpy(got), want, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_rrelu_exports_as_its_eval_mode_leaky_relu(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    config = NetworkConfig(channels=4, layers=3, auxiliary=False, override={"activation": "rrelu"})
    genotype = published_genotype("darts_v2")
    torch.manual_seed(0)
    network = build_network(genotype, config).eval()
    torch.manual_seed(0)
    model = inference_model(genotype, config)
    images = sample_batch(config, 32)
    with torch.no_grad():
        assert torch.equal(model(images), network(images)[0])  # the same function
    diff = export_onnx(model, images, tmp_path / "rrelu.onnx").diff
    assert diff is not None and diff <= 1e-4


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_export_a_retrained_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "retrain"
    argv = ["train", "--genotype", "darts_v2", "--dataset", "synthetic", "--out", str(run)]
    assert main([*argv, *TINY_TRAIN]) == 0
    path = tmp_path / "model.pt"
    assert main(["export", "--checkpoint", str(run), "--torchscript", str(path)]) == 0

    trained = read_retrain_run(run)
    model = trained_model(trained)
    images = sample_batch(trained.network, trained.image_size, seed=1)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(path))(images), model(images), atol=1e-5)
        # Trained weights, not fresh ones: the stem differs from a new network's.
        fresh = inference_model(trained.genotype, trained.network)
        assert not torch.equal(fresh(images), model(images))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["darts_v2"], "nothing to export: give --onnx FILE and/or --torchscript FILE"),
        (["--torchscript", "m.pt"], "give a genotype to export, or --checkpoint RETRAIN_DIR"),
        (["darts_v9", "--onnx", "m.onnx"], "no published genotype of that name"),
        (["--checkpoint", ".", "--onnx", "m.onnx"], "is not a retraining run directory"),
        (["--checkpoint", ".", "--channels", "8", "--onnx", "m.onnx"], "--channels cannot"),
        (["darts_v2", "--seed", str(2**64), "--torchscript", "m.pt"], "give a seed from 0 to"),
        (["darts_v2", "--seed", "-1", "--torchscript", "m.pt"], "give a seed from 0 to"),
    ],
)
def test_export_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
