"""The paper's search configurations as plain :class:`SearchConfig` objects."""

from __future__ import annotations

from collections.abc import Callable

from factornas.errors import UnknownNameError
from factornas.presets.spaces import SPACE_PRESETS, space_preset
from factornas.search.config import (
    DataConfig,
    LevelConfig,
    OptimizerConfig,
    RelaxationSpec,
    SearchConfig,
)


def adarts_search() -> SearchConfig:
    """A-DARTS on CIFAR-10 (§4.2): C=16, 8 cells, batch 64, 25 epochs, SGD 0.05 → 0.001
    cosine, momentum 0.9, wd 3e-4, clip 5; two Adams lr 6e-4, betas (0.5, 0.999), wd 1e-3;
    train split 50/50 into train/val. These are :class:`SearchConfig`'s defaults."""
    return SearchConfig(space=space_preset("adarts"))


def darts_search() -> SearchConfig:
    """The same search over DARTS's space (ReLU only): the paper's ReLU baseline (Table 2)."""
    return SearchConfig(space=space_preset("darts"))


def flat40_search() -> SearchConfig:
    """The same search over A-DARTS's flat twin: 40 candidates under one α."""
    return SearchConfig(space=space_preset("flat40"))


def pc_darts_search() -> SearchConfig:
    """PC-DARTS on CIFAR-10, as its ``train_search.py``: the ``pc_darts`` space (K=4, edge
    normalization), C=16, 8 cells, batch 256, 50 epochs, architecture steps from epoch 15 on;
    SGD 0.1 → 0 cosine, momentum 0.9, wd 3e-4, clip 5; Adam 6e-4, betas (0.5, 0.999), wd 1e-3
    for α and the edge weights (one level, one optimizer, as PC-DARTS); train split 50/50."""
    return SearchConfig(
        space=space_preset("pc_darts"),
        batch_size=256,
        epochs=50,
        arch_warmup_epochs=15,
        weights_optimizer=OptimizerConfig(
            kind="sgd", lr=0.1, momentum=0.9, weight_decay=3e-4, schedule="cosine", lr_min=0.0
        ),
        arch_optimizer=OptimizerConfig(kind="adam", lr=6e-4, betas=(0.5, 0.999), weight_decay=1e-3),
    )


def apc_darts_search() -> SearchConfig:
    """A-PC-DARTS searched directly on ImageNet (§4.3): the ``apc_darts`` space (K=2, edge
    normalization) behind PC-DARTS's ImageNet stem, C=16, 8 cells, on class-balanced 10% /
    2.5% samples of the ILSVRC2012 training folder at 224×224; 50 epochs, α and β (two Adams,
    lr 6e-3, betas (0.5, 0.999), wd 1e-3; the edge weights step with α) from epoch 15 on; SGD
    0.5 → 0 cosine after PC-DARTS's 5-epoch linear warm-up for batches above 256, momentum 0.9,
    wd 3e-5, clip 5.

    The batch of 1,024 is global: under ``torchrun --nproc_per_node=8`` (the paper's 8 GPUs)
    each process takes 128 images per step; on fewer processes each takes more.
    """
    return SearchConfig(
        space=space_preset("apc_darts"),
        stem="imagenet",
        data=DataConfig(
            dataset="imagenet",
            imagenet_train_fraction=0.1,
            imagenet_val_fraction=0.025,
            imagenet_image=224,
        ),
        batch_size=1024,
        epochs=50,
        arch_warmup_epochs=15,
        weights_optimizer=OptimizerConfig(
            kind="sgd",
            lr=0.5,
            momentum=0.9,
            weight_decay=3e-5,
            schedule="cosine",
            lr_min=0.0,
            lr_warmup_epochs=5,  # PC-DARTS's ImageNet search warms up batches above 256
        ),
        arch_optimizer=OptimizerConfig(kind="adam", lr=6e-3, betas=(0.5, 0.999), weight_decay=1e-3),
    )


def adarts_norm_search() -> SearchConfig:
    """A-DARTS's CIFAR-10 search over three factors: op × activation × normalization."""
    return SearchConfig(space=space_preset("adarts_norm"))


