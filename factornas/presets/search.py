"""Every shipped search method as a plain :class:`SearchConfig`, each its reference protocol.

A baseline preset carries the settings of its reference code's own search script, not
SearchConfig's defaults (which are A-DARTS's, paper §4.2): epochs, batch, both optimizers and
their schedules, warm-up, clipping, op set, step order and derivation. ``docs/presets.md``
lists every setting of every preset with where it comes from (a test holds the two equal);
where a preset deliberately differs from its reference, the row says why. Presets that exist
only here (the A-DARTS family beyond the paper's two, ``adarts_gdas``) inherit A-DARTS's
settings.
"""

from __future__ import annotations

from collections.abc import Callable

from factornas.data.config import ImageNetOptions
from factornas.errors import UnknownNameError
from factornas.presets.spaces import SPACE_PRESETS, space_preset
from factornas.registry import Registry
from factornas.search.config import (
    DataConfig,
    DerivationConfig,
    LevelConfig,
    OptimizerConfig,
    RelaxationSpec,
    SearchConfig,
    StabilizerSpec,
    StageConfig,
)
from factornas.space.config import SearchSpace

#: Search presets by name, each registered beside its definition.
SEARCH_PRESETS: Registry[Callable[[], SearchConfig]] = Registry(
    "search preset", unknown=UnknownNameError
)
#: quark0/darts ``cnn/train_search.py`` L24-27 and L103-104: SGD 0.025 → 0.001, cosine over
#: the run, stepped at the start of every epoch (L109), momentum 0.9, weight decay 3e-4.
DARTS_WEIGHTS = OptimizerConfig(
    kind="sgd",
    lr=0.025,
    momentum=0.9,
    weight_decay=3e-4,
    schedule="cosine",
    lr_min=0.001,
    scheduler_step="before_epoch",
)
#: quark0/darts ``cnn/architect.py`` L17-18 with ``train_search.py`` L42-43: Adam 3e-4,
#: betas (0.5, 0.999), weight decay 1e-3.
DARTS_ARCH = OptimizerConfig(kind="adam", lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)


def _darts_protocol(space: SearchSpace, **changes: object) -> SearchConfig:
    """DARTS's ``cnn/train_search.py``: 50 epochs, batch 64, C=16, 8 cells, train split 50/50,
    gradient clipping 5, the architecture stepped before the weights (L147 before L149-155),
    first order unless ``--unrolled`` (``order="second"``); ``changes`` amend it."""
    settings: dict[str, object] = {
        "space": space,
        "epochs": 50,
        "batch_size": 64,
        "weights_optimizer": DARTS_WEIGHTS,
        "arch_optimizer": DARTS_ARCH,
        "step_order": "architecture_first",
        **changes,
    }
    return SearchConfig.model_validate(settings)


@SEARCH_PRESETS.register("darts")
def darts_search() -> SearchConfig:
    """DARTS (quark0/darts ``cnn/train_search.py``, first order; ``--order second`` is its
    ``--unrolled``)."""
    return _darts_protocol(space_preset("darts"))


@SEARCH_PRESETS.register("adarts")
def adarts_search() -> SearchConfig:
    """A-DARTS on CIFAR-10 (§4.2): C=16, 8 cells, batch 64, 25 epochs, SGD 0.05 → 0.001
    cosine, momentum 0.9, wd 3e-4, clip 5; two Adams lr 6e-4, betas (0.5, 0.999), wd 1e-3;
    train split 50/50; ω stepped first (Algorithm 1). These are :class:`SearchConfig`'s
    defaults."""
    return SearchConfig(space=space_preset("adarts"))


@SEARCH_PRESETS.register("adarts_relu")
def adarts_relu_search() -> SearchConfig:
    """The paper's ReLU-only baseline (Table 2, "search with ReLU"): A-DARTS's search with the
    activation fixed to ReLU, which is DARTS's space under A-DARTS's settings."""
    return SearchConfig(space=space_preset("darts"))


