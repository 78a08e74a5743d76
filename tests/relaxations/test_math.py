"""Each relaxation and stabilizer against its formula, on tiny tensors."""

from __future__ import annotations

import pytest
import torch

from factornas.errors import RegistryError
from factornas.relaxations import Relaxation, build_relaxation, register_relaxation
from factornas.relaxations.beta import BetaRegConfig, beta_loss
from factornas.relaxations.sigmoid import zero_one_loss
from factornas.relaxations.smoothing import SmoothingConfig, smooth
from factornas.search.config import LevelConfig

ALPHA = torch.tensor([[0.3, -1.2, 0.8, 0.1], [2.0, 0.5, -0.5, 0.0]])


def _gumbel(like: torch.Tensor) -> torch.Tensor:
    return -torch.empty_like(like).exponential_().log()


def test_softmax_is_the_softmax() -> None:
    relax = build_relaxation("softmax")
    assert torch.equal(relax.weights(ALPHA, training=True), torch.softmax(ALPHA, -1))
    assert relax.loss([ALPHA]) is None


def test_gumbel_forward_is_the_one_hot_of_the_perturbed_argmax() -> None:
    relax = build_relaxation("gumbel", {"tau_max": 2.0, "tau_min": 0.5})
    torch.manual_seed(3)
    w = relax.weights(ALPHA, training=True)
    torch.manual_seed(3)
    expected = torch.softmax((ALPHA + _gumbel(ALPHA)) / 2.0, -1).argmax(-1)
    assert torch.equal(w, torch.nn.functional.one_hot(expected, 4).float())
    evaluation = relax.weights(ALPHA, training=False)
    assert torch.equal(evaluation.argmax(-1), ALPHA.argmax(-1)) and evaluation.sum() == 2
    assert torch.equal(relax.strengths(ALPHA), torch.softmax(ALPHA, -1))


def test_gumbel_straight_through_gradient_is_the_soft_gradient() -> None:
    relax = build_relaxation("gumbel")
    relax.set_epoch(3, 10)
    c = torch.randn(2, 4)
    alpha = ALPHA.clone().requires_grad_(True)
    torch.manual_seed(7)
    (relax.weights(alpha, training=True) * c).sum().backward()
    hard_grad = alpha.grad.clone()
    alpha.grad = None
    torch.manual_seed(7)
    soft = torch.softmax((alpha + _gumbel(alpha)) / relax.tau, -1)
    (soft * c).sum().backward()
    assert torch.allclose(hard_grad, alpha.grad, atol=1e-6)


def test_gumbel_temperature_anneals_linearly() -> None:
    relax = build_relaxation("gumbel", {"tau_max": 10.0, "tau_min": 0.1})
    taus = []
    for epoch in range(5):
        relax.set_epoch(epoch, 5)
        taus.append(relax.record()["temperature"])
    assert taus == pytest.approx([10.0, 7.525, 5.05, 2.575, 0.1])


def test_dirichlet_samples_lie_on_the_simplex_evaluate_at_the_mean_derive_by_softmax() -> None:
    relax = build_relaxation("dirichlet")
    w = relax.weights(ALPHA, training=True)
    assert (w > 0).all() and torch.allclose(w.sum(-1), torch.ones(2))
    c = torch.nn.functional.elu(ALPHA) + 1
    assert torch.allclose(relax.weights(ALPHA, training=False), c / c.sum(-1, keepdim=True))
    soft = build_relaxation("dirichlet", {"concentration": "softplus"})
    s = torch.nn.functional.softplus(ALPHA)
    assert torch.allclose(soft.weights(ALPHA, training=False), s / s.sum(-1, keepdim=True))
    # DrNAS derives its genotype from softmax(θ), not from the Dirichlet mean.
    assert torch.equal(relax.strengths(ALPHA), torch.softmax(ALPHA, -1))


def test_dirichlet_samples_have_pathwise_gradients() -> None:
    alpha = ALPHA.clone().requires_grad_(True)
    (build_relaxation("dirichlet").weights(alpha, training=True)[:, 0]).sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0


