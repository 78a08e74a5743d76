"""Factor groups: the axes of a factorized operator choice, and their registry."""

from factornas.factors.base import Candidate, FactorGroup, OpContext, Placement
from factornas.factors.mixed_activation import ActivationGroup
from factornas.factors.registry import (
    FactorRegistry,
    activation_group,
    darts_op_group,
    get_group,
    register_group,
    registry,
)

__all__ = [
    "ActivationGroup",
    "Candidate",
    "FactorGroup",
    "FactorRegistry",
    "OpContext",
    "Placement",
    "activation_group",
    "darts_op_group",
    "get_group",
    "register_group",
    "registry",
]
