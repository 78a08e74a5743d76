"""Run k structurally identical modules, one per edge, as one batched call.

The edges leaving one node of a search cell all see the same input and hold modules of the
same shapes (one set per edge, so each edge keeps its own weights and state-dict names). Run
one edge at a time, a step launches every operator once per edge and op; on a GPU that is
launch-bound (docs/performance.md). Here the k edges' modules run together on an
*edge-stacked* tensor ``(N, k·C, H, W)`` whose channel block ``e`` is edge ``e``'s:

* a convolution becomes one convolution with ``k``× the groups over the concatenated weights
  (a dense conv of a shared input one conv with ``k``× the output channels);
* a batch norm becomes one batch norm over the ``k·C`` channels. BN is per channel, so its
  statistics are those of the separate BNs; the running buffers of the k modules are rebound
  as views of one buffer that the batched call updates (:func:`grouped_buffers`);
* an input shared by every edge stays one tensor through parameter-free element-wise ops and
  pools (:class:`Edges` ``shared``), so ``relu(x)`` and ``max_pool(x)`` run once per node,
  and is replicated only when a per-edge weight first touches it.

Any module without a rule here runs edge by edge on its block (:func:`per_edge`): correct for
every module, just not batched. Rules check that the k modules agree in every setting and fall
back to that path when they do not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from factornas.factors.activations import Swish
from factornas.factors.convs import BareDilConv, BareSepConv
from factornas.factors.ops import DilConv, FactorizedReduce, ReLUConvBN, SepConv


@dataclass
class Edges:
    """The input or output of k edges: one tensor every edge shares, or k stacked blocks.

    ``data`` is ``(N, C, ...)`` when ``shared`` (every edge sees it) and ``(N, k·C, ...)``
    otherwise, edge ``e`` holding channels ``[e·C, (e+1)·C)``.
    """

    data: Tensor
    count: int
    shared: bool
    _replicated: Tensor | None = field(default=None, repr=False)

    @property
    def channels(self) -> int:
        """Channels per edge."""
        return self.data.shape[1] if self.shared else self.data.shape[1] // self.count

    def stacked(self) -> Tensor:
        """The ``(N, k·C, ...)`` form; a shared tensor is replicated once and remembered."""
        if not self.shared:
            return self.data
        if self._replicated is None:
            self._replicated = replicate(self.data, self.count)
        return self._replicated

    def block(self, edge: int) -> Tensor:
        """Edge ``edge``'s ``(N, C, ...)`` input."""
        if self.shared:
            return self.data
        c = self.channels
        return self.data[:, edge * c : (edge + 1) * c]

    def split(self) -> Tensor:
        """The ``(N, k, C, ...)`` view (shared data broadcast along the edge axis)."""
        if self.shared:
            return self.data.unsqueeze(1)
        return self.data.unflatten(1, (self.count, self.channels))


def replicate(x: Tensor, count: int) -> Tensor:
    """``x`` repeated ``count`` times along channels, in ``x``'s memory format."""
    if (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    ):
        n, c, h, w = x.shape
        nhwc = x.permute(0, 2, 3, 1).unsqueeze(3).expand(n, h, w, count, c)
        return nhwc.reshape(n, h, w, count * c).permute(0, 3, 1, 2)
    expanded = x.unsqueeze(1).expand(x.shape[0], count, *x.shape[1:])
    return expanded.reshape(x.shape[0], count * x.shape[1], *x.shape[2:])


def per_edge(modules: Sequence[nn.Module], x: Edges) -> Edges:
    """The fallback: each edge's module on its own block, outputs concatenated."""
    outputs = [module(x.block(e)) for e, module in enumerate(modules)]
    return Edges(torch.cat(outputs, dim=1), x.count, shared=False)


Rule = Callable[[Sequence[Any], Edges], Edges]
#: Batched execution per exact module type (a subclass may compute anything: no rule).
RULES: dict[type, Rule] = {}


def run_stacked(modules: Sequence[nn.Module], x: Edges) -> Edges:
    """The k modules (one per edge, same type) applied to their edges' inputs."""
    first = modules[0]
    rule = RULES.get(type(first))
    if rule is None or any(type(m) is not type(first) for m in modules):
        return per_edge(modules, x)
    return rule(modules, x)


def _same(modules: Sequence[nn.Module], *names: str) -> bool:
    first = modules[0]
    return all(getattr(m, n) == getattr(first, n) for m in modules[1:] for n in names)


