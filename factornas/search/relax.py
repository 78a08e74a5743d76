"""Installing a search config's per-level relaxations and stabilizers on a supernet."""

from __future__ import annotations

from factornas.relaxations.groups import GroupRelaxation
from factornas.relaxations.registry import build_relaxation
from factornas.relaxations.stabilizer import build_stabilizer
from factornas.search.config import SearchConfig
from factornas.supernet.network import SearchNetwork


def apply_relaxations(network: SearchNetwork, config: SearchConfig) -> None:
    """Give every searched group the relaxation (and stabilizers) its level names."""
    arch = network.arch
    for level in config.level_configs(arch.group_names()):
        spec = level.relaxation
        arch.relaxations.set(
            level.group,
            GroupRelaxation(
                build_relaxation(spec.name, spec.options),
                [build_stabilizer(s.name, s.options) for s in level.stabilizers],
            ),
        )
    arch.relaxations.set_epoch(0, config.epochs)
