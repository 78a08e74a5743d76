"""The backward pass: the gradients of k edges' σ(x), recomputed from the saved ``x``.

Nothing of the forward pass is kept: the bases (``min(x, 0)``, the ``expm1`` terms, the masks
at the kinks, swish's sigmoid, RReLU's host-seeded noise) are recomputed here from ``x``, and
the output gradient is taken through them once (RReLU's levels drawn on a device are the one
thing forward saved besides ``x``). The result is the input's gradient and a few
per-edge dot products, one per coefficient column of :mod:`.basis`, which the autograd function
(:mod:`.function`) turns into the weights' and parameters' gradients with one small matrix
product. Edge by edge (CPU) or with whole-output ops (an accelerator), as in :mod:`.forward`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from factornas.kernels.mixed_activation.layout import _Scratch
from factornas.kernels.mixed_activation.rrelu import RReLUNoise
from factornas.kernels.mixed_activation.settings import _Config


def _backward(
    grad: Tensor,
    x: Tensor,
    config: _Config,
    c: dict[str, Tensor],
    beta: Tensor | None,
    noise: RReLUNoise | None,
    need: tuple[bool, bool, bool, bool],
    batched: bool = False,
) -> tuple[Tensor | None, dict[str, Tensor]]:
    """The input's gradient and the per-edge dot products that the parameters' gradients are
    made of, recomputed from ``x`` (1, m) for the edge-major ``grad`` (k, m).

    σ_e'(x) is ``base_e + (pos_e - base_e)·[x>0] + relu6_e·[0<x<6] + exp_e·expm1(n) +
    celu_slope_e·expm1(n/celu_alpha)`` plus the per-edge terms (RReLU noise on ``x <= 0``,
    swish's derivative), with ``n = min(x, 0)``. All but the per-edge terms are a function of
    ``x`` times an edge's coefficient, so in ``grad_x = Σ_e grad_e·σ_e'(x)`` the gradient
    enters each of them once, as the coefficient-weighted sum ``Σ_e coef_e·grad_e`` (a
    matrix-vector product), and the rest runs at x's size; the per-edge terms are computed
    edge by edge at x's size and multiplied by that edge's gradient row. One edge instead
    builds σ'(x) and multiplies it by the gradient once, which takes fewer passes. The dot
    products with the shared bases are one matrix-vector product each. The masks use aten's
    ``threshold_backward``/``hardtanh_backward``: single passes with exactly torch's
    conventions at the kinks (ReLU and ReLU6 have slope 0 at 0 and 6; the slopes of the
    negative side apply at ``x == 0``). The returned sums, one (k,) tensor each, are keyed by
    the coefficient column they are the gradient of, plus ``"beta"`` for Swish's
    ``Σ grad·x²·s·(1 - s)``.
    """
    need_x, need_w, need_prelu, need_beta = need
    scratch = _Scratch(x)
    sums: dict[str, Tensor] = {}
    # Σ_e grad_e·(per-edge terms of σ_e'), built edge by edge at x's size. One edge applies
    # its gradient once at the end instead (see below), so its terms are summed bare.
    single = grad.shape[0] == 1
    per_edge: Tensor | None = None

    def collect(term: Tensor, row: Tensor) -> Tensor | None:
        """per_edge += term·row; returns ``term``'s buffer if it is free afterwards, None if
        it became per_edge."""
        nonlocal per_edge
        if per_edge is None:
            per_edge = term if single else term.mul_(row)
            return None
        if single:
            per_edge.add_(term)
        else:
            per_edge.addcmul_(term, row)
        return term

    needs_neg = (
        noise is not None
        or config.has_exp
        or config.has_celu_exp
        or need_prelu
        or (need_w and config.has_linear)
    )
    neg = torch.clamp_max(x, 0, out=scratch.take(x.shape)) if needs_neg else None
    if need_w and config.has_linear:
        sums["pos"] = torch.mv(grad, x[0])
    if neg is not None and (need_prelu or (need_w and config.has_linear)):
        sums["neg_minus_pos"] = torch.mv(grad, neg[0])
    if need_w and "relu6" in config.present:
        clamped = torch.clamp(x, 0, 6, out=scratch.take(x.shape))
        sums["relu6"] = torch.mv(grad, clamped[0])
        scratch.give(clamped)
    if batched and "swish" in config.present and (need_x or need_w or need_beta):
        # All edges at once, as (k, m) rows.
        assert beta is not None
        s_all = torch.mul(x, beta.unsqueeze(1)).sigmoid_()
        t_all = torch.mul(x, s_all)  # x·σ(bx)
        if need_w:
            sums["swish"] = torch.mul(grad, t_all).sum(1)
        u_all = t_all.addcmul_(t_all, s_all, value=-1.0)  # x·s·(1 - s)
        if need_x:
            slope_all = s_all.addcmul_(u_all, beta.unsqueeze(1))
            per_edge = torch.mv(slope_all.mul_(grad).T, c["swish"]).unsqueeze(0)
        if need_beta:
            sums["beta"] = torch.mul(grad, u_all.mul_(x)).sum(1)
    elif "swish" in config.present and (need_x or need_w or need_beta):
        # Edge by edge in input-sized buffers, as in forward.
        assert beta is not None
        s: Tensor | None = None
        t = scratch.take(x.shape)
        swish_dots, beta_dots = [], []
        for edge, row in enumerate(grad):
            s = torch.mul(x, beta[edge], out=s if s is not None else scratch.take(x.shape))
            s.sigmoid_()
            torch.mul(x, s, out=t)  # x·σ(bx)
            if need_w:
                swish_dots.append(torch.dot(row, t[0]))
            u = t.addcmul_(t, s, value=-1.0)  # x·s·(1 - s)
            if need_x:  # ∂/∂x x·σ(bx) = s + b·x·s·(1 - s)
                slope = s.addcmul_(u, beta[edge]).mul_(c["swish"][edge])
                if collect(slope, row) is None:  # s became per_edge
                    s = None
            if need_beta:  # ∂/∂b x·σ(bx) = x²·s·(1 - s)
                beta_dots.append(torch.dot(row, u.mul_(x)[0]))
        if need_w:
            sums["swish"] = torch.stack(swish_dots)
        if need_beta:
            sums["beta"] = torch.stack(beta_dots)
        for buffer in (s, t):
            if buffer is not None:
                scratch.give(buffer)
    if batched and noise is not None:
        # All edges at once, as (k, m) rows: the levels apply on x <= 0 only.
        assert neg is not None
        levels_all = noise.edge_levels(x.view(1, 1, -1), grad.shape[0]).view(grad.shape)
        if need_w:
            sums["noise"] = torch.mul(grad, levels_all).mul_(neg).sum(1)
        if need_x:
            levels_all.masked_fill_(x > 0, 0.0).mul_(grad)
            random = torch.mv(levels_all.T, c["noise"]).unsqueeze(0)
            per_edge = random if per_edge is None else per_edge.add_(random)
    elif noise is not None:
        # Edge by edge in input-sized buffers, as in forward.
        assert neg is not None
        levels = scratch.take(x.shape)
        noise_dots = []
        for edge, row in enumerate(grad):
            noise.fill(levels, edge)
            if need_w:
                product = torch.mul(levels, neg, out=scratch.take(x.shape))
                noise_dots.append(torch.dot(row, product[0]))
                scratch.give(product)
            if need_x:
                # The levels apply on x <= 0 only: zero them elsewhere.
                above = torch.ops.aten.threshold_backward.grad_input(
                    levels, x, 0, grad_input=scratch.take(x.shape)
                )
                if collect(levels.sub_(above).mul_(c["noise"][edge]), row) is None:
                    levels = above  # the levels became per_edge
                else:
                    scratch.give(above)
        if need_w:
            sums["noise"] = torch.stack(noise_dots)
        scratch.give(levels)
    em1c = em1 = None
    if config.has_celu_exp and (need_w or need_x):
        assert neg is not None
        em1c = torch.mul(neg, 1.0 / config.settings.celu_alpha, out=scratch.take(x.shape)).expm1_()
        if need_w:
            sums["celu"] = torch.mv(grad, em1c[0])
    if config.has_exp and (need_w or need_x):
        assert neg is not None
        em1 = neg.expm1_()
        if need_w:
            sums["exp"] = torch.mv(grad, em1[0])
    if not need_x:
        return None, sums

    jumps = config.has_linear or config.has_exp or config.has_celu_exp
    if single:
        # σ'(x) at x's size, multiplied by the gradient once.
        field = per_edge
        for term, column in ((em1, "exp"), (em1c, "celu_slope")):
            if term is not None:
                field = term.mul_(c[column]) if field is None else field.addcmul_(term, c[column])
        if field is None:
            grad_x = torch.mul(grad, c["base"], out=scratch.take(x.shape))
        else:
            grad_x = field.add_(c["base"]).mul_(grad)
        if jumps:
            above = torch.ops.aten.threshold_backward.grad_input(
                grad, x, 0, grad_input=scratch.take(x.shape)
            )
            grad_x.addcmul_(above, c["pos_minus_base"])
            scratch.give(above)
        if "relu6" in config.present:
            inside = torch.ops.aten.hardtanh_backward.grad_input(
                grad, x, 0, 6, grad_input=scratch.take(x.shape)
            )
            grad_x.addcmul_(inside, c["relu6"])
        return grad_x, sums

    def weighted(column: str) -> Tensor:
        """Σ_e c[column]_e·grad_e, as (1, m)."""
        total = scratch.take(x.shape)
        torch.mv(grad.T, c[column], out=total[0])
        return total

    # Several edges: the gradient enters each shared term once, weighted over the edges.
    grad_x = weighted("base")
    if jumps:
        jump = weighted("pos_minus_base")
        grad_x.add_(torch.ops.aten.threshold_backward.grad_input(jump, x, 0, grad_input=jump))
        scratch.give(jump)
    if "relu6" in config.present:
        inside = weighted("relu6")
        grad_x.add_(torch.ops.aten.hardtanh_backward.grad_input(inside, x, 0, 6, grad_input=inside))
        scratch.give(inside)
    for term, column in ((em1, "exp"), (em1c, "celu_slope")):
        if term is not None:
            slope = weighted(column)
            grad_x.addcmul_(term, slope)
            scratch.give(slope)
    if per_edge is not None:
        grad_x.add_(per_edge)
    return grad_x, sums
