"""The forward pass: σ(x) of k edges from ``x`` and the edges' coefficients.

Two formulations of the same sum, chosen by :func:`.layout._batched`: :func:`_forward` builds
each edge's mixture in an input-sized buffer that stays in cache (what a CPU wants, and the
only way at k = 1), :func:`_forward_batched` accumulates every term into the whole k-edge
output with a fixed number of ops per call (what a launch-bound accelerator wants). Both read
the coefficients of :mod:`.basis` as device tensors and the RReLU noise of :mod:`.rrelu`; the
autograd function (:mod:`.function`) saves only ``x``, so :mod:`.backward` recomputes what it
needs rather than keeping anything from here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from factornas.kernels.mixed_activation.layout import _Scratch
from factornas.kernels.mixed_activation.rrelu import RReLUNoise
from factornas.kernels.mixed_activation.settings import _Config


def _forward_batched(
    x: Tensor,
    config: _Config,
    c: dict[str, Tensor],
    beta: Tensor | None,
    noise: RReLUNoise | None,
    edges: int,
) -> Tensor:
    """σ(x) of every edge as ``(pre, k, post)`` with whole-output ops: each term is a basis of
    ``x`` (``(pre, 1, post)``, or per edge ``(pre, k, post)``) times its ``(1, k, 1)``
    coefficients, accumulated into the output."""
    out: Tensor | None = None

    def add(term: Tensor, column: str) -> None:
        nonlocal out
        coefficient = c[column].view(1, edges, 1)
        out = term * coefficient if out is None else out.addcmul_(term, coefficient)

    neg = None
    if config.has_linear or config.has_exp or config.has_celu_exp:
        neg = torch.clamp_max(x, 0)
    if config.has_linear:
        assert neg is not None
        add(x, "pos")
        add(neg, "neg_minus_pos")
        if noise is not None:
            add(noise.edge_levels(x, edges).permute(1, 0, 2).mul_(neg), "noise")
    if "relu6" in config.present:
        add(torch.clamp(x, 0, 6), "relu6")
    if "swish" in config.present:
        assert beta is not None
        add(torch.mul(x, beta.view(1, edges, 1)).sigmoid_().mul_(x), "swish")
    if config.has_celu_exp:
        assert neg is not None
        add(torch.mul(neg, 1.0 / config.settings.celu_alpha).expm1_(), "celu")
    if config.has_exp:
        assert neg is not None
        add(neg.expm1_(), "exp")
    assert out is not None
    return out


def _forward(
    x: Tensor,
    config: _Config,
    c: dict[str, Tensor],
    beta: Tensor | None,
    noise: RReLUNoise | None,
    edges: int,
) -> Tensor:
    """σ(x) of every edge as ``(pre, k, post)``, from ``x`` as ``(pre, 1, post)``.

    The bases that depend on ``x`` alone (``n = min(x, 0)``, ``clamp(x, 0, 6)``, the
    ``expm1``s) are computed once, on first use. Each edge's mixture is then built in an
    input-sized buffer (:func:`_mix_edge`) and written to its block of the output once: on CPU
    that buffer stays in cache, whereas full-size multiply-adds with (k, 1) coefficients stream
    the whole output through memory once per term and cost more than the k-fold op count
    saves. With one edge the buffer is the output itself.
    """
    pre, _, post = x.shape
    scratch = _Scratch(x)
    out = scratch.take((pre, edges, post))
    neg = None
    if config.has_linear or config.has_exp or config.has_celu_exp:
        neg = torch.clamp_max(x, 0, out=scratch.take(x.shape))
    shared: dict[str, Tensor] = {}

    def basis(name: str) -> Tensor:
        """A shared basis, computed on first use; with one edge, ``expm1(n)`` is computed in
        place of ``n``, whose last use comes before it."""
        if name not in shared:
            if name == "relu6":
                shared[name] = torch.clamp(x, 0, 6, out=scratch.take(x.shape))
            else:
                assert neg is not None
                if name == "celu":
                    inverse = 1.0 / config.settings.celu_alpha
                    scaled = torch.mul(neg, inverse, out=scratch.take(x.shape))
                    shared[name] = scaled.expm1_()
                elif edges == 1:
                    shared[name] = neg.expm1_()
                else:
                    shared[name] = torch.expm1(neg, out=scratch.take(x.shape))
        return shared[name]

    mix = out if edges == 1 else scratch.take(x.shape)
    for edge in range(edges):
        block = out[:, edge : edge + 1] if edges > 1 else out
        _mix_edge(block, mix, x, neg, basis, config, c, edge, beta, noise, scratch)
    return out


def _mix_edge(
    block: Tensor,
    mix: Tensor,
    x: Tensor,
    neg: Tensor | None,
    basis: Callable[[str], Tensor],
    config: _Config,
    c: dict[str, Tensor],
    edge: int,
    beta: Tensor | None,
    noise: RReLUNoise | None,
    scratch: _Scratch,
) -> None:
    """Edge ``edge``'s σ(x) into its output ``block``, built in the x-sized buffer ``mix``
    (which may be the block itself), with the edge's RReLU levels from ``noise``.
    The last term's op writes the block, so a strided block is written once and never read.

    Tensor coefficients cannot ride along in ``addcmul_(value=…)`` as Python scalars did, so
    swish and the noise are folded into slopes, ``x·(pos + swish·s)`` and ``(neg - pos +
    noise·L)·n``, built with ``mul_``/``add_``: an op with two broadcast coefficients
    (``addcmul(pos, s, swish)``) falls off torch's vectorized CPU loop and costs several
    passes.
    """
    terms = sum(
        (
            "swish" in config.present or config.has_linear,  # x·(pos + swish·s), or pos·x
            config.has_linear,  # the slope on x <= 0
            "relu6" in config.present,
            config.has_celu_exp,
            config.has_exp,
        )
    )
    written = 0

    def target() -> Tensor:
        """Where the next term's op writes: the block for the last term, else mix."""
        nonlocal written
        written += 1
        return block if written == terms else mix

    def add(term: Tensor, coefficient: Tensor) -> None:
        """mix += coefficient·term (the first term sets mix)."""
        if written:
            torch.addcmul(mix, term, coefficient, out=target())
        else:
            torch.mul(term, coefficient, out=target())

    def coefficient(column: str) -> Tensor:
        return c[column][edge]

    if "swish" in config.present:
        assert beta is not None
        torch.mul(x, beta[edge], out=mix).sigmoid_()
        torch.mul(mix.mul_(coefficient("swish")).add_(coefficient("pos")), x, out=target())
    elif config.has_linear:
        add(x, coefficient("pos"))
    if config.has_linear:
        assert neg is not None
        if noise is None:
            add(neg, coefficient("neg_minus_pos"))
        else:
            # RReLU's random part joins the constant slope: (neg - pos + noise·L)·n.
            slope = scratch.take(x.shape)
            noise.fill(slope, edge)
            add(slope.mul_(coefficient("noise")).add_(coefficient("neg_minus_pos")), neg)
            scratch.give(slope)
    if "relu6" in config.present:
        add(basis("relu6"), coefficient("relu6"))
    if config.has_celu_exp:
        add(basis("celu"), coefficient("celu"))
    if config.has_exp:
        add(basis("exp"), coefficient("exp"))