class _ConcatParameters(torch.autograd.Function):
    """``torch.cat`` along dim 0 whose backward hands each input its gradient block through
    one ``split_with_sizes``: autograd's own ``CatBackward`` takes a ``narrow`` (three
    operator calls) per input, and every batched conv concatenates k weights."""

    @staticmethod
    def forward(ctx: Any, *tensors: Tensor) -> Tensor:
        ctx.sizes = [t.shape[0] for t in tensors]
        return torch.cat(tensors)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, ...]:
        return tuple(grad.split_with_sizes(ctx.sizes))


def _cat(tensors: Sequence[Tensor]) -> Tensor:
    """The k edges' parameters as one tensor (each edge keeps its own parameter)."""
    if len(tensors) == 1:
        return tensors[0]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return cast(Tensor, _ConcatParameters.apply(*tensors))
    return torch.cat(list(tensors))


#: Ops whose forward is ``self.op(x)`` with ``op`` an ``nn.Sequential`` (DARTS's conv ops and
#: preprocessing).
WRAPPED_OPS: tuple[type, ...] = (SepConv, DilConv, BareSepConv, BareDilConv, ReLUConvBN)


def layers(module: nn.Module) -> list[nn.Module]:
    """``module`` as the chain of modules it applies in order (itself if not a chain)."""
    if type(module) is nn.Sequential:
        return list(module)
    if type(module) in WRAPPED_OPS:
        return list(cast(nn.Sequential, module.op))
    return [module]


def run_layers(chains: Sequence[Sequence[nn.Module]], x: Edges) -> Edges:
    """Per edge a chain of modules (equal lengths), applied layer by layer."""
    for depth in range(len(chains[0])):
        x = run_stacked([chain[depth] for chain in chains], x)
    return x


def _chain(modules: Sequence[nn.Module], x: Edges) -> Edges:
    chains = [layers(m) for m in modules]
    if any(len(c) != len(chains[0]) for c in chains):
        return per_edge(modules, x)
    return run_layers(chains, x)


def _conv(modules: Sequence[nn.Conv2d], x: Edges) -> Edges:
    first = modules[0]
    if first.padding_mode != "zeros" or not all(
        m.stride == first.stride
        and m.padding == first.padding
        and m.dilation == first.dilation
        and m.groups == first.groups
        and m.weight.shape == first.weight.shape
        and (m.bias is None) == (first.bias is None)
        for m in modules
    ):
        return per_edge(modules, x)
    weight = _cat([m.weight for m in modules])
    bias = None if first.bias is None else _cat([cast(Tensor, m.bias) for m in modules])
    if x.shared and first.groups == 1:
        # A dense conv of one shared input: the k convs are one conv with k× the outputs.
        out = F.conv2d(x.data, weight, bias, first.stride, first.padding, first.dilation, 1)
    else:
        groups = first.groups * x.count
        data = x.stacked()
        out = F.conv2d(data, weight, bias, first.stride, first.padding, first.dilation, groups)
    return Edges(out, x.count, shared=False)


def grouped_buffers(modules: Sequence[nn.Module], name: str) -> Tensor:
    """One tensor whose consecutive slices *are* the modules' buffers ``name``.

    The first call concatenates the buffers and rebinds every module's buffer as a view of the
    result, so a batched op that updates the grouped tensor in place (BN's running statistics)
    updates each module's own buffer, and the state dict keeps one entry per module. Moving or
    copying a module replaces its buffers; the next call then sees a stale binding and rebinds.
    """
    first = modules[0]
    cache: dict[str, tuple[Tensor, list[Tensor]]] = first.__dict__.setdefault(
        "_factornas_grouped", {}
    )
    current = [cast(Tensor, m._buffers[name]) for m in modules]
    bound = cache.get(name)
    if (
        bound is not None
        and len(bound[1]) == len(current)
        and all(a is b for a, b in zip(bound[1], current, strict=True))
    ):
        return bound[0]
    if current[0].dim() == 0:
        grouped = torch.stack(current)
        views = list(grouped.unbind())
    else:
        grouped = torch.cat(current)
        views = list(grouped.split([t.shape[0] for t in current]))
    for module, view in zip(modules, views, strict=True):
        module._buffers[name] = view
    cache[name] = (grouped, views)
    return grouped


def norm_settings(module: nn.Module) -> tuple | None:
    """What batch norms must share to run as one call over concatenated channels (their
    channel counts may differ); None for a module that is no such batch norm. A cumulative
    average (momentum None) needs each module's own batch count, so it runs on its own."""
    if type(module) is not nn.BatchNorm2d or module.momentum is None:
        return None
    return (module.eps, module.momentum, module.affine, module.track_running_stats, module.training)


def _batch_norm(modules: Sequence[nn.BatchNorm2d], x: Edges) -> Edges:
    settings = norm_settings(modules[0])
    if settings is None or any(
        norm_settings(m) != settings or m.num_features != modules[0].num_features for m in modules
    ):
        return per_edge(modules, x)
    return Edges(batch_norm(modules, x.stacked()), x.count, shared=False)


