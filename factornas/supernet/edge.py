"""The mixed edge: Eq. 2 of the paper generalized to any number of factor groups.

For one edge with softmaxed weights ``w[g]`` per group::

    out = Σ_o w[op]_o · OUT_o( Σ_{v ∈ variants(o)} Π w[v] · o_v( IN_o(x) ) )

where ``IN_o`` chains the mixtures of the input factors attached to ``o`` (computed once per
edge and shared by every op, Figure 2), ``variants(o)`` runs over the combinations of the
variant factors attached to ``o``, and ``OUT_o`` chains the mixtures of its output factors.
The zero op contributes exactly nothing and is skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import cast

import torch
from torch import nn

from factornas.factors.base import OpContext, Placement
from factornas.factors.path import build_candidate, op_context
from factornas.space.config import CellFactors, ResolvedFactor


class WeightSlot:
    """Holds the current edge's weights of one group for modules nested inside ops.

    The inner activation of a sep_conv sits inside the op's ``nn.Sequential``, which takes a
    single tensor; the edge sets the slot just before calling its ops.
    """

    def __init__(self) -> None:
        self.value: torch.Tensor | None = None


class InnerMixture(nn.Module):
    """A mixture of one input factor used inside an op, sharing the edge's weights."""

    def __init__(self, factor: ResolvedFactor, channels: int, slot: WeightSlot) -> None:
        super().__init__()
        self.factor = factor
        self.candidates = nn.ModuleList(
            build_candidate(factor.group, c, channels) for c in factor.candidates
        )
        self.slot = slot

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.slot.value is None:
            return self.candidates[0](x)
        return self.factor.group.mix(x, self.slot.value, list(self.candidates))


def module_key(name: str) -> str:
    """ModuleDict keys may not contain dots; candidate names of flat twins contain '+'."""
    return name.replace(".", "_")


class MixedEdge(nn.Module):
    """Every candidate path of one cell edge, mixed by the edge's architecture weights."""

    def __init__(self, cell: CellFactors, channels: int, stride: int) -> None:
        super().__init__()
        self.cell = cell
        self.stride = stride
        base = OpContext(channels=channels, stride=stride, affine=False, searching=True)
        self.slots: dict[str, WeightSlot] = {}
        inner = next((f for f in cell.factors if f.name == cell.inner_group), None)
        if inner is not None:
            self.slots[inner.name] = WeightSlot()

        used_inputs: set[str] = set()
        # One entry per non-zero op: its index in the op weights, input factors, variant
        # combinations, and its modules (also registered below under their state-dict names;
        # holding them here spares forward a name lookup per op).
        self.plans: list[
            tuple[int, tuple[ResolvedFactor, ...], list[tuple], nn.ModuleList, nn.ModuleDict]
        ] = []
        self.ops = nn.ModuleDict()
        self.outputs = nn.ModuleDict()
        for index, op in enumerate(cell.op.candidates):
            if op.is_zero:
                continue
            attached = cell.attached(op)
            inputs = tuple(f for f in attached if f.group.placement is Placement.INPUT)
            variants = [f for f in attached if f.group.placement is Placement.VARIANT]
            outputs = [f for f in attached if f.group.placement is Placement.OUTPUT]
            used_inputs.update(f.name for f in inputs)

            def inner_factory(_attached: tuple[ResolvedFactor, ...] = attached) -> nn.Module:
                if inner is None or inner not in _attached:
                    return nn.ReLU(inplace=False)
                return InnerMixture(inner, channels, self.slots[inner.name])

            combos = []
            modules = nn.ModuleList()
            for combo in itertools.product(*(range(len(f.candidates)) for f in variants)):
                values = {
                    f.name: f.candidates[i].value for f, i in zip(variants, combo, strict=True)
                }
                ctx = op_context(base, values, inner_factory)
                modules.append(build_candidate(cell.op.group, op, ctx))
                combos.append(tuple((f.name, i) for f, i in zip(variants, combo, strict=True)))
            output_mixtures = nn.ModuleDict(
                {
                    f.name: nn.ModuleList(
                        build_candidate(f.group, c, channels) for c in f.candidates
                    )
                    for f in outputs
                }
            )
            self.ops[module_key(op.name)] = modules
            self.outputs[module_key(op.name)] = output_mixtures
            self.plans.append((index, inputs, combos, modules, output_mixtures))

        self.inputs = nn.ModuleDict(
            {
                f.name: nn.ModuleList(build_candidate(f.group, c, channels) for c in f.candidates)
                for f in cell.factors
                if f.name in used_inputs
            }
        )
        self._factors = {f.name: f for f in cell.factors}

    def factor(self, name: str) -> ResolvedFactor:
        """The resolved factor group ``name`` of this edge's cell."""
        return self._factors[name]

    def _mix(
        self,
        factor: ResolvedFactor,
        x: torch.Tensor,
        weights: torch.Tensor | None,
        modules: nn.Module,
    ) -> torch.Tensor:
        """``modules`` is the factor's ``nn.ModuleList`` of candidates (typed as the ``Module``
        that ``ModuleDict`` indexing yields)."""
        candidates = list(cast(nn.ModuleList, modules))
        if weights is None:  # a single-candidate factor: a fixed choice, no mixture
            return candidates[0](x)
        return factor.group.mix(x, weights, candidates)

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mix every path; ``weights`` maps each *searched* group to this edge's weights."""
        for name, slot in self.slots.items():
            slot.value = weights.get(name)
        op_weights = weights.get(self.cell.op.name)
        # One autograd node for all the per-op weights instead of one indexing node per op.
        op_scales = None if op_weights is None else op_weights.unbind()
        cache: dict[tuple[str, ...], torch.Tensor] = {}
        total: torch.Tensor | None = None
        for index, inputs, combos, modules, output_mixtures in self.plans:
            h, key = x, cast(tuple[str, ...], ())
            for factor in inputs:
                key = (*key, factor.name)
                if key not in cache:
                    cache[key] = self._mix(
                        factor, h, weights.get(factor.name), self.inputs[factor.name]
                    )
                h = cache[key]
            y = self._run_variants(h, combos, modules, weights)
            for name, mixture in output_mixtures.items():
                y = self._mix(self._factors[name], y, weights.get(name), mixture)
            if op_scales is None:
                total = y if total is None else total + y
            elif total is None:
                total = op_scales[index] * y
            else:
                # Accumulate in place into the product this edge allocated (nothing saves it):
                # one pass per op instead of a product and a sum, each a fresh tensor.
                total.addcmul_(op_scales[index], y)
        if total is None:  # every op is the zero op
            return x[:, :, :: self.stride, :: self.stride].mul(0.0)
        return total

    def _run_variants(
        self,
        h: torch.Tensor,
        combos: list[tuple],
        modules: nn.ModuleList,
        weights: Mapping[str, torch.Tensor],
    ) -> torch.Tensor:
        if len(modules) == 1:
            return modules[0](h)
        out: torch.Tensor | None = None
        for combo, module in zip(combos, modules, strict=True):
            scale: torch.Tensor | None = None
            for name, i in combo:
                w = weights.get(name)
                if w is not None:
                    scale = w[i] if scale is None else scale * w[i]
            y = module(h) if scale is None else scale * module(h)
            out = y if out is None else out + y
        assert out is not None
        return out
