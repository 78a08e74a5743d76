"""Argument checks shared by every entry point, the fused kernel's and the naive reference's.

Validation is kept apart from the computation so that the fused kernel, the grouped kernel and
the reference (:mod:`.reference`) raise the same errors for the same mistakes: the tests use
the reference as an oracle for error behaviour too. The name check is cached per distinct
tuple because every edge of a supernet calls with the same few.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from torch import Tensor

from factornas.kernels.mixed_activation.settings import ACTIVATION_NAMES


@functools.lru_cache(maxsize=128)
def _checked_names(names: tuple[str, ...]) -> frozenset[str]:
    """Validate ``names`` once per distinct tuple: every edge calls with the same few tuples."""
    if not names:
        raise ValueError(
            f"names must name at least one activation; valid names: {', '.join(ACTIVATION_NAMES)}"
        )
    for name in names:
        if name not in ACTIVATION_NAMES:
            raise ValueError(
                f"unknown activation {name!r}; valid names: {', '.join(ACTIVATION_NAMES)}"
            )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"activation names must be unique, got duplicates: {duplicates}")
    return frozenset(names)


def _parse_names(names: Sequence[str], x: Tensor) -> tuple[tuple[str, ...], frozenset[str]]:
    """The checks on ``names`` and ``x`` that every entry point shares."""
    if isinstance(names, str):
        raise TypeError(f"names must be a sequence of activation names, e.g. ({names!r},)")
    ordered = tuple(names)
    present = _checked_names(ordered)
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    return ordered, present


def _check_parameters(
    present: frozenset[str],
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
    count: int,
    meaning: str,
) -> None:
    """PReLU's slope and Swish's ``b`` must be given, ``count`` values each, iff mixed in."""
    for name, param in (("prelu", prelu_weight), ("swish", swish_beta)):
        if name not in present:
            continue
        arg = "prelu_weight" if name == "prelu" else "swish_beta"
        if param is None:
            raise ValueError(f"names include {name!r}, so {arg} must be given")
        if param.numel() != count:
            raise ValueError(f"{arg} must hold {meaning}, got shape {tuple(param.shape)}")


def _validate(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
) -> tuple[tuple[str, ...], frozenset[str]]:
    """Check the arguments shared by the fused and the naive implementation.

    Both implementations run the same checks so that tests can use the naive one as an oracle
    for error behaviour too.
    """
    ordered, present = _parse_names(names, x)
    if weights.dim() != 1 or weights.shape[0] != len(ordered):
        raise ValueError(
            f"weights must be a 1-D tensor with one entry per name ({len(ordered)}), "
            f"got shape {tuple(weights.shape)}"
        )
    _check_parameters(
        present, prelu_weight, swish_beta, 1, "exactly one value (one shared parameter)"
    )
    return ordered, present


def _validate_grouped(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
) -> tuple[tuple[str, ...], frozenset[str]]:
    """:func:`_validate` for :func:`grouped_mixed_activation`: one row of weights, one PReLU
    slope and one Swish ``b`` per edge, and an input with a channel axis to group along."""
    ordered, present = _parse_names(names, x)
    if x.dim() < 2:
        raise ValueError(f"x must have shape (N, C, ...), got shape {tuple(x.shape)}")
    if weights.dim() != 2 or weights.shape[1] != len(ordered) or weights.shape[0] == 0:
        raise ValueError(
            f"weights must be a 2-D tensor (edges, names) with one column per name "
            f"({len(ordered)}) and at least one edge, got shape {tuple(weights.shape)}"
        )
    edges = weights.shape[0]
    _check_parameters(present, prelu_weight, swish_beta, edges, f"one value per edge ({edges})")
    return ordered, present
