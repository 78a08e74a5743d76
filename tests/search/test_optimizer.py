"""The N-level optimizer: Algorithm 1's order, the joint schedule, second order, levels."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from factornas import GroupSpec, SearchNetwork, SearchSpace
from factornas.runtime.optimizers import scheduled_lr
from factornas.search.config import LevelConfig, OptimizerConfig, SearchConfig
from factornas.search.optimizer import MultiLevelOptimizer

# RReLU draws random slopes in training mode; leave it out so replays are exact.
ACTS = ("relu", "prelu", "elu", "selu", "swish")


def _space() -> SearchSpace:
    return SearchSpace(
        normal=(GroupSpec(group="op"), GroupSpec(group="activation", candidates=ACTS))
    )


def _setup(schedule: str = "sequential", **overrides) -> tuple[SearchNetwork, SearchConfig]:
    torch.manual_seed(0)
    net = SearchNetwork(_space(), channels=2, layers=3, num_classes=3)
    # Large architecture learning rates make the order of the updates visible.
    config = SearchConfig(
        space=_space(),
        schedule=schedule,
        epochs=2,
        arch_optimizer=OptimizerConfig(kind="adam", lr=0.1, betas=(0.5, 0.999)),
        **overrides,
    )
    return net, config


def _batches() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    train = (torch.randn(4, 3, 8, 8, generator=g), torch.tensor([0, 1, 2, 0]))
    val = (torch.randn(4, 3, 8, 8, generator=g), torch.tensor([1, 2, 0, 1]))
    return train, val


def _manual_iteration(net: SearchNetwork, config: SearchConfig, beta_sees_new_alpha: bool) -> None:
    """Algorithm 1 written out by hand with plain torch optimizers."""
    train, val = _batches()
    weights = list(net.weight_parameters())
    sgd = torch.optim.SGD(weights, lr=0.05, momentum=0.9, weight_decay=3e-4)
    alphas = net.arch.by_group()["op"]
    betas = net.arch.by_group()["activation"]
    adam_a = torch.optim.Adam(alphas, lr=0.1, betas=(0.5, 0.999))
    adam_b = torch.optim.Adam(betas, lr=0.1, betas=(0.5, 0.999))
    sgd.zero_grad()
    F.cross_entropy(net(train[0]), train[1]).backward()
    torch.nn.utils.clip_grad_norm_(weights, 5.0)
    sgd.step()
    if beta_sees_new_alpha:
        grads = torch.autograd.grad(F.cross_entropy(net(val[0]), val[1]), alphas)
        for p, g in zip(alphas, grads, strict=True):
            p.grad = g
        adam_a.step()
        grads = torch.autograd.grad(F.cross_entropy(net(val[0]), val[1]), betas)
        for p, g in zip(betas, grads, strict=True):
            p.grad = g
        adam_b.step()
    else:
        grads = torch.autograd.grad(F.cross_entropy(net(val[0]), val[1]), alphas + betas)
        for p, g in zip(alphas + betas, grads, strict=True):
            p.grad = g
        adam_a.step()
        adam_b.step()


@pytest.mark.parametrize("schedule", ["sequential", "joint"])
def test_iteration_matches_algorithm_1_written_by_hand(schedule: str) -> None:
    net, config = _setup(schedule)
    reference = copy.deepcopy(net)
    MultiLevelOptimizer(net, config).step(*_batches(), epoch=0, step=0)
    _manual_iteration(reference, config, beta_sees_new_alpha=schedule == "sequential")
    for name, p in net.arch.named_parameters():
        torch.testing.assert_close(p, dict(reference.arch.named_parameters())[name])


def test_sequential_beta_gradient_uses_the_updated_alpha() -> None:
    """β_{t+1} from the sequential schedule differs from the one computed at α_t."""
    net_seq, config_seq = _setup("sequential")
    net_joint, config_joint = _setup("joint")
    MultiLevelOptimizer(net_seq, config_seq).step(*_batches(), epoch=0, step=0)
    MultiLevelOptimizer(net_joint, config_joint).step(*_batches(), epoch=0, step=0)
    alpha = net_seq.arch.parameter("normal", "op")
    torch.testing.assert_close(alpha, net_joint.arch.parameter("normal", "op"))
    beta_seq = net_seq.arch.parameter("normal", "activation")
    beta_joint = net_joint.arch.parameter("normal", "activation")
    assert not torch.allclose(beta_seq, beta_joint)


def test_weight_step_leaves_architecture_untouched_and_vice_versa() -> None:
    net, config = _setup(arch_warmup_epochs=1)
    before = {n: p.detach().clone() for n, p in net.arch.named_parameters()}
    stats = MultiLevelOptimizer(net, config).step(*_batches(), epoch=0, step=0)
    assert stats.arch_steps == 0  # warm-up: only ω moved
    for n, p in net.arch.named_parameters():
        assert torch.equal(p, before[n])
        assert p.grad is None  # the weight step never computed architecture gradients


def test_period_and_frozen_levels() -> None:
    net, config = _setup(levels=(LevelConfig(group="activation", period=2),))
    optimizer = MultiLevelOptimizer(net, config)
    assert optimizer.step(*_batches(), epoch=0, step=1).arch_steps == 1  # only α
    assert optimizer.step(*_batches(), epoch=0, step=2).arch_steps == 2

    net.arch.freeze_choice("activation", "selu")
    frozen = MultiLevelOptimizer(net, config)
    assert [level.name for level in frozen.levels] == ["op"]
    weights = net.arch.weights("normal")["activation"]
    assert torch.equal(weights[:, ACTS.index("selu")], torch.ones(14))


def test_cosine_schedule_reaches_its_minimum_shape() -> None:
    cfg = OptimizerConfig(kind="sgd", lr=0.05, schedule="cosine", lr_min=0.001)
    assert scheduled_lr(cfg, 0, 25) == pytest.approx(0.05)
    assert scheduled_lr(cfg, 25, 25) == pytest.approx(0.001)
    assert scheduled_lr(cfg, 12, 25) < scheduled_lr(cfg, 11, 25)


@pytest.mark.parametrize(("radius", "rel"), [(1e-6, 1e-5), (0.01, 0.1)])
def test_second_order_hypergradient_matches_finite_differences(radius: float, rel: float) -> None:
    """With a tiny finite-difference radius the hypergradient is exact; DARTS's 0.01 is close."""
    torch.set_default_dtype(torch.float64)
    try:
        net, config = _setup(order="second", unrolled_radius=radius)
        net.eval()  # fixed BN statistics: the unrolled objective is a smooth function of α
        optimizer = MultiLevelOptimizer(net, config)
        train, val = _batches()
        train = (train[0].double(), train[1])
        val = (val[0].double(), val[1])
        alpha = net.arch.parameter("normal", "op")
        beta = net.arch.parameter("reduce", "activation")
        arch = [alpha, beta]
        hyper, _ = optimizer.unrolled_gradients(arch, train, val)
        xi = optimizer.weight_lr
        weights = optimizer.weights
        decay = optimizer.weight_optimizer.param_groups[0]["weight_decay"]

        def unrolled_objective() -> float:
            loss = F.cross_entropy(net(train[0]), train[1])
            grads = torch.autograd.grad(loss, weights)
            backup = [w.detach().clone() for w in weights]
            with torch.no_grad():
                for w, g in zip(weights, grads, strict=True):
                    w.sub_(xi * (g + decay * w))
                value = float(F.cross_entropy(net(val[0]), val[1]))
                for w, b in zip(weights, backup, strict=True):
                    w.copy_(b)
            return value

        eps = 1e-5
        for param, grad in zip(arch, hyper, strict=True):
            for index in [(0, 4), (3, 1), (9, 7)] if param is alpha else [(0, 0), (13, 3)]:
                with torch.no_grad():
                    param[index] += eps
                plus = unrolled_objective()
                with torch.no_grad():
                    param[index] -= 2 * eps
                minus = unrolled_objective()
                with torch.no_grad():
                    param[index] += eps
                numeric = (plus - minus) / (2 * eps)
                assert grad[index].item() == pytest.approx(numeric, rel=rel, abs=1e-10)
    finally:
        torch.set_default_dtype(torch.float32)
