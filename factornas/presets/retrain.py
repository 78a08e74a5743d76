"""The paper's retraining recipes (CIFAR-10 §4.2, ImageNet §4.3) as plain config objects.

Where the paper's text is ambiguous (the CIFAR "dropout rate of 0.4", the ImageNet learning
rate of "0.25" that "rises linearly to 0.5"), docs/evaluation.md records what is chosen here
and why.
"""

from __future__ import annotations

from collections.abc import Callable

from factornas.data.config import DataConfig
from factornas.errors import UnknownNameError
from factornas.evaluate.config import NetworkConfig, NetworkKind, RetrainConfig
from factornas.registry import Registry
from factornas.runtime.optimizers import OptimizerConfig

#: Retraining recipes by name, each registered beside its definition.
RETRAIN_RECIPES: Registry[Callable[[], RetrainConfig]] = Registry(
    "recipe", unknown=UnknownNameError
)


def network_preset(kind: NetworkKind) -> NetworkConfig:
    """The paper's evaluation networks: CIFAR C=36 × 20 cells, ImageNet C=48 × 14 cells."""
    if kind == "cifar":
        return NetworkConfig(kind="cifar", channels=36, layers=20, num_classes=10)
    return NetworkConfig(kind="imagenet", channels=48, layers=14, num_classes=1000)


@RETRAIN_RECIPES.register("cifar10")
def cifar10_recipe() -> RetrainConfig:
    """600 epochs, batch 128, SGD 0.03 cosine to 0, momentum 0.9, wd 3e-4, clip 5, cutout 16,
    drop path 0.2 (DARTS's default; see docs), auxiliary weight 0.4."""
    return RetrainConfig(
        network=network_preset("cifar"),
        data=DataConfig(dataset="cifar10", crop_padding=4, flip=True, cutout=16),
        epochs=600,
        batch_size=128,
        optimizer=OptimizerConfig(
            kind="sgd", lr=0.03, momentum=0.9, weight_decay=3e-4, schedule="cosine", lr_min=0.0
        ),
        grad_clip=5.0,
        drop_path=0.2,
        auxiliary_weight=0.4,
        label_smoothing=0.0,
    )


@RETRAIN_RECIPES.register("imagenet")
def imagenet_recipe() -> RetrainConfig:
    """250 epochs, batch 512, SGD peak 0.25 after a 5-epoch linear warm-up then cosine to 0,
    momentum 0.9, wd 3e-5, label smoothing 0.1, auxiliary weight 0.2, clip 5, no drop path."""
    return RetrainConfig(
        network=network_preset("imagenet"),
        data=DataConfig(dataset="imagenet", crop_padding=0, flip=True, cutout=0),
        epochs=250,
        batch_size=512,
        optimizer=OptimizerConfig(
            kind="sgd",
            lr=0.25,
            momentum=0.9,
            weight_decay=3e-5,
            schedule="cosine",
            lr_min=0.0,
            lr_warmup_epochs=5,
            lr_warmup_mode="scale",  # PC-DARTS's ImageNet training scales the cosine
        ),
        grad_clip=5.0,
        drop_path=0.0,
        auxiliary_weight=0.2,
        label_smoothing=0.1,
    )


def retrain_recipe(name: str) -> RetrainConfig:
    """The recipe ``name``; an unknown name lists the recipes."""
    return RETRAIN_RECIPES.get(name)()
