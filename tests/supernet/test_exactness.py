"""The fast supernet computes Eq. 2 exactly: float64 outputs and gradients of the search cell
(channels-last on CPU, in-place weighted sums, fused mixed activation) against a plain
re-statement, and the optimizer's constant-marking leaves every gradient and flag unchanged."""

from __future__ import annotations

import torch
from torch import nn

from factornas import GroupSpec, SearchNetwork, SearchSpace
from factornas.factors.base import FactorGroup
from factornas.search.config import SearchConfig
from factornas.search.optimizer import MultiLevelOptimizer
from factornas.supernet.cell import SearchCell
from factornas.supernet.edge import MixedEdge

# RReLU draws random slopes in training mode; without it two forward passes are comparable.
ACTS = ("relu", "relu6", "leaky_relu", "prelu", "elu", "celu", "selu", "swish")


def _space() -> SearchSpace:
    activation = GroupSpec(group="activation", candidates=ACTS)
    return SearchSpace(normal=(GroupSpec(group="op"), activation))


def _reference_edge(
    edge: MixedEdge, x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor
) -> torch.Tensor:
    """Σ_o α_o · o(σ_o(x)) with σ the plain weighted sum of the activation modules (Eq. 2–3)."""
    activations = edge.inputs["activation"]
    sigma = FactorGroup.mix(edge.cell.factors[0].group, x, beta, list(activations))
    total = torch.zeros(())
    for index, op in enumerate(edge.cell.op.candidates):
        if op.is_zero:
            continue
        module = edge.ops[op.name][0]
        parameterized = "conv" in op.tags
        total = total + alpha[index] * module(sigma if parameterized else x)
    return total


def _reference_cell(
    cell: SearchCell, s0: torch.Tensor, s1: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor
) -> torch.Tensor:
    states = [cell.preprocess0(s0), cell.preprocess1(s1)]
    offset = 0
    for _ in range(cell.topology.steps):
        node = sum(
            _reference_edge(cell.edges[offset + j], h, alpha[offset + j], beta[offset + j])
            for j, h in enumerate(states)
        )
        offset += len(states)
        states.append(node)
    return torch.cat(states[-cell.topology.multiplier :], dim=1)


def test_cell_matches_the_plain_formula_in_float64() -> None:
    torch.set_default_dtype(torch.float64)
    try:
        space = _space()
        for reduction in (False, True):
            cell = SearchCell(
                space.cell("reduce" if reduction else "normal"), space.topology,
                c_prev_prev=6, c_prev=5, channels=4, reduction=reduction, reduction_prev=False,
            )  # fmt: skip
            s0 = torch.randn(3, 6, 8, 8, requires_grad=True)
            s1 = torch.randn(3, 5, 8, 8, requires_grad=True)
            alpha = torch.randn(14, 8).softmax(-1).requires_grad_()
            beta = torch.randn(14, len(ACTS)).softmax(-1).requires_grad_()
            params = [s0, s1, alpha, beta, *cell.parameters()]
            projection = torch.randn(3, 16, 4 if reduction else 8, 4 if reduction else 8)

            fast = cell(s0, s1, {"op": alpha, "activation": beta})
            assert fast.is_contiguous(memory_format=torch.channels_last)
            slow = _reference_cell(cell, s0, s1, alpha, beta)
            torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
            fast_grads = torch.autograd.grad((fast * projection).sum(), params)
            slow_grads = torch.autograd.grad((slow * projection).sum(), params)
            for a, b in zip(fast_grads, slow_grads, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    finally:
        torch.set_default_dtype(torch.float32)


def test_step_gradients_equal_full_backward_and_flags_are_restored() -> None:
    """The weight step records α/β as constants and the architecture step the weights; the
    gradients they take are those of an ordinary full backward, bit for bit."""
    torch.set_default_dtype(torch.float64)
    try:
        space = _space()
        config = SearchConfig(space=space, schedule="joint", grad_clip=None)
        torch.manual_seed(0)
        net = SearchNetwork(space, channels=2, layers=3, num_classes=3)
        net.eval()  # BN on running statistics: two passes over one batch are identical
        prelu = next(p for n, p in net.named_parameters() if n.endswith("activation.3.weight"))
        prelu.requires_grad_(False)  # a parameter the user froze stays frozen
        optimizer = MultiLevelOptimizer(net, config)
        x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])

        loss = nn.functional.cross_entropy(net(x), y)
        arch = net.arch_parameters()
        expected = torch.autograd.grad(loss, [*optimizer.weights, *arch])
        flags = {name: p.requires_grad for name, p in net.named_parameters()}

        optimizer.weight_optimizer.step = lambda: None  # keep ω fixed: compare one point
        for level in optimizer.levels:
            level.optimizer.step = lambda: None
        optimizer.step((x, y), (x, y), epoch=0, step=0)
        got = [p.grad for p in [*optimizer.weights, *arch]]
        for a, b in zip(got, expected, strict=True):
            assert torch.equal(a, b)
        assert {name: p.requires_grad for name, p in net.named_parameters()} == flags
    finally:
        torch.set_default_dtype(torch.float32)
