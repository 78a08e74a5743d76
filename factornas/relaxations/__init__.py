"""Relaxations of factor groups (softmax, gumbel, dirichlet, sigmoid) and stabilizers.

Importing this package registers the built-in relaxations.
"""

from factornas.relaxations import dirichlet, gumbel, sigmoid, softmax
from factornas.relaxations.base import NoOptions, Relaxation, linear
from factornas.relaxations.registry import (
    build_relaxation,
    register_relaxation,
    relaxation_class,
    relaxation_names,
    unregister_relaxation,
)

__all__ = [
    "NoOptions",
    "Relaxation",
    "build_relaxation",
    "dirichlet",
    "gumbel",
    "linear",
    "register_relaxation",
    "relaxation_class",
    "relaxation_names",
    "sigmoid",
    "softmax",
    "unregister_relaxation",
]
