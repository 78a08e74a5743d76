"""What a mixed-activation call is, apart from its tensors.

The activations a call mixes, whether it trains, and the activations' scalar hyper-parameters
(RReLU's bounds, LeakyReLU's slope, ELU's and CELU's alphas) are fixed for the lifetime of one
autograd graph and decide which terms the kernel computes. They live here, in one place, so that
the public entry points take one settings object instead of five loose floats, and so that the
basis (:mod:`.basis`), the passes (:mod:`.forward`, :mod:`.backward`) and the reference
(:mod:`.reference`) all read them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from factornas.kernels.mixed_activation.rrelu import RRELU_BITS

#: The paper's nine activations in canonical order (the order of the architecture weights β).
ACTIVATION_NAMES: tuple[str, ...] = (
    "relu",
    "relu6",
    "leaky_relu",
    "prelu",
    "rrelu",
    "elu",
    "celu",
    "selu",
    "swish",
)

# Activations that are ``x`` for ``x > 0`` (selu is ``SELU_SCALE · x``), so their weights add
# up into one positive-side slope.
_LINEAR_FOR_POSITIVE = ("relu", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu")

_FIELDS = ("rrelu_lower", "rrelu_upper", "leaky_slope", "elu_alpha", "celu_alpha")


@dataclass(frozen=True)
class MixedActivationSettings:
    """The activations' scalar hyper-parameters, shared by every edge of a call.

    The defaults are ``torch.nn``'s (``nn.RReLU()``, ``nn.LeakyReLU()``, ``nn.ELU()``,
    ``nn.CELU()``). Values are stored as Python floats. Settings are hashable: the kernel caches
    its constant matrices per distinct settings (and names, dtype, device).

    Attributes:
        rrelu_lower, rrelu_upper: RReLU's slope on ``x <= 0`` is drawn from
            ``U(rrelu_lower, rrelu_upper)`` in training mode (in 2**16 even steps,
            :data:`RRELU_BITS`) and is their mean in eval mode, as ``nn.RReLU``.
        leaky_slope: LeakyReLU's ``negative_slope``.
        elu_alpha: ELU's ``alpha``.
        celu_alpha: CELU's ``alpha``; at 1 CELU shares ELU/SELU's ``expm1`` pass.
    """

    rrelu_lower: float = 1.0 / 8.0
    rrelu_upper: float = 1.0 / 3.0
    leaky_slope: float = 0.01
    elu_alpha: float = 1.0
    celu_alpha: float = 1.0

    def __post_init__(self) -> None:
        for name in _FIELDS:  # ints, numpy or 0-D tensor scalars become plain floats
            value = getattr(self, name)
            if type(value) is not float:
                object.__setattr__(self, name, float(value))

    @property
    def rrelu_mean(self) -> float:
        """RReLU's eval-mode slope, and the constant part of its training-mode one."""
        return 0.5 * (self.rrelu_lower + self.rrelu_upper)

    @property
    def rrelu_step(self) -> float:
        """Slope difference between consecutive RReLU levels."""
        return (self.rrelu_upper - self.rrelu_lower) * 2.0**-RRELU_BITS

    @property
    def celu_shares_exp(self) -> bool:
        """CELU's ``exp(x / alpha)`` is ELU/SELU's ``exp(x)`` exactly when alpha is 1."""
        return self.celu_alpha == 1.0


#: The settings every entry point uses unless given others: ``torch.nn``'s defaults.
DEFAULT_SETTINGS = MixedActivationSettings()


@dataclass(frozen=True)
class _Config:
    """Everything about a call that is not a tensor; fixed for the lifetime of one graph."""

    names: tuple[str, ...]
    present: frozenset[str]
    training: bool
    settings: MixedActivationSettings

    @property
    def random_rrelu(self) -> bool:
        return self.training and "rrelu" in self.present

    @property
    def has_linear(self) -> bool:
        return not self.present.isdisjoint(_LINEAR_FOR_POSITIVE)

    @property
    def has_exp(self) -> bool:
        shared = ("elu", "selu", "celu") if self.settings.celu_shares_exp else ("elu", "selu")
        return not self.present.isdisjoint(shared)

    @property
    def has_celu_exp(self) -> bool:
        return "celu" in self.present and not self.settings.celu_shares_exp
