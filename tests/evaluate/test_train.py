"""The retraining loop: it learns, it resumes exactly, it refuses to clobber a finished run."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from factornas.data import make_fake_imagenet
from factornas.data.batches import Batch
from factornas.data.config import DataConfig
from factornas.errors import FactorNASError
from factornas.evaluate import train as train_module
from factornas.evaluate.config import NetworkConfig, RetrainConfig
from factornas.evaluate.data import build_retrain_data
from factornas.evaluate.schedule import drop_path_probability
from factornas.evaluate.train import retrain
from factornas.presets.published import published_genotype
from factornas.presets.retrain import cifar10_recipe, imagenet_recipe
from factornas.runtime.checkpoint import load_checkpoint
from factornas.runtime.metrics import read_metrics
from factornas.runtime.optimizers import OptimizerConfig, scheduled_lr


class TinyData:
    """Separable 4-class 8×8 images: class k brightens quadrant k. Batches follow a permutation
    fixed by (seed, epoch); augmentation (a random flip) draws from the loop's generator."""

    num_classes = 4
    in_channels = 3

    def __init__(self, n: int = 64, batch: int = 16, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % 4
        self.images = 0.3 * torch.randn(n, 3, 8, 8, generator=g)
        for k in range(4):
            r, c = divmod(k, 2)
            self.images[self.labels == k, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 1.0
        self.batch, self.seed = batch, seed
        self.steps_per_epoch = n // batch

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(
            len(self.labels), generator=torch.Generator().manual_seed(self.seed * 1000 + epoch)
        )
        for step in range(self.steps_per_epoch):
            index = order[step * self.batch : (step + 1) * self.batch]
            images = self.images[index]
            flip = torch.rand(len(index), generator=generator) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(-1).flip(-2), images)
            # A flip of both axes maps quadrant k to 3 − k.
            yield images, torch.where(flip, 3 - self.labels[index], self.labels[index])

    def test_batches(self) -> Iterator[Batch]:
        for start in range(0, 32, self.batch):
            yield self.images[start : start + self.batch], self.labels[start : start + self.batch]


def tiny_config(epochs: int = 3, **updates: object) -> RetrainConfig:
    return RetrainConfig(
        network=NetworkConfig(channels=4, layers=3, num_classes=4, in_channels=3),
        data=DataConfig(dataset="synthetic", cutout=16),
        epochs=epochs,
        batch_size=16,
        optimizer=OptimizerConfig(kind="sgd", lr=0.05, weight_decay=3e-4, schedule="cosine"),
        drop_path=0.2,
        auxiliary_weight=0.4,
        **updates,
    )


def test_a_few_epochs_lower_the_loss(tmp_path: Path) -> None:
    genotype = published_genotype("pc_darts")
    result = retrain(
        genotype, tiny_config(epochs=4), tmp_path, TinyData(), progress=False, device="cpu"
    )
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [0, 1, 2, 3]
    assert records[-1]["train_loss"] < 0.8 * records[0]["train_loss"]
    assert records[-1]["test_loss"] < records[0]["test_loss"]
    assert result.params > 0 and result.best_test_top1 >= records[-1]["test_top1"]
    assert json.loads((tmp_path / "summary.json").read_text())["finished"] is True
    assert [r["drop_path"] for r in records] == [0.2 * e / 4 for e in range(4)]


def records(run: Path) -> list[dict[str, object]]:
    """Metrics without the wall-clock time, which no two runs share."""
    return [
        {k: v for k, v in r.items() if k != "seconds"} for r in read_metrics(run / "metrics.jsonl")
    ]


def test_resume_after_interruption_matches_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    genotype = published_genotype("darts_v2")
    config = tiny_config(epochs=3)
    straight = retrain(genotype, config, tmp_path / "a", TinyData(), progress=False, device="cpu")

    real_train_epoch = train_module.train_epoch

    def interrupted(*args: object, **kwargs: object) -> dict[str, float]:
        if args[4] == 2:  # the epoch argument: die in the middle of the last epoch
            raise KeyboardInterrupt
        return real_train_epoch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_module, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        retrain(genotype, config, tmp_path / "b", TinyData(), progress=False, device="cpu")
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["epoch"] == 2
    monkeypatch.setattr(train_module, "train_epoch", real_train_epoch)

    torch.manual_seed(1234)  # the global generator must come from the checkpoint, not here
    resumed = retrain(genotype, config, tmp_path / "b", TinyData(), progress=False, device="cpu")
    assert resumed.resumed_from_epoch == 2
    assert records(tmp_path / "a") == records(tmp_path / "b")
    weights_a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")["model"]
    weights_b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["model"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert straight.last["test_loss"] == resumed.last["test_loss"]


def test_network_and_data_must_agree(tmp_path: Path) -> None:
    config = tiny_config().model_copy(
        update={"network": NetworkConfig(channels=4, layers=3, num_classes=10)}
    )
    with pytest.raises(FactorNASError, match="expects 10 classes"):
        retrain(
            published_genotype("darts_v2"),
            config,
            tmp_path,
            TinyData(),
            progress=False,
            device="cpu",
        )


def test_recipes_hold_the_paper_constants() -> None:
    cifar, imagenet = cifar10_recipe(), imagenet_recipe()
    assert (cifar.epochs, cifar.batch_size, cifar.optimizer.lr) == (600, 128, 0.03)
    assert (cifar.optimizer.momentum, cifar.optimizer.weight_decay) == (0.9, 3e-4)
    assert (cifar.grad_clip, cifar.data.cutout, cifar.drop_path) == (5.0, 16, 0.2)
    assert (cifar.auxiliary_weight, cifar.network.channels, cifar.network.layers) == (0.4, 36, 20)
    assert (imagenet.epochs, imagenet.batch_size, imagenet.optimizer.lr) == (250, 512, 0.25)
    assert (imagenet.optimizer.weight_decay, imagenet.label_smoothing) == (3e-5, 0.1)
    assert (imagenet.auxiliary_weight, imagenet.optimizer.lr_warmup_epochs) == (0.2, 5)
    assert (imagenet.network.kind, imagenet.network.channels, imagenet.network.layers) == (
        "imagenet",
        48,
        14,
    )


def test_learning_rate_schedules() -> None:
    cosine = OptimizerConfig(kind="sgd", lr=0.03, schedule="cosine")
    assert scheduled_lr(cosine, 0, 600) == 0.03
    assert scheduled_lr(cosine, 300, 600) == pytest.approx(0.015)
    assert scheduled_lr(cosine, 599, 600) == pytest.approx(
        0.015 * (1 + math.cos(math.pi * 599 / 600))
    )
    warm = imagenet_recipe().optimizer  # its warm-up scales the cosine
    lrs = [scheduled_lr(warm, e, 250) for e in range(6)]
    assert lrs[:4] == pytest.approx([0.05, 0.10, 0.15, 0.20], rel=1e-3)
    assert lrs[4] == pytest.approx(0.25, rel=1e-3) and lrs[5] < lrs[4]
    assert drop_path_probability(0.2, 0, 600) == 0.0
    assert drop_path_probability(0.2, 300, 600) == pytest.approx(0.1)


def test_config_validation_messages() -> None:
    with pytest.raises(ValueError, match="needs an even channel count"):
        NetworkConfig(kind="imagenet", channels=47)
    with pytest.raises(ValueError, match=r"auxiliary_weight > 0 needs network\.auxiliary"):
        RetrainConfig(network=NetworkConfig(auxiliary=False))
    with pytest.raises(ValueError, match=r"lr_min \(1.0\) exceeds lr \(0.03\)"):
        RetrainConfig.model_validate({"optimizer": {"kind": "sgd", "lr": 0.03, "lr_min": 1.0}})


def test_imagenet_folders_train_with_the_imagenet_network(tmp_path: Path) -> None:
    """The ImageNet path end to end on tiny JPEG folders: decoding workers aside (0 here),
    random-resized crops, the ×8 stem, label smoothing and the warm-up schedule."""
    root = make_fake_imagenet(tmp_path / "imagenet", classes=3, images_per_class=8, size=40)
    recipe = imagenet_recipe()
    config = recipe.model_copy(
        update={
            "network": NetworkConfig(kind="imagenet", channels=4, layers=3, num_classes=3),
            "data": DataConfig(
                dataset="imagenet",
                root=root,
                imagenet={"image_size": 32, "resize": 36, "workers": 0},
            ),
            "epochs": 2,
            "batch_size": 8,
        }
    )
    data = build_retrain_data(config, torch.device("cpu"))
    assert (data.num_classes, data.in_channels, data.steps_per_epoch) == (3, 3, 3)
    images, labels = next(data.train_batches(0, torch.Generator()))
    assert labels.dtype == torch.int64 and set(labels.tolist()) <= {0, 1, 2}
    assert images.shape == (8, 3, 32, 32) and images.dtype == torch.float32
    retrain(
        published_genotype("pc_darts_image"),
        config,
        tmp_path / "run",
        data,
        progress=False,
        device="cpu",
    )
    lrs = [r["lr"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert lrs == pytest.approx([0.25 / 5, 0.25 * 2 / 5 * (1 + math.cos(math.pi / 2)) / 2])
