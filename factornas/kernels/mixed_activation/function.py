"""The autograd function and the public entry points of the fused kernel.

:class:`_MixedActivation` ties the pieces together: it validates nothing (the entry points
do, with :mod:`.checks`), turns the weights into coefficients (:mod:`.basis`), runs
:mod:`.forward`, saves only ``x`` and the tiny parameter tensors, and in backward runs
:mod:`.backward` and maps its dot products back onto the weights.

One edge is the grouped kernel at k = 1. :func:`fused_mixed_activation` and
:func:`grouped_mixed_activation` differ only in what they accept (one weight vector and any
input shape, 0-D and 1-D included, vs a (k, n) matrix and an ``(N, C, ...)`` input) and thus
in their argument checks and error messages; after those checks both call the same core,
:func:`_mix_edges`, with k = 1 or k. There is one forward and one backward, and the one-edge
special cases inside them (the mixture written straight into the output, σ'(x) built once and
multiplied by the gradient once) are what keeps k = 1 as fast as a dedicated kernel would be.

Why the shared core and not a literal one-line wrapper ``grouped_mixed_activation(x,
weights.unsqueeze(0), ...)``: the grouped entry point requires an ``(N, C, ...)`` input and
words its errors for a (k, n) matrix, so such a wrapper would reject the 0-D and 1-D inputs that
:func:`fused_mixed_activation` accepts and change its error messages. Speed was not the reason:
on one CPU thread the wrapper's second round of checks costs about 2 µs a call (against about
170 µs for the smallest forward measured, 540 µs forward and backward, a 2×8×4×4 input), below
what ``benchmarks/bench_mixed_activation.py`` and ``bench_grouped_mixed_activation.py`` resolve.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

from factornas.kernels.mixed_activation import rrelu
from factornas.kernels.mixed_activation.backward import _backward
from factornas.kernels.mixed_activation.basis import _basis, _coefficients, _forward_columns
from factornas.kernels.mixed_activation.checks import _validate, _validate_grouped
from factornas.kernels.mixed_activation.forward import _forward, _forward_batched
from factornas.kernels.mixed_activation.layout import _compute_dtype, _Layout
from factornas.kernels.mixed_activation.settings import (
    DEFAULT_SETTINGS,
    MixedActivationSettings,
    _Config,
)


class _DoubleBackwardGuard(torch.autograd.Function):
    """Pass gradients through unchanged, but fail loudly if anyone differentiates them.

    ``torch.autograd.function.once_differentiable`` only guards outputs when the incoming
    gradient itself requires grad; with ``create_graph=True`` and a constant incoming gradient
    it returns plain tensors, so a gradient penalty would silently treat them as constants.
    Anchoring the gradients to the inputs that require grad makes every such use reach
    :meth:`backward` and raise.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, count: int, *tensors: Tensor) -> tuple[Tensor, ...]:
        return tuple(t.clone() for t in tensors[:count])

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> tuple[None, ...]:
        raise RuntimeError(
            "fused_mixed_activation does not support double backward (its backward is not "
            "itself differentiable); use naive_mixed_activation where second derivatives are "
            "needed, or finite differences as in second-order DARTS"
        )


