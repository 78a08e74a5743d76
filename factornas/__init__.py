"""factornas: differentiable NAS over factorized search spaces.

The op set of every cell edge is a Cartesian product of factor groups (working ops ×
activations × …), each with its own architecture weights (Wang et al., "Scalable NAS with
Factorizable Architectural Parameters").
"""

from factornas.build import build_model
from factornas.errors import FactorNASError, GenotypeError, RegistryError, SpaceError
from factornas.factors import (
    Candidate,
    FactorGroup,
    OpContext,
    Placement,
    get_group,
    register_group,
    registry,
)
from factornas.relaxations import Relaxation, register_relaxation
from factornas.space import GroupSpec, SearchSpace, Topology
from factornas.space.derive import derive_genotype, has_skip_connect
from factornas.space.genotype import (
    CellGenotype,
    EdgeChoice,
    Genotype,
    darts_factor_defaults,
    parse_darts_genotype,
)
from factornas.space.size import arch_parameter_count, space_size
from factornas.supernet.network import SearchNetwork

__version__ = "0.1.0"

__all__ = [
    "Candidate",
    "CellGenotype",
    "EdgeChoice",
    "FactorGroup",
    "FactorNASError",
    "Genotype",
    "GenotypeError",
    "GroupSpec",
    "OpContext",
    "Placement",
    "RegistryError",
    "Relaxation",
    "SearchNetwork",
    "SearchSpace",
    "SpaceError",
    "Topology",
    "arch_parameter_count",
    "build_model",
    "darts_factor_defaults",
    "derive_genotype",
    "get_group",
    "has_skip_connect",
    "parse_darts_genotype",
    "register_group",
    "register_relaxation",
    "registry",
    "space_size",
]