@SEARCH_PRESETS.register("flat40")
def flat40_search() -> SearchConfig:
    """A-DARTS's search over its flat twin: 40 candidates under one α."""
    return SearchConfig(space=space_preset("flat40"))


@SEARCH_PRESETS.register("pc_darts")
def pc_darts_search() -> SearchConfig:
    """PC-DARTS on CIFAR-10 (yuhuixu1993/PC-DARTS ``train_search.py``): the ``pc_darts`` space
    (K=4, edge normalization), C=16, 8 cells, batch 256 (L24), 50 epochs, architecture steps
    from epoch 15 on (L156) and before the weight step; SGD 0.1 → 0 cosine stepped at the
    start of every epoch (L112-114), momentum 0.9, wd 3e-4, clip 5; Adam 6e-4, betas (0.5,
    0.999), wd 1e-3 for α and the edge weights (one level, one optimizer, as PC-DARTS); train
    split 50/50."""
    return SearchConfig(
        space=space_preset("pc_darts"),
        batch_size=256,
        epochs=50,
        arch_warmup_epochs=15,
        step_order="architecture_first",
        weights_optimizer=OptimizerConfig(
            kind="sgd",
            lr=0.1,
            momentum=0.9,
            weight_decay=3e-4,
            schedule="cosine",
            lr_min=0.0,
            scheduler_step="before_epoch",
        ),
        arch_optimizer=OptimizerConfig(kind="adam", lr=6e-4, betas=(0.5, 0.999), weight_decay=1e-3),
    )


@SEARCH_PRESETS.register("apc_darts")
def apc_darts_search() -> SearchConfig:
    """A-PC-DARTS searched directly on ImageNet (§4.3): the ``apc_darts`` space (K=2, edge
    normalization) behind PC-DARTS's ImageNet stem, C=16, 8 cells, on class-balanced 10% /
    2.5% samples of the ILSVRC2012 training folder at 224×224; 50 epochs, α and β (two Adams,
    lr 6e-3, betas (0.5, 0.999), wd 1e-3; the edge weights step with α) from epoch 15 on; SGD
    0.5 → 0 cosine after PC-DARTS's 5-epoch linear warm-up for batches above 256, momentum 0.9,
    wd 3e-5, clip 5; ω stepped first (Algorithm 1).

    The batch of 1,024 is global: under ``torchrun --nproc_per_node=8`` (the paper's 8 GPUs)
    each process takes 128 images per step; on fewer processes each takes more.
    """
    return SearchConfig(
        space=space_preset("apc_darts"),
        stem="imagenet",
        data=DataConfig(
            dataset="imagenet",
            imagenet=ImageNetOptions(train_fraction=0.1, val_fraction=0.025, image_size=224),
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
            lr_warmup_mode="replace",
        ),
        arch_optimizer=OptimizerConfig(kind="adam", lr=6e-3, betas=(0.5, 0.999), weight_decay=1e-3),
    )


@SEARCH_PRESETS.register("adarts_norm")
def adarts_norm_search() -> SearchConfig:
    """A-DARTS's CIFAR-10 search over three factors: op × activation × normalization."""
    return SearchConfig(space=space_preset("adarts_norm"))


@SEARCH_PRESETS.register("adarts_conv")
def adarts_conv_search() -> SearchConfig:
    """A-DARTS's CIFAR-10 search with convolutions factorized: four factor groups beside the op
    group (conv type, kernel size, activation, normalization)."""
    return SearchConfig(space=space_preset("adarts_conv"))


def _gumbel() -> RelaxationSpec:
    """GDAS's hard Gumbel-softmax, τ 10 → 0.1 (``NASNet-space-search-by-GDAS.sh``)."""
    return RelaxationSpec(name="gumbel", options={"tau_max": 10.0, "tau_min": 0.1})