class _MixedActivation(torch.autograd.Function):
    """Autograd wrapper for k edges: saves ``x``, the (k, n) weights, the two (k,) parameters
    and RReLU's noise (a seed, or the ``int16`` levels drawn on the device); backward
    recomputes the rest.

    The coefficient table (a few numbers per edge) is kept on ``ctx`` rather than recomputed:
    it is derived from the saved inputs and only ever read. Half-precision inputs are
    computed in float32 (one conversion each way) and saved as they came, so the saved bytes
    stay those of ``x``.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        weights: Tensor,
        prelu_weight: Tensor | None,
        swish_beta: Tensor | None,
        config: _Config,
        layout: _Layout,
        seed: int | None,
        drawn: Tensor | None,
    ) -> Tensor:
        dtype = _compute_dtype(x.dtype)
        prelu = prelu_weight.to(dtype) if prelu_weight is not None else None
        coefficients = _coefficients(config, weights.to(dtype), prelu)
        beta = swish_beta.to(dtype) if swish_beta is not None else None
        noise = _noise(seed, drawn)
        forward = _forward_batched if layout.batched else _forward
        out = forward(layout.input(x.to(dtype)), config, coefficients, beta, noise, layout.edges)
        params = [t for t in (prelu_weight, swish_beta, drawn) if t is not None]
        ctx.save_for_backward(x, weights, *params)
        ctx.config = config  # type: ignore[attr-defined]
        ctx.layout = layout  # type: ignore[attr-defined]
        ctx.seed = seed  # type: ignore[attr-defined]
        ctx.coefficients = coefficients  # type: ignore[attr-defined]
        return layout.output(out).to(x.dtype)

    @staticmethod
    def backward(
        ctx: FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None, None, None, None, None]:
        config: _Config = ctx.config  # type: ignore[attr-defined]
        layout: _Layout = ctx.layout  # type: ignore[attr-defined]
        seed: int | None = ctx.seed  # type: ignore[attr-defined]
        c: dict[str, Tensor] = ctx.coefficients  # type: ignore[attr-defined]
        x, weights, *params = ctx.saved_tensors  # type: ignore[attr-defined]
        prelu_weight = params.pop(0) if "prelu" in config.present else None
        swish_beta = params.pop(0) if "swish" in config.present else None
        drawn = params.pop(0) if params else None
        # False for absent parameters: the public functions pass None for them.
        need_x, need_w, need_prelu, need_beta = ctx.needs_input_grad[:4]  # type: ignore[attr-defined]
        grads: list[Tensor | None] = [None, None, None, None]
        with torch.no_grad():
            dtype = _compute_dtype(x.dtype)
            prelu = prelu_weight.to(dtype) if prelu_weight is not None else None
            beta = swish_beta.to(dtype) if swish_beta is not None else None
            grad_x, sums = _backward(
                layout.edge_major(grad.to(dtype)),
                layout.flat_input(x.to(dtype)),
                config,
                c,
                beta,
                _noise(seed, drawn),
                (need_x, need_w, need_prelu, need_beta),
                layout.batched,
            )
            if grad_x is not None:
                grads[0] = layout.unflatten_input(grad_x).to(x.dtype)
            if need_w:
                columns = [sums[column] for column in _forward_columns(config)]
                if prelu is not None:
                    columns.append(sums["neg_minus_pos"] * prelu)
                to_weights = _basis(config, dtype, x.device).to_weights
                grads[1] = torch.mm(torch.stack(columns, dim=1), to_weights).to(weights.dtype)
            if prelu_weight is not None and need_prelu:
                w_prelu = weights[:, config.names.index("prelu")].to(dtype)
                grads[2] = (sums["neg_minus_pos"] * w_prelu).to(prelu_weight.dtype)
            if swish_beta is not None and need_beta:
                grads[3] = (sums["beta"] * c["swish"]).to(swish_beta.dtype)
        if torch.is_grad_enabled():  # create_graph=True: guard against double backward
            present = [g for g in grads if g is not None]
            anchors = [x, weights, *(t for t in (prelu_weight, swish_beta) if t is not None)]
            guarded = iter(_DoubleBackwardGuard.apply(len(present), *present, *anchors))
            grads = [None if g is None else next(guarded) for g in grads]
        return grads[0], grads[1], grads[2], grads[3], None, None, None, None


def _noise(seed: int | None, drawn: Tensor | None) -> rrelu.RReLUNoise | None:
    """The call's RReLU noise (None when no RReLU noise is drawn: eval mode, or no rrelu)."""
    if seed is None and drawn is None:
        return None
    return rrelu.RReLUNoise(seed, drawn)


def _mix_edges(
    x: Tensor,
    weights: Tensor,
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
    config: _Config,
    generator: torch.Generator | None,
) -> Tensor:
    """The k edges' mixtures of ``x`` for validated arguments: ``weights`` (k, n), the
    parameters k values each (or None). Shared by both entry points; k = 1 returns x's shape."""
    edges = weights.shape[0]
    noise = rrelu.draw_noise(x, edges, generator) if config.random_rrelu else None
    present = config.present
    return _MixedActivation.apply(
        x,
        weights,
        prelu_weight.reshape(edges) if prelu_weight is not None and "prelu" in present else None,
        swish_beta.reshape(edges) if swish_beta is not None and "swish" in present else None,
        config,
        _Layout.of(x, edges),
        None if noise is None else noise.seed,
        None if noise is None else noise.drawn,
    )


