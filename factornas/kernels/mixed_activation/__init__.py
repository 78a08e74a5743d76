"""Fused mixed activation σ(x) = Σ_a w_a · a(x) of an A-DARTS edge, alone or for a group of edges.

Every cell edge of the A-DARTS search space mixes up to nine activations once and feeds the
result to all of its convolutions. Done eagerly (nine module calls plus a weighted sum) that
costs about as much CPU time as the convolutions themselves and keeps roughly nine tensors of
the input's size alive per edge until backward. This package computes the same function with
a handful of element-wise passes and saves only the input:

* the five piecewise-linear activations (relu, relu6, leaky_relu, prelu, rrelu) collapse into
  one slope for ``x > 0``, one slope for ``x <= 0`` and a ``min(x, 6)`` term;
* elu, selu and (for ``celu_alpha == 1``) celu share a single ``expm1(min(x, 0))``;
* backward recomputes everything from ``x`` instead of storing intermediates, and derives the
  nine weight gradients from a few dot products of the output gradient with shared basis
  tensors.

The edges that leave one cell node all read the same input, so :func:`grouped_mixed_activation`
mixes k of them in one call: the basis tensors that depend on ``x`` alone (``min(x, 0)``, its
``expm1``, ``clamp(x, 0, 6)``) are computed once for all edges, only the weighted sums (and
swish and RReLU's noise, which differ per edge) are per edge, and backward takes the output
gradient through a few matrix-vector products instead of k sets of passes.
:func:`fused_mixed_activation` is the same machinery with k = 1.

Nothing is read back to the host: the weights and the PReLU/Swish parameters become a small
device tensor of per-edge coefficients (one matrix product) that the element-wise passes take
as tensor operands, and the weight gradients are dot products combined by another small matrix
product. On an accelerator a search step therefore never waits for the device here.

RReLU's training-mode slopes come, on the CPU, from a private generator seeded with one integer
drawn from the caller's CPU generator (the one host read, no device sync); backward re-seeds an
identical generator and regenerates the very same slopes, so no noise tensor is stored (see
:func:`draw_rrelu_seed` and :func:`rrelu_levels`). On a CUDA device they are drawn there
(:func:`draw_rrelu_levels`) and saved as ``int16`` for backward: nothing is read on the host,
and a CUDA graph can capture the call and draws fresh noise on every replay.

The package has one module per job, each importable on its own:

* :mod:`.settings` — the activation names, :class:`MixedActivationSettings` (the activations'
  scalar hyper-parameters) and the non-tensor description of a call;
* :mod:`.checks` — argument validation shared by the kernel and the reference;
* :mod:`.rrelu` — RReLU's noise: host-seeded and regenerable, or drawn on the device;
* :mod:`.basis` — the basis σ(x) is written in and the per-edge coefficients;
* :mod:`.layout` — memory order, working dtype, scratch buffers, edge-by-edge vs whole-output;
* :mod:`.forward`, :mod:`.backward` — the element-wise passes;
* :mod:`.function` — the autograd function and the public entry points;
* :mod:`.reference` — :func:`naive_mixed_activation`, the test oracle.

This module re-exports the public names. To replace the RReLU seed draw or the noise (tests
do), patch :mod:`.rrelu`'s ``draw_rrelu_seed``, ``draw_rrelu_levels`` or ``_draw_levels``; to
run the device-drawn noise on a CPU, its ``_draws_on_device``; to force a way of mixing k
edges, patch :mod:`.layout`'s ``_batched``: the passes look them up there.
"""

from factornas.kernels.mixed_activation.basis import SELU_ALPHA, SELU_SCALE
from factornas.kernels.mixed_activation.function import (
    fused_mixed_activation,
    grouped_mixed_activation,
)
from factornas.kernels.mixed_activation.reference import naive_mixed_activation
from factornas.kernels.mixed_activation.rrelu import (
    RRELU_BITS,
    RReLUNoise,
    draw_rrelu_levels,
    draw_rrelu_seed,
    rrelu_levels,
    rrelu_slopes,
)
from factornas.kernels.mixed_activation.settings import (
    ACTIVATION_NAMES,
    DEFAULT_SETTINGS,
    MixedActivationSettings,
)

__all__ = [
    "ACTIVATION_NAMES",
    "DEFAULT_SETTINGS",
    "RRELU_BITS",
    "SELU_ALPHA",
    "SELU_SCALE",
    "MixedActivationSettings",
    "RReLUNoise",
    "draw_rrelu_levels",
    "draw_rrelu_seed",
    "fused_mixed_activation",
    "grouped_mixed_activation",
    "naive_mixed_activation",
    "rrelu_levels",
    "rrelu_slopes",
]