@SEARCH_PRESETS.register("gdas")
def gdas_search() -> SearchConfig:
    """GDAS over DARTS's space (D-X-Y/AutoDL-Projects): the op group Gumbel-sampled, only the
    sampled op of each edge runs; ``configs/search-opts/GDAS-NASNet-CIFAR.config``: 250
    epochs, batch 256, SGD 0.025 → 0.001 cosine with Nesterov momentum 0.9, wd 5e-4;
    ``configs/search-archs/GDAS-NASNet-CIFAR.config``: C=16, N=2 (6 cells); Adam 3e-4,
    betas (0.5, 0.999), wd 1e-3 (``exps/NAS-Bench-201-algos/GDAS.py`` L172-177); the weights
    step first (L49-55, then L64-69); the genotype keeps each node's two strongest
    (op, input) pairs."""
    return SearchConfig(
        space=space_preset("darts"),
        layers=6,
        epochs=250,
        batch_size=256,
        weights_optimizer=OptimizerConfig(
            kind="sgd",
            lr=0.025,
            momentum=0.9,
            nesterov=True,
            weight_decay=5e-4,
            schedule="cosine",
            lr_min=0.001,
        ),
        arch_optimizer=DARTS_ARCH,
        levels=(LevelConfig(group="op", relaxation=_gumbel()),),
        derivation=DerivationConfig(rule="pairs"),
    )


def _drnas_level() -> LevelConfig:
    """DrNAS's Dirichlet op group with its default L2 regularizer on θ (``reg_type='l2'``,
    ``reg_scale`` 1e-3, ``DARTS-space/train_search.py`` L45-46), applied as the loss term
    whose gradient DrNAS's Adam weight decay adds (``architect.py`` L17-22)."""
    dirichlet = RelaxationSpec(name="dirichlet", options={"regularizer": "l2", "weight": 1e-3})
    return LevelConfig(group="op", relaxation=dirichlet)


def _drnas_protocol(**changes: object) -> SearchConfig:
    """DrNAS's ``DARTS-space/train_search.py``: seven ops (no ``none``), batch 64, SGD 0.1 → 0
    cosine (stepped after each epoch, L128/L144), momentum 0.9, wd 3e-4, clip 5; Adam 6e-4,
    betas (0.5, 0.999), no weight decay (the L2 term is the relaxation's); the architecture
    steps from epoch 10 (L182) before the weights; 50 epochs."""
    settings: dict[str, object] = {
        "space": space_preset("darts_without_none"),
        "epochs": 50,
        "batch_size": 64,
        "weights_optimizer": OptimizerConfig(
            kind="sgd", lr=0.1, momentum=0.9, weight_decay=3e-4, schedule="cosine", lr_min=0.0
        ),
        "arch_optimizer": OptimizerConfig(kind="adam", lr=6e-4, betas=(0.5, 0.999)),
        "arch_warmup_epochs": 10,
        "step_order": "architecture_first",
        "levels": (_drnas_level(),),
        **changes,
    }
    return SearchConfig.model_validate(settings)


@SEARCH_PRESETS.register("drnas")
def drnas_search() -> SearchConfig:
    """DrNAS without progressive learning: its script's settings on DARTS's supernet (C=16, 8
    cells, every channel searched)."""
    return _drnas_protocol()


@SEARCH_PRESETS.register("drnas_progressive")
def drnas_progressive_search() -> SearchConfig:
    """DrNAS with progressive learning, its ``DARTS-space/train_search.py`` as written: C=36,
    20 cells (L32-33), two stages of 25 epochs (L122), partial channels K = 6 then 4 (L43,
    L120), every edge pruned to its 4 strongest ops between them (L121, L148), and 10 warm-up
    epochs in each stage (L182 counts the stage's epochs)."""
    return _drnas_protocol(
        channels=36,
        layers=20,
        arch_warmup_epochs=0,
        stages=(
            StageConfig(epochs=25, partial_channels=6, warmup_epochs=10),
            StageConfig(epochs=25, partial_channels=4, keep_ops=4, warmup_epochs=10),
        ),
    )