def grouped_mixed_activation(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    *,
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
    training: bool,
    settings: MixedActivationSettings = DEFAULT_SETTINGS,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The mixed activations of k edges that share the input ``x``, in one call.

    Cell edges that leave the same node see the same ``x`` but mix it with their own weights
    (a row of β), PReLU slope and Swish ``b``. Computing them together shares every pass that
    depends on ``x`` alone and replaces k calls' worth of small ops by one call's.

    Args:
        x: input of shape ``(N, C, ...)``, float32 or float64 (float16/bfloat16 are computed
            in float32 and returned in their own dtype); contiguous or channels-last.
        weights: ``(k, n)``; row ``e`` holds edge ``e``'s weights for ``names``;
            differentiable.
        names: a non-empty subset of :data:`ACTIVATION_NAMES`, in any order, no duplicates.
        prelu_weight: ``(k,)``, edge ``e``'s PReLU slope; required iff ``names`` includes
            ``"prelu"``, ignored otherwise; differentiable.
        swish_beta: ``(k,)``, edge ``e``'s ``b`` in ``x·sigmoid(b·x)``; required iff ``names``
            includes ``"swish"``, ignored otherwise; differentiable.
        training, settings: as for :func:`fused_mixed_activation`, shared by all edges.
        generator: source of RReLU's training-mode randomness (default: the default generator
            of x's device). For a CPU ``x`` (or a CUDA ``x`` with a CPU generator) one seed
            ``s`` is drawn per call (:func:`draw_rrelu_seed`) and edge ``e``'s levels are
            ``rrelu_levels(x, s + e)``: a single-edge call whose seed draw gives ``s + e``
            reproduces edge ``e`` exactly; backward regenerates the same levels from ``s``.
            Otherwise the k edges' levels are drawn on the device in one
            :func:`draw_rrelu_levels` call and saved (``int16``) for backward.

    Returns ``(N, k·C, ...)`` in x's dtype, where channels ``[e·C, (e+1)·C)`` are edge ``e``'s
    mixture, equal to ``fused_mixed_activation(x, weights[e], names,
    prelu_weight=prelu_weight[e:e+1], swish_beta=swish_beta[e:e+1], ...)``. For a
    channels-last 4-D ``x`` the result is channels-last (its memory is ``(N, H, W, k, C)``),
    otherwise contiguous (memory ``(N, k, C, ...)``). Gradients flow to ``x`` (summed over
    the edges), to ``weights`` (k, n), and to the (k,) parameters, each in its own input's
    dtype and shape; double backward raises, as for :func:`fused_mixed_activation`.

    Nothing is read back to the host (no device sync): the one host read, training-mode
    RReLU's seed on the host-seeded path, reads a CPU generator, and on a CUDA device the
    levels are drawn there, so a CUDA graph can capture the call.
    """
    ordered, present = _validate_grouped(x, weights, names, prelu_weight, swish_beta)
    config = _Config(ordered, present, training, settings)
    return _mix_edges(x, weights, prelu_weight, swish_beta, config, generator)


def fused_mixed_activation(
    x: Tensor,
    weights: Tensor,
    names: Sequence[str],
    *,
    prelu_weight: Tensor | None,
    swish_beta: Tensor | None,
    training: bool,
    settings: MixedActivationSettings = DEFAULT_SETTINGS,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Σ_i weights[i] · names[i](x), fused, saving only ``x`` (and tiny tensors) for backward.

    Args:
        x: input of any shape and device; float32 or float64 (float16/bfloat16 inputs are
            computed in float32 and returned in their own dtype).
        weights: one mixing weight per name (usually a softmax, but any values are correct);
            differentiable.
        names: a non-empty subset of :data:`ACTIVATION_NAMES`, in any order, no duplicates.
        prelu_weight: PReLU's single slope (shape ``(1,)`` like ``nn.PReLU()``); required iff
            ``names`` includes ``"prelu"``, ignored otherwise; differentiable.
        swish_beta: the single ``b`` of ``x·sigmoid(b·x)``; required iff ``names`` includes
            ``"swish"``, ignored otherwise; differentiable.
        training: RReLU draws fresh slopes ``~ U(settings.rrelu_lower, settings.rrelu_upper)``
            (in 2**16 even steps, :data:`RRELU_BITS`) for the elements ``x <= 0`` in training
            mode, and uses their mean in eval mode (as ``nn.RReLU``).
        settings: the activations' scalar hyper-parameters (:class:`MixedActivationSettings`;
            default ``torch.nn``'s).
        generator: source of RReLU's training-mode randomness (default: the default generator
            of x's device): a seed per call on the CPU (:func:`draw_rrelu_seed`), the levels
            themselves on a CUDA device (:func:`draw_rrelu_levels`); see
            :func:`grouped_mixed_activation`.

    Returns the mixed activation, same shape, dtype and memory format as ``x``. Gradients are
    exact for ``x``, ``weights``, ``prelu_weight`` and ``swish_beta``, with torch's
    subgradient conventions at the kinks. Double backward is not supported: differentiating
    the gradients (``create_graph=True`` followed by another backward) raises.

    This is :func:`grouped_mixed_activation` for one edge (the same core, :func:`_mix_edges`),
    so it reads nothing back to the host either (no device sync): the weights and scalars
    reach the element-wise passes as device tensors.
    """
    ordered, present = _validate(x, weights, names, prelu_weight, swish_beta)
    config = _Config(ordered, present, training, settings)
    return _mix_edges(x, weights.unsqueeze(0), prelu_weight, swish_beta, config, generator)
