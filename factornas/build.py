"""``build_model``: an evaluation network from a genotype in one call.

Users who only want the found architecture as a ``torch.nn.Module`` (to fine-tune it, embed it
or export it) should not have to assemble a :class:`~factornas.evaluate.config.NetworkConfig`
and know where genotypes come from; this takes whatever ``factornas info --genotype`` takes.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from factornas.errors import FactorNASError, first_problem
from factornas.evaluate.config import NetworkConfig, NetworkKind
from factornas.evaluate.network import EvalNetwork, build_network
from factornas.presets.retrain import network_preset
from factornas.presets.source import load_genotype, run_images
from factornas.space.genotype import Genotype


def network_config(
    kind: NetworkKind = "cifar", inner_group: str | None = None, **settings: Any
) -> NetworkConfig:
    """The paper's ``kind`` network with ``settings`` (``NetworkConfig`` fields) applied.

    Settings given as ``None`` keep the preset's value, so callers can pass optional flags
    straight through; an invalid value is one line naming the field.
    """
    raw = network_preset(kind).model_dump()
    raw.update({k: v for k, v in settings.items() if v is not None})
    if inner_group is not None:
        raw["inner_group"] = inner_group
    try:
        return NetworkConfig.model_validate(raw)
    except ValidationError as error:
        where, message = first_problem(error, "network")
        raise FactorNASError(f"invalid network setting {where}: {message}") from None


def build_model(
    genotype: Genotype | str,
    network: NetworkKind = "cifar",
    *,
    channels: int | None = None,
    layers: int | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    auxiliary: bool = False,
    override: dict[str, str] | None = None,
    inner_group: str | None = None,
) -> EvalNetwork:
    """The evaluation network of ``genotype``, freshly initialized.

    Args:
        genotype: a :class:`Genotype`, or what ``--genotype`` accepts: a published name
            (``darts_v2``), a ``genotype.json`` or a search run directory (whose
            ``space.inner_group`` is then applied too, unless ``inner_group`` is given).
        network: ``"cifar"`` (C=36, 20 cells, 10 classes) or ``"imagenet"`` (C=48, 14 cells,
            1000 classes); ``channels``, ``layers`` and ``num_classes`` override those
            defaults.
        in_channels: the images' channels. By default those the search read, when
            ``genotype`` is a search run directory (or its ``genotype.json``): 1 for a
            Fashion-MNIST run, whose images the network then takes as they are. Otherwise 3.
        auxiliary: add DARTS's auxiliary head (only used in training mode); off by default
            because a model built for inference or export has no use for it.
        override: factor group → candidate on every edge (e.g. ``{"activation": "relu"}``).

    The model returns ``(logits, auxiliary_logits)``, as in training; auxiliary logits are
    ``None`` in eval mode.
    """
    if isinstance(genotype, str):
        source = load_genotype(genotype)
        genotype, inner_group = source.genotype, inner_group or source.inner_group
        if in_channels is None and source.run_dir is not None:
            images = run_images(source.run_dir)
            in_channels = images.channels if images is not None else None
    config = network_config(
        network,
        inner_group,
        channels=channels,
        layers=layers,
        num_classes=num_classes,
        in_channels=in_channels,
        auxiliary=auxiliary,
        override=override,
    )
    return build_network(genotype, config)
