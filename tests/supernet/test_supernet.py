"""The supernet: DARTS equivalence, parameter bookkeeping, gradients of every group."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from factornas.space import SearchSpace
from factornas.supernet.edge import MixedEdge
from factornas.supernet.network import SearchNetwork
from tests.oracles.reference_darts import ReferenceDarts


def test_darts_preset_is_the_reference_darts_search_network(darts: SearchSpace) -> None:
    ours = SearchNetwork(darts)
    reference = ReferenceDarts()
    assert ours.count_weights() == 1_930_618
    assert sum(p.numel() for p in reference.weights()) == 1_930_618
    assert ours.arch.count() == 224

    mine = list(ours.weight_parameters())
    theirs = reference.weights()
    assert [tuple(p.shape) for p in mine] == [tuple(p.shape) for p in theirs]
    with torch.no_grad():
        for src, dst in zip(mine, theirs, strict=True):
            src.normal_(0.0, 0.1)
            dst.copy_(src)
        ours.arch.parameter("normal", "op").normal_()
        ours.arch.parameter("reduce", "op").normal_()
        reference.alpha_normal.copy_(ours.arch.parameter("normal", "op"))
        reference.alpha_reduce.copy_(ours.arch.parameter("reduce", "op"))
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=1e-5)


def test_weights_and_arch_parameters_are_disjoint_and_saved(adarts: SearchSpace) -> None:
    net = SearchNetwork(adarts, channels=4, layers=3)
    arch_ids = {id(p) for p in net.arch_parameters()}
    weight_ids = {id(p) for p in net.weight_parameters()}
    assert arch_ids.isdisjoint(weight_ids)
    assert len(arch_ids) + len(weight_ids) == len(list(net.parameters()))
    state = net.state_dict()
    for cell_type in ("normal", "reduce"):
        for group, shape in (("op", (14, 8)), ("activation", (14, 9))):
            key = f"arch.params.{cell_type}.{group}"
            assert key in state and tuple(state[key].shape) == shape
    assert set(net.arch.by_group()) == {"op", "activation"}
    assert all(len(v) == 2 for v in net.arch.by_group().values())


def test_gradients_reach_every_group_and_activation_parameter(adarts: SearchSpace) -> None:
    net = SearchNetwork(adarts, channels=4, layers=3)
    loss = nn.functional.cross_entropy(net(torch.randn(4, 3, 16, 16)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for group, params in net.arch.by_group().items():
        for p in params:
            assert p.grad is not None and p.grad.abs().sum() > 0, group
    learnable_activation_params = [
        p
        for name, p in net.named_parameters()
        if name.endswith(("inputs.activation.3.weight", "inputs.activation.8.beta"))
    ]
    assert len(learnable_activation_params) == 2 * 14 * 3  # PReLU slope and Swish b per edge
    assert all(p.grad is not None and p.grad.abs() > 0 for p in learnable_activation_params)


@pytest.mark.parametrize("training", [False, True])
def test_edge_beta_gradient_matches_finite_differences(adarts: SearchSpace, training: bool) -> None:
    torch.set_default_dtype(torch.float64)
    try:
        edge = MixedEdge(adarts.cell("normal"), channels=3, stride=1).train(training)
        x = torch.randn(2, 3, 6, 6)
        target = torch.randn(2, 3, 6, 6)
        alpha = torch.randn(8)
        beta = torch.randn(9, requires_grad=True)

        def loss(b: torch.Tensor) -> torch.Tensor:
            torch.manual_seed(1)  # the same RReLU slopes in every evaluation
            out = edge(x, {"op": torch.softmax(alpha, 0), "activation": torch.softmax(b, 0)})
            return ((out - target) ** 2).mean()

        (grad,) = torch.autograd.grad(loss(beta), beta)
        eps = 1e-6
        numeric = torch.zeros(9)
        with torch.no_grad():
            for i in range(9):
                step = torch.zeros(9)
                step[i] = eps
                numeric[i] = (loss(beta + step) - loss(beta - step)) / (2 * eps)
        torch.testing.assert_close(grad, numeric, rtol=1e-5, atol=1e-8)
    finally:
        torch.set_default_dtype(torch.float32)


def test_mixed_activation_is_computed_once_per_edge(
    adarts: SearchSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = adarts.cell("normal").factors[0].group
    calls = []
    original = type(group).mix

    def counting_mix(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(group), "mix", counting_mix)
    edge = MixedEdge(adarts.cell("normal"), channels=2, stride=1)
    uniform = {"op": torch.full((8,), 1 / 8), "activation": torch.full((9,), 1 / 9)}
    edge(torch.randn(1, 2, 4, 4), uniform)
    assert len(calls) == 1  # one mixed activation feeds all four convolutions (Figure 2)


def test_one_hot_activation_reduces_to_that_activation(
    adarts: SearchSpace, darts: SearchSpace
) -> None:
    """With β one-hot on relu, an A-DARTS edge computes exactly the DARTS edge."""
    factorized = MixedEdge(adarts.cell("normal"), channels=2, stride=2)
    plain = MixedEdge(darts.cell("normal"), channels=2, stride=2)
    plain.load_state_dict(factorized.state_dict(), strict=False)
    x = torch.randn(2, 2, 8, 8)
    alpha = torch.softmax(torch.randn(8), 0)
    one_hot = torch.zeros(9)
    one_hot[0] = 1.0
    torch.testing.assert_close(
        factorized(x, {"op": alpha, "activation": one_hot}), plain(x, {"op": alpha})
    )


@pytest.mark.slow
def test_flat_twin_supernet_has_one_alpha_over_forty_candidates(adarts: SearchSpace) -> None:
    flat = SearchNetwork(adarts.flat_twin(), channels=4, layers=3)
    assert [tuple(p.shape) for p in flat.arch_parameters()] == [(14, 40), (14, 40)]
    assert flat(torch.randn(2, 3, 16, 16)).shape == (2, 10)
