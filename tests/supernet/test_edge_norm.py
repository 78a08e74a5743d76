"""Edge normalization: one weight per edge, softmaxed per node, scaling outputs and strength."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from factornas.presets.spaces import space_preset
from factornas.search.loop import edge_scales_record
from factornas.space import SearchSpace
from factornas.space.derive import derive_genotype
from factornas.space.size import arch_parameter_count
from factornas.supernet.network import SearchNetwork

NODE_EDGES = [(0, 2), (2, 5), (5, 9), (9, 14)]  # node i has i + 2 incoming edges


def _tiny(space: SearchSpace) -> SearchNetwork:
    return SearchNetwork(space, channels=4, layers=3)


def _set_edge_norm(net: SearchNetwork) -> dict[str, torch.Tensor]:
    """Distinct hand-set logits per cell type, so a mixed-up cell type would show."""
    logits = {
        "normal": torch.linspace(-1.0, 1.5, 14),
        "reduce": torch.linspace(2.0, -0.5, 14),
    }
    with torch.no_grad():
        for cell_type, value in logits.items():
            net.arch.edge_norm[cell_type].copy_(value)
    return logits


def test_weights_are_softmaxed_over_each_nodes_inputs(pc_darts: SearchSpace) -> None:
    net = _tiny(pc_darts)
    logits = _set_edge_norm(net)
    scales = net.edge_scales()
    assert scales is not None and set(scales) == {"normal", "reduce"}
    for cell_type, value in logits.items():
        for start, end in NODE_EDGES:
            exp = value[start:end].exp()
            torch.testing.assert_close(scales[cell_type][start:end], exp / exp.sum())


def test_edge_outputs_are_scaled_in_every_cell(pc_darts: SearchSpace) -> None:
    """Each node is Σ scale[e] · edge_e(input): recompose cell outputs from recorded edges."""
    net = _tiny(pc_darts)
    _set_edge_norm(net)
    net.eval()
    edge_out: dict[tuple[int, int], torch.Tensor] = {}
    cell_out: dict[int, torch.Tensor] = {}
    for c, cell in enumerate(net.cells):
        # Edge by edge, so that each edge's own output can be recorded (grouped execution
        # computes the same cell: tests/supernet/test_grouped_execution.py).
        cell.grouped = False
        cell.register_forward_hook(lambda _m, _a, out, c=c: cell_out.__setitem__(c, out))
        for e, edge in enumerate(cell.edges):
            edge.register_forward_hook(
                lambda _m, _a, out, c=c, e=e: edge_out.__setitem__((c, e), out)
            )
    with torch.no_grad():
        net(torch.randn(2, 3, 8, 8))
        scales = net.edge_scales()
    assert scales is not None
    for c, cell in enumerate(net.cells):
        scale = scales[cell.cell_type]
        nodes = [
            sum(scale[e] * edge_out[c, e] for e in range(start, end)) for start, end in NODE_EDGES
        ]
        torch.testing.assert_close(cell_out[c], torch.cat(nodes, dim=1))
    assert [cell.cell_type for cell in net.cells] == ["normal", "reduce", "reduce"]


def test_derivation_strength_uses_edge_weights(pc_darts: SearchSpace) -> None:
    net = _tiny(pc_darts)
    ops = [c.name for c in pc_darts.cell("normal").op.candidates]
    conv = ops.index("sep_conv_3x3")
    with torch.no_grad():
        for cell_type in ("normal", "reduce"):
            alpha = net.arch.parameter(cell_type, "op")
            alpha.zero_()
            # Node 1 (edges 2, 3, 4 from nodes 0, 1, 2): α alone prefers sources 0 then 1 ...
            for edge, logit in ((2, 3.0), (3, 2.0), (4, 1.0)):
                alpha[edge, conv] = logit
            # ... but its edge weights strongly prefer sources 2 then 1.
            net.arch.edge_norm[cell_type][2:5] = torch.tensor([-5.0, 0.0, 5.0])
        weights = {ct: net.arch.weights(ct) for ct in ("normal", "reduce")}
    plain = derive_genotype(pc_darts, weights)
    normalized = derive_genotype(pc_darts, weights, net.edge_scales())
    for genotype, sources in ((plain, [0, 1]), (normalized, [2, 1])):
        for cell in (genotype.normal, genotype.reduce):
            assert [edge.source for edge in cell.nodes[1]] == sources
            assert {edge.op for edge in cell.nodes[1]} == {"sep_conv_3x3"}


def test_gradients_reach_edge_weights_of_both_cell_types(apc_darts: SearchSpace) -> None:
    net = _tiny(apc_darts)
    loss = F.cross_entropy(net(torch.randn(4, 3, 8, 8)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for cell_type in ("normal", "reduce"):
        grad = net.arch.edge_norm[cell_type].grad
        assert grad is not None and grad.abs().sum() > 0, cell_type


def test_edge_weights_are_registered_saved_and_in_the_op_level(apc_darts: SearchSpace) -> None:
    net = _tiny(apc_darts)
    state = net.state_dict()
    for cell_type in ("normal", "reduce"):
        assert tuple(state[f"arch.edge_norm.{cell_type}"].shape) == (14,)
    edge_ids = {id(p) for p in net.arch.edge_norm.values()}
    assert edge_ids <= {id(p) for p in net.arch_parameters()}
    assert edge_ids.isdisjoint(id(p) for p in net.weight_parameters())
    grouped = net.arch.by_group()
    assert set(grouped) == {"op", "activation"}  # no level of its own: it steps with α
    assert edge_ids == {id(p) for p in grouped["op"] if p.dim() == 1}
    assert net.arch.count() == arch_parameter_count(apc_darts) == 2 * 14 * (8 + 9 + 1)

    _set_edge_norm(net)
    restored = _tiny(apc_darts)
    restored.load_state_dict(net.state_dict())
    before, after = net.edge_scales(), restored.edge_scales()
    assert before is not None and after is not None
    for cell_type in ("normal", "reduce"):
        torch.testing.assert_close(after[cell_type], before[cell_type], rtol=0, atol=0)


def test_edge_weights_start_near_uniform_and_leave_alpha_init_alone(
    darts: SearchSpace, pc_darts: SearchSpace
) -> None:
    plain = SearchNetwork(darts, channels=4, layers=3, generator=torch.Generator().manual_seed(5))
    pc = SearchNetwork(pc_darts, channels=4, layers=3, generator=torch.Generator().manual_seed(5))
    for cell_type in ("normal", "reduce"):
        torch.testing.assert_close(
            pc.arch.parameter(cell_type, "op"), plain.arch.parameter(cell_type, "op")
        )
    scales = pc.edge_scales()
    assert scales is not None
    uniform = torch.cat(
        [torch.full((end - start,), 1 / (end - start)) for start, end in NODE_EDGES]
    )
    torch.testing.assert_close(scales["normal"], uniform, atol=1e-2, rtol=0)
    assert isinstance(pc.arch.edge_norm["normal"], nn.Parameter)


def test_search_records_the_softmaxed_edge_weights(pc_darts: SearchSpace) -> None:
    """metrics.jsonl and summary.json log what derivation uses: per node, weights summing to 1."""
    net = _tiny(pc_darts)
    logits = _set_edge_norm(net)
    record = edge_scales_record(net)
    assert record is not None and set(record) == set(logits)
    for cell_type, value in logits.items():
        assert len(record[cell_type]) == 14
        for start, end in NODE_EDGES:
            exp = value[start:end].exp()
            assert record[cell_type][start:end] == pytest.approx((exp / exp.sum()).tolist())
    assert edge_scales_record(_tiny(space_preset("darts"))) is None
