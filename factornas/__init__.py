"""factornas: differentiable NAS over factorized search spaces.

The op set of every cell edge is a Cartesian product of factor groups (working ops ×
activations × …), each with its own architecture weights (Wang et al., "Scalable NAS with
Factorizable Architectural Parameters").

The names below are the stable public API (``docs/api.md``): a script needs nothing deeper.
"""

# First, before anything imports torch: OpenMP reads its wait policy when torch loads it.
from factornas.runtime import wait_policy  # noqa: F401  (sets it, for the command line)

# isort: split
from factornas.build import build_model
from factornas.data import DataConfig, DatasetSpec, register_dataset
from factornas.errors import FactorNASError, GenotypeError, RegistryError, SpaceError
from factornas.evaluate.config import NetworkConfig, RetrainConfig
from factornas.evaluate.train import RetrainResult, run_retrain
from factornas.factors import (
    Candidate,
    FactorGroup,
    OpContext,
    Placement,
    get_group,
    register_group,
    registry,
)
from factornas.presets.retrain import retrain_recipe
from factornas.presets.search import search_preset
from factornas.presets.source import load_genotype
from factornas.presets.spaces import space_preset
from factornas.relaxations import Relaxation, Stabilizer, register_relaxation, register_stabilizer
from factornas.runtime.optimizers import OptimizerConfig
from factornas.search.config import LevelConfig, RelaxationSpec, SearchConfig, StabilizerSpec
from factornas.search.loop import SearchResult, build_network, run_search
from factornas.search.optimizer import MultiLevelOptimizer
from factornas.space import GroupSpec, SearchSpace, Topology
from factornas.space.derive import derive_genotype, has_skip_connect
from factornas.space.genotype import (
    CellGenotype,
    EdgeChoice,
    Genotype,
    darts_factor_defaults,
    node_name,
    parse_darts_genotype,
)
from factornas.space.size import arch_parameter_count, space_size
from factornas.supernet.network import SearchNetwork

__version__ = "0.1.0"

__all__ = [
    "Candidate",
    "CellGenotype",
    "DataConfig",
    "DatasetSpec",
    "EdgeChoice",
    "FactorGroup",
    "FactorNASError",
    "Genotype",
    "GenotypeError",
    "GroupSpec",
    "LevelConfig",
    "MultiLevelOptimizer",
    "NetworkConfig",
    "OpContext",
    "OptimizerConfig",
    "Placement",
    "RegistryError",
    "Relaxation",
    "RelaxationSpec",
    "RetrainConfig",
    "RetrainResult",
    "SearchConfig",
    "SearchNetwork",
    "SearchResult",
    "SearchSpace",
    "SpaceError",
    "Stabilizer",
    "StabilizerSpec",
    "Topology",
    "arch_parameter_count",
    "build_model",
    "build_network",
    "darts_factor_defaults",
    "derive_genotype",
    "get_group",
    "has_skip_connect",
    "load_genotype",
    "node_name",
    "parse_darts_genotype",
    "register_dataset",
    "register_group",
    "register_relaxation",
    "register_stabilizer",
    "registry",
    "retrain_recipe",
    "run_retrain",
    "run_search",
    "search_preset",
    "space_preset",
    "space_size",
]