@SEARCH_PRESETS.register("fair_darts")
def fair_darts_search() -> SearchConfig:
    """FairDARTS (xiaomi-automl/FairDARTS ``fairdarts/train_search.py``): seven ops (no
    ``none``), independent sigmoids starting at 0 (``model_search.py`` L125-126) and the
    zero-one loss of weight 10 over both cell types' sigmoids at once; batch 128, SGD 0.005 →
    0.001 cosine stepped at the start of every epoch (L138), momentum 0.9, wd 3e-4, clip 5, 50
    epochs; Adam 3e-3, betas (0.9, 0.999), wd 1e-3 (``architect.py`` L15-16); the
    architecture steps before the weights (L200)."""
    sigmoid = RelaxationSpec(name="sigmoid", options={"weight": 10.0})
    return SearchConfig(
        space=space_preset("darts_without_none"),
        epochs=50,
        batch_size=128,
        arch_init_std=0.0,
        weights_optimizer=OptimizerConfig(
            kind="sgd",
            lr=0.005,
            momentum=0.9,
            weight_decay=3e-4,
            schedule="cosine",
            lr_min=0.001,
            scheduler_step="before_epoch",
        ),
        arch_optimizer=OptimizerConfig(kind="adam", lr=3e-3, betas=(0.9, 0.999), weight_decay=1e-3),
        step_order="architecture_first",
        levels=(LevelConfig(group="op", relaxation=sigmoid),),
    )


def _smoothed(mode: str) -> SearchConfig:
    """SDARTS (xiangning-chen/SmoothDARTS ``sota/cnn/train_search.py``): DARTS's protocol (its
    L34-54 defaults are DARTS's), the op weights smoothed during the weight step with radius
    0.03 → 0.3 (L170)."""
    options = {"mode": mode, "epsilon_start": 0.03, "epsilon_end": 0.3}
    smoothing = StabilizerSpec(name="smoothing", options=options)
    level = LevelConfig(group="op", stabilizers=(smoothing,))
    return _darts_protocol(space_preset("darts"), levels=(level,))


@SEARCH_PRESETS.register("sdarts_rs")
def sdarts_rs_search() -> SearchConfig:
    """SDARTS-RS: uniform noise on the op weights during the weight step."""
    return _smoothed("random")


@SEARCH_PRESETS.register("sdarts_adv")
def sdarts_adv_search() -> SearchConfig:
    """SDARTS-ADV: the worst perturbation within the radius, by 7 steps of projected
    sign-gradient ascent in eval mode (``attacker/perturb.py``)."""
    return _smoothed("adversarial")


@SEARCH_PRESETS.register("beta_darts")
def beta_darts_search() -> SearchConfig:
    """β-DARTS (Sunshine-Ye/Beta-DARTS): DARTS's protocol (``sota/cnn/train_search.py``
    L34-54), plus λ·mean logsumexp(α) on the validation loss with λ = 50·epoch/100
    (``optimizers/darts/architect.py`` L55-59, L81-83)."""
    beta = StabilizerSpec(name="beta", options={"weight_per_epoch": 0.5})
    level = LevelConfig(group="op", stabilizers=(beta,))
    return _darts_protocol(space_preset("darts"), levels=(level,))


@SEARCH_PRESETS.register("adarts_gdas")
def adarts_gdas_search() -> SearchConfig:
    """A-DARTS with GDAS on the op group only: ops Gumbel-sampled (τ 10 → 0.1), activations a
    softmax, each group on its own level; A-DARTS's settings otherwise."""
    return SearchConfig(
        space=space_preset("adarts"), levels=(LevelConfig(group="op", relaxation=_gumbel()),)
    )


def search_preset(name: str) -> SearchConfig:
    """The search configuration of a named preset; an unknown name lists the presets."""
    return SEARCH_PRESETS.get(name)()


__all__ = ["SEARCH_PRESETS", "SPACE_PRESETS", "search_preset"]