def batch_norm(modules: Sequence[nn.BatchNorm2d], data: Tensor) -> Tensor:
    """Batch norms of equal :func:`norm_settings` as one call; ``data``'s channels are the
    modules' channels in order."""
    first = modules[0]
    tracking = first.track_running_stats
    if first.training and tracking:
        grouped_buffers(modules, "num_batches_tracked").add_(1)
    mean = grouped_buffers(modules, "running_mean") if tracking else None
    var = grouped_buffers(modules, "running_var") if tracking else None
    weight = _cat([m.weight for m in modules]) if first.affine else None
    bias = _cat([m.bias for m in modules]) if first.affine else None
    use_batch = first.training or not tracking
    momentum = cast(float, first.momentum)  # never None here (see norm_settings)
    return F.batch_norm(data, mean, var, weight, bias, use_batch, momentum, first.eps)


def _group_norm(modules: Sequence[nn.GroupNorm], x: Edges) -> Edges:
    first = modules[0]
    if not _same(modules, "num_groups", "num_channels", "eps", "affine"):
        return per_edge(modules, x)
    weight = _cat([m.weight for m in modules]) if first.affine else None
    bias = _cat([m.bias for m in modules]) if first.affine else None
    groups = first.num_groups * x.count  # a norm group never spans two edges
    out = F.group_norm(x.stacked(), groups, weight, bias, first.eps)
    return Edges(out, x.count, shared=False)


def _parameter_free(modules: Sequence[nn.Module], x: Edges) -> Edges:
    """Element-wise ops and pools without parameters: once on the whole tensor, and a shared
    input stays shared (the k edges would compute k identical copies)."""
    first = modules[0]
    if any(m.extra_repr() != first.extra_repr() for m in modules[1:]):
        return per_edge(modules, x)
    return Edges(first(x.data), x.count, x.shared)


def _channel_vector(values: Sequence[Tensor], channels: int) -> Tensor:
    """One scalar per edge, repeated over that edge's channels: shape ``(k·C,)``."""
    return torch.stack([v.reshape(()) for v in values]).repeat_interleave(channels)


def _prelu(modules: Sequence[nn.PReLU], x: Edges) -> Edges:
    if any(m.num_parameters != 1 for m in modules):
        return per_edge(modules, x)
    slopes = _channel_vector([m.weight for m in modules], x.channels)
    return Edges(F.prelu(x.stacked(), slopes), x.count, shared=False)


def _swish(modules: Sequence[Swish], x: Edges) -> Edges:
    data = x.stacked()
    shape = (1, data.shape[1]) + (1,) * (data.dim() - 2)
    beta = _channel_vector([m.beta for m in modules], x.channels).view(shape)
    return Edges(data * torch.sigmoid(beta * data), x.count, shared=False)


def _factorized_reduce(modules: Sequence[FactorizedReduce], x: Edges) -> Edges:
    """ReLU and the even/odd sampling once, each half's k 1×1 convs as one conv, then the k
    edges' halves interleaved back into edge-major order for one batched BN."""
    relu = run_stacked([m.relu for m in modules], x)
    even = Edges(relu.data[:, :, ::2, ::2], x.count, relu.shared)
    odd = Edges(relu.data[:, :, 1::2, 1::2], x.count, relu.shared)
    halves = [
        run_stacked([m.conv_1 for m in modules], even).split(),
        run_stacked([m.conv_2 for m in modules], odd).split(),
    ]
    joined = torch.cat(halves, dim=2).flatten(1, 2)
    if x.data.is_contiguous(memory_format=torch.channels_last) and joined.dim() == 4:
        joined = joined.contiguous(memory_format=torch.channels_last)
    return run_stacked([m.bn for m in modules], Edges(joined, x.count, shared=False))


RULES.update(dict.fromkeys((nn.Sequential, *WRAPPED_OPS), _chain))
RULES.update(
    {
        nn.Conv2d: _conv,
        nn.BatchNorm2d: _batch_norm,
        nn.GroupNorm: _group_norm,
        nn.PReLU: _prelu,
        Swish: _swish,
        FactorizedReduce: _factorized_reduce,
    }
)
RULES.update(
    dict.fromkeys(
        (
            nn.Identity,
            nn.ReLU,
            nn.ReLU6,
            nn.LeakyReLU,
            nn.ELU,
            nn.CELU,
            nn.SELU,
            nn.GELU,
            nn.SiLU,
            nn.Sigmoid,
            nn.Tanh,
            nn.Hardswish,
            nn.Hardtanh,
            nn.Mish,
            nn.MaxPool2d,
            nn.AvgPool2d,
        ),
        _parameter_free,
    )
)
