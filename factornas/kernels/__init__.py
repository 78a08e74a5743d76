"""Performance-critical building blocks, written with plain torch ops so they run anywhere."""

from factornas.kernels.mixed_activation import (
    ACTIVATION_NAMES,
    DEFAULT_SETTINGS,
    MixedActivationSettings,
    draw_rrelu_seed,
    fused_mixed_activation,
    grouped_mixed_activation,
    naive_mixed_activation,
    rrelu_slopes,
)

__all__ = [
    "ACTIVATION_NAMES",
    "DEFAULT_SETTINGS",
    "MixedActivationSettings",
    "draw_rrelu_seed",
    "fused_mixed_activation",
    "grouped_mixed_activation",
    "naive_mixed_activation",
    "rrelu_slopes",
]
