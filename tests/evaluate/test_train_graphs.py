"""CUDA graphs and bf16 for retraining: on the CPU the option is a no-op said once and a bf16
run finishes; on a GPU (skipped without one) a graphed retraining equals an eager one."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from factornas.cli import main
from factornas.data.batches import Batch
from factornas.evaluate.graphed import step_key
from factornas.evaluate.network import build_network
from factornas.evaluate.train import retrain
from factornas.presets.published import published_genotype
from tests.evaluate.test_train import TinyData, tiny_config
from tests.tiny import TINY_TRAIN_FLAGS as TINY_TRAIN

CUDA = torch.cuda.is_available()


def test_cuda_graphs_on_the_cpu_change_nothing_and_say_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genotype = published_genotype("darts_v2")
    config = tiny_config(epochs=2)
    eager = retrain(genotype, config, tmp_path / "eager", TinyData(), device="cpu", progress=False)
    capsys.readouterr()
    graphed = retrain(
        genotype, config, tmp_path / "graphs", TinyData(), device="cpu", progress=False,
        cuda_graphs=True,
    )  # fmt: skip
    assert capsys.readouterr().err.count("--cuda-graphs: a no-op on cpu") == 1
    assert graphed.last["train_loss"] == eager.last["train_loss"]
    assert graphed.last["test_top1"] == eager.last["test_top1"]


def test_a_bf16_retraining_on_the_cpu_finishes(tmp_path: Path) -> None:
    config = tiny_config(epochs=1, precision="bf16")
    result = retrain(
        published_genotype("darts_v2"), config, tmp_path / "bf16", TinyData(), device="cpu",
        progress=False,
    )  # fmt: skip
    assert math.isfinite(result.last["train_loss"]) and result.last["test_top1"] >= 0


def test_factornas_train_takes_both_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--genotype", "darts_v2", "--dataset", "synthetic", "--out", str(out)]
    argv += ["--precision", "bf16", "--cuda-graphs", "--device", "cpu", *TINY_TRAIN]
    argv += ["--channels", "8"]  # torch's CPU bf16 dilated-conv bug (docs/performance.md)
    assert main(argv) == 0
    assert capsys.readouterr().err.count("--cuda-graphs: a no-op on cpu") == 1
    assert json.loads((out / "config.json").read_text())["config"]["precision"] == "bf16"


def test_each_drop_path_probability_and_shape_is_its_own_graph() -> None:
    model = build_network(published_genotype("darts_v2"), tiny_config().network)
    x, y = torch.zeros(16, 3, 8, 8), torch.zeros(16, dtype=torch.long)
    model.drop_path_prob = 0.1
    first = step_key(model, x, y)
    assert step_key(model, x, y) == first != step_key(model, x[:8], y[:8])
    model.drop_path_prob = 0.2  # the next epoch's ramp: a re-capture
    assert step_key(model, x, y) != first


class CudaTinyData(TinyData):
    """TinyData on the GPU, its flips drawn from the loop's CUDA generator."""

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        for images, labels in super().train_batches(epoch, torch.Generator().manual_seed(epoch)):
            yield images.cuda(), labels.cuda()

    def test_batches(self) -> Iterator[Batch]:
        for images, labels in super().test_batches():
            yield images.cuda(), labels.cuda()


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_a_graphed_retraining_equals_an_eager_one(tmp_path: Path) -> None:
    genotype = published_genotype("darts_v2")
    config = tiny_config(epochs=3, drop_path=0.0, auxiliary_weight=0.4)
    data = CudaTinyData(n=128)
    runs = [
        retrain(genotype, config, tmp_path / str(g), data, device="cuda", progress=False,
                cuda_graphs=g)
        for g in (False, True)
    ]  # fmt: skip
    eager, graphed = (r.last for r in runs)
    assert graphed["train_loss"] == pytest.approx(eager["train_loss"], abs=1e-4)
    assert graphed["test_loss"] == pytest.approx(eager["test_loss"], abs=1e-4)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_a_bf16_graphed_retraining_on_the_gpu_finishes(tmp_path: Path) -> None:
    config = tiny_config(epochs=2, precision="bf16")
    result = retrain(
        published_genotype("darts_v2"), config, tmp_path / "bf16", CudaTinyData(),
        device="cuda", progress=False, cuda_graphs=True,
    )  # fmt: skip
    assert math.isfinite(result.last["train_loss"])
