"""Relaxations of factor groups (softmax, gumbel, dirichlet, sigmoid) and stabilizers.

Importing this package registers the built-in relaxations.
"""

from factornas.relaxations import beta, dirichlet, gumbel, sigmoid, smoothing, softmax
from factornas.relaxations.base import NoOptions, Relaxation, linear
from factornas.relaxations.registry import (
    build_relaxation,
    register_relaxation,
    relaxation_class,
    relaxation_names,
    unregister_relaxation,
)
from factornas.relaxations.stabilizer import (
    STABILIZERS,
    Adversary,
    Stabilizer,
    build_stabilizer,
    register_stabilizer,
    stabilizer_class,
)

__all__ = [
    "STABILIZERS",
    "Adversary",
    "NoOptions",
    "Relaxation",
    "Stabilizer",
    "beta",
    "build_relaxation",
    "build_stabilizer",
    "dirichlet",
    "gumbel",
    "linear",
    "register_relaxation",
    "register_stabilizer",
    "relaxation_class",
    "relaxation_names",
    "sigmoid",
    "smoothing",
    "softmax",
    "stabilizer_class",
    "unregister_relaxation",
]
