"""Search-space definitions, exact sizes, flat twins and genotypes."""

from factornas.space.config import (
    CELL_TYPES,
    CellFactors,
    CellType,
    GroupSpec,
    ResolvedFactor,
    SearchSpace,
    Topology,
)

__all__ = [
    "CELL_TYPES",
    "CellFactors",
    "CellType",
    "GroupSpec",
    "ResolvedFactor",
    "SearchSpace",
    "Topology",
]