def test_dirichlet_kl_term_is_the_closed_form() -> None:
    a = torch.nn.functional.elu(ALPHA.double()) + 1
    b = torch.full_like(a, 2.0)
    a0, b0 = a.sum(-1), b.sum(-1)
    kl = (
        torch.lgamma(a0) - torch.lgamma(a).sum(-1) - torch.lgamma(b0) + torch.lgamma(b).sum(-1)
        + ((a - b) * (torch.digamma(a) - torch.digamma(a0).unsqueeze(-1))).sum(-1)
    )  # fmt: skip
    relax = build_relaxation("dirichlet", {"regularizer": "kl", "weight": 0.5, "prior": 2.0})
    term = relax.loss([ALPHA.double()])
    assert term is not None and torch.allclose(term, 0.5 * kl.sum())
    l2 = build_relaxation("dirichlet", {"regularizer": "l2", "weight": 0.5}).loss([ALPHA])
    assert l2 is not None and torch.allclose(l2, 0.5 * 0.5 * ALPHA.square().sum())


def test_sigmoid_weights_and_the_zero_one_loss() -> None:
    relax = build_relaxation("sigmoid", {"weight": 10.0})
    s = torch.sigmoid(ALPHA)
    assert torch.equal(relax.weights(ALPHA, training=True), s)
    term = relax.loss([ALPHA])
    assert term is not None and torch.allclose(term, -10.0 * ((s - 0.5) ** 2).mean())
    assert zero_one_loss(torch.tensor([0.0, 1.0])) == -0.25
    assert zero_one_loss(torch.tensor([0.5, 0.5])) == 0.0


def test_smoothing_stays_on_the_simplex_within_its_radius() -> None:
    w = torch.softmax(ALPHA, -1)
    noisy = smooth(w, 0.05)
    assert torch.allclose(noisy.sum(-1), torch.ones(2))
    assert (noisy >= 0).all() and not torch.equal(noisy, w)
    config = SmoothingConfig(epsilon_start=0.03, epsilon_end=0.3)
    # SDARTS: 0.03 + (0.3 − 0.03)·epoch/epochs, so the last epoch stays below 0.3.
    assert config.epsilon(0, 10) == 0.03 and config.epsilon(9, 10) == pytest.approx(0.273)


def test_beta_regularizer_is_the_mean_logsumexp_growing_half_a_unit_per_epoch() -> None:
    assert torch.allclose(beta_loss([ALPHA]), torch.logsumexp(ALPHA, -1).mean())
    config = BetaRegConfig()
    assert [config.weight(e, 3) for e in range(3)] == [0.0, 0.5, 1.0]  # 50·epoch/100
    assert [config.weight(e, 100) for e in (0, 99)] == [0.0, 49.5]
    legacy = BetaRegConfig(weight_start=0.0, weight_end=50.0)  # factornas 0.1's linear ramp
    assert [legacy.weight(e, 3) for e in range(3)] == [0.0, 25.0, 50.0]
    with pytest.raises(ValueError, match="weight 0 throughout"):
        BetaRegConfig(weight_start=0.0, weight_per_epoch=0.0)


def test_relaxations_register_by_name_and_refuse_duplicates() -> None:
    class Again(Relaxation):
        name = "softmax"

        def weights(self, param: torch.Tensor, training: bool) -> torch.Tensor:
            return param

    with pytest.raises(RegistryError, match="already registered"):
        register_relaxation(Again)
    with pytest.raises(RegistryError, match="unknown relaxation 'nope'"):
        build_relaxation("nope")


def test_the_config_checks_names_and_options() -> None:
    with pytest.raises(ValueError, match="unknown relaxation 'gumbell'"):
        LevelConfig.model_validate({"group": "op", "relaxation": {"name": "gumbell"}})
    with pytest.raises(ValueError, match="tau_min"):
        LevelConfig.model_validate(
            {"group": "op", "relaxation": {"name": "gumbel", "options": {"tau_min": 20.0}}}
        )
    with pytest.raises(ValueError, match="tau_max"):
        LevelConfig.model_validate(
            {"group": "op", "relaxation": {"name": "gumbel", "options": {"tau_max": -1}}}
        )