def adarts_conv_search() -> SearchConfig:
    """A-DARTS's CIFAR-10 search with convolutions factorized: four factor groups beside the op
    group (conv type, kernel size, activation, normalization)."""
    return SearchConfig(space=space_preset("adarts_conv"))


def _relaxed(space: str, **levels: LevelConfig) -> SearchConfig:
    """DARTS's CIFAR-10 search over ``space`` with the given per-group levels."""
    return SearchConfig(space=space_preset(space), levels=tuple(levels.values()))


def gdas_search() -> SearchConfig:
    """GDAS over DARTS's space: the op group Gumbel-sampled (hard, straight-through), τ annealed
    linearly 10 → 0.1; only the sampled op of each edge runs. Otherwise DARTS's settings."""
    gumbel = RelaxationSpec(name="gumbel", options={"tau_max": 10.0, "tau_min": 0.1})
    return _relaxed("darts", op=LevelConfig(group="op", relaxation=gumbel))


def drnas_search() -> SearchConfig:
    """DrNAS over DARTS's space: Dirichlet-sampled op weights (concentration elu(θ)+1), the KL
    to a Dirichlet(1) prior with weight 1e-3. Otherwise DARTS's settings."""
    dirichlet = RelaxationSpec(
        name="dirichlet", options={"regularizer": "kl", "weight": 1e-3, "prior": 1.0}
    )
    return _relaxed("darts", op=LevelConfig(group="op", relaxation=dirichlet))


def fair_darts_search() -> SearchConfig:
    """FairDARTS over DARTS's space: independent sigmoids and the zero-one loss (weight 10)."""
    sigmoid = RelaxationSpec(name="sigmoid", options={"weight": 10.0})
    return _relaxed("darts", op=LevelConfig(group="op", relaxation=sigmoid))


def sdarts_rs_search() -> SearchConfig:
    """SDARTS-RS over DARTS's space: uniform noise on the op weights during the weight step,
    radius 0.03 → 0.3 linearly."""
    smoothing = {"epsilon_start": 0.03, "epsilon_end": 0.3}
    return _relaxed("darts", op=LevelConfig.model_validate({"group": "op", "smoothing": smoothing}))


def beta_darts_search() -> SearchConfig:
    """β-DARTS over DARTS's space: λ·mean logsumexp(α) on the validation loss, λ 0 → 50."""
    beta = {"weight_start": 0.0, "weight_end": 50.0}
    return _relaxed("darts", op=LevelConfig.model_validate({"group": "op", "beta": beta}))


def adarts_gdas_search() -> SearchConfig:
    """A-DARTS with GDAS on the op group only: ops Gumbel-sampled (τ 10 → 0.1), activations a
    softmax, each group on its own level."""
    gumbel = RelaxationSpec(name="gumbel", options={"tau_max": 10.0, "tau_min": 0.1})
    return _relaxed("adarts", op=LevelConfig(group="op", relaxation=gumbel))


SEARCH_PRESETS: dict[str, Callable[[], SearchConfig]] = {
    "darts": darts_search,
    "adarts": adarts_search,
    "flat40": flat40_search,
    "pc_darts": pc_darts_search,
    "apc_darts": apc_darts_search,
    "adarts_norm": adarts_norm_search,
    "adarts_conv": adarts_conv_search,
    "gdas": gdas_search,
    "drnas": drnas_search,
    "fair_darts": fair_darts_search,
    "sdarts_rs": sdarts_rs_search,
    "beta_darts": beta_darts_search,
    "adarts_gdas": adarts_gdas_search,
}


def search_preset(name: str) -> SearchConfig:
    """The search configuration of a named preset; an unknown name lists the presets."""
    try:
        return SEARCH_PRESETS[name]()
    except KeyError:
        raise UnknownNameError(
            f"unknown search preset {name!r}; choose one of: {', '.join(SEARCH_PRESETS)}"
        ) from None


__all__ = ["SEARCH_PRESETS", "SPACE_PRESETS", "search_preset"]
