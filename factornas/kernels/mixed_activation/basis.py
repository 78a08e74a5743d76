"""The basis σ(x) is written in, and the per-edge coefficients of it.

The nine activations are not computed one by one: σ(x) is rewritten as a few shared functions
of ``x`` (``x``, ``min(x, 0)``, ``clamp(x, 0, 6)``, ``expm1`` terms, swish's ``x·sigmoid(b·x)``
and RReLU's noise) times coefficients that are linear in the mixing weights. This module owns
that rewrite: which columns there are (:data:`_FORWARD_COLUMNS`, :data:`_COLUMNS`), which a
configuration uses (:func:`_forward_columns`), what one unit of each activation's weight
contributes (:func:`_unit_columns`), the constant matrices between weights and coefficients
(:func:`_basis`, cached per configuration) and the coefficients themselves
(:func:`_coefficients`, one small matrix product on the device, nothing read back to the host).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from factornas.kernels.mixed_activation.settings import _LINEAR_FOR_POSITIVE, _Config

# torch.nn.SELU's constants (Klambauer et al., 2017), to the precision torch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

#: The coefficients that σ(x) is written in, one value per edge each. With ``n = min(x, 0)``,
#: ``L`` the RReLU levels of :func:`rrelu_levels` (training mode only) and ``s = sigmoid(b·x)``:
#:
#: ``σ(x) = pos·x + neg_minus_pos·n + noise·L·n + relu6·clamp(x, 0, 6) + swish·x·s
#: + celu·expm1(n / celu_alpha) + exp·expm1(n)``
#:
#: ``pos``/``neg`` are the slopes of the piecewise-linear part for ``x > 0`` / ``x <= 0`` (the
#: constant part of RReLU's random slope, its mean, is folded into ``neg`` in both modes). The
#: form ``pos·x + (neg - pos)·n`` needs no separate ``max(x, 0)`` pass; its rounding error is
#: that of ``pos·x``, a few ulp of the largest term.
_FORWARD_COLUMNS = ("pos", "neg_minus_pos", "noise", "relu6", "swish", "celu", "exp")

#: Backward's extra coefficients: ``base`` is the constant part of σ's slope on ``x <= 0``
#: (``neg`` plus the ``exp`` terms' ``+1`` from ``d expm1(n)/dx = expm1(n) + 1``),
#: ``pos_minus_base`` the jump at 0, and ``celu_slope`` CELU's weight, the coefficient of its
#: derivative ``expm1(n / celu_alpha) + 1``.
_COLUMNS = (*_FORWARD_COLUMNS, "base", "pos_minus_base", "celu_slope")


def _forward_columns(config: _Config) -> tuple[str, ...]:
    """The coefficient columns that the forward formula uses for ``config``, in
    :data:`_FORWARD_COLUMNS` order; backward needs one dot product for each of them."""
    used = {
        "pos": config.has_linear,
        "neg_minus_pos": config.has_linear,
        "noise": config.random_rrelu,
        "relu6": "relu6" in config.present,
        "swish": "swish" in config.present,
        "celu": config.has_celu_exp,
        "exp": config.has_exp,
    }
    return tuple(column for column in _FORWARD_COLUMNS if used[column])


def _unit_columns(name: str, config: _Config) -> list[float]:
    """The coefficients (in :data:`_COLUMNS` order) of one unit of ``name``'s weight.

    ``"prelu"`` here is only its positive side; its slope enters through the product
    ``prelu_weight · w_prelu`` (see :func:`_prelu_columns`).
    """
    settings = config.settings
    pos = neg = exp = celu = celu_slope = relu6 = noise = swish = 0.0
    if name in _LINEAR_FOR_POSITIVE:
        pos = SELU_SCALE if name == "selu" else 1.0
    if name == "leaky_relu":
        neg = settings.leaky_slope
    elif name == "rrelu":
        neg = settings.rrelu_mean
        noise = settings.rrelu_step if config.training else 0.0
    elif name == "elu":
        exp = settings.elu_alpha
    elif name == "selu":
        exp = SELU_SCALE * SELU_ALPHA
    elif name == "celu" and settings.celu_shares_exp:
        exp = settings.celu_alpha
    elif name == "celu":
        celu, celu_slope = settings.celu_alpha, 1.0
    elif name == "relu6":
        relu6 = 1.0
    elif name == "swish":
        swish = 1.0
    base = neg + exp + celu_slope
    return [pos, neg - pos, noise, relu6, swish, celu, exp, base, pos - base, celu_slope]


def _prelu_columns() -> list[float]:
    """The coefficients of one unit of ``prelu_weight · w_prelu``: a slope for ``x <= 0``."""
    columns = dict.fromkeys(_COLUMNS, 0.0)
    columns.update(neg_minus_pos=1.0, base=1.0, pos_minus_base=-1.0)
    return list(columns.values())


@dataclass(frozen=True)
class _Basis:
    """The constant matrices between the mixing weights and the coefficients of one config.

    With ``W`` the (k, n) weights, extended by the column ``prelu_weight · w_prelu`` when
    PReLU is mixed in, the coefficients are ``to_columns @ Wᵀ`` (one row per :data:`_COLUMNS`
    entry, one column per edge). Backward runs it in reverse: with ``G`` the (k, j) gradients of
    the loss with respect to the config's forward columns, extended by the PReLU product's
    (``G_neg_minus_pos · prelu_weight``), ``∂L/∂W = G @ to_weights``.
    """

    to_columns: Tensor
    to_weights: Tensor


@functools.lru_cache(maxsize=128)
def _basis(config: _Config, dtype: torch.dtype, device: torch.device) -> _Basis:
    """Built once per configuration, dtype and device: every step reuses the same few."""
    rows = [_unit_columns(name, config) for name in config.names]
    if "prelu" in config.present:
        rows.append(_prelu_columns())
    to_columns = torch.tensor(rows, dtype=dtype, device=device).T.contiguous()
    forward = [[row[_COLUMNS.index(c)] for row in rows[: len(config.names)]]
               for c in _forward_columns(config)]  # fmt: skip
    if "prelu" in config.present:
        prelu = config.names.index("prelu")
        forward.append([1.0 if i == prelu else 0.0 for i in range(len(config.names))])
    return _Basis(to_columns, torch.tensor(forward, dtype=dtype, device=device))


def _coefficients(
    config: _Config, weights: Tensor, prelu_weight: Tensor | None
) -> dict[str, Tensor]:
    """Every edge's coefficients, one (k,) tensor per :data:`_COLUMNS` entry.

    ``weights`` is (k, n) and ``prelu_weight`` (k,), both in the compute dtype. A handful of
    tiny ops, all on the device: the point is that nothing here is read back to the host.
    """
    if prelu_weight is not None:
        prelu = config.names.index("prelu")
        product = weights[:, prelu : prelu + 1] * prelu_weight.unsqueeze(1)
        weights = torch.cat((weights, product), dim=1)
    to_columns = _basis(config, weights.dtype, weights.device).to_columns
    return dict(zip(_COLUMNS, torch.mm(to_columns, weights.T).unbind(0), strict=True))
