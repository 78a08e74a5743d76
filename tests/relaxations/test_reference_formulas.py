"""Every relaxation and stabilizer against a direct transcription of its reference code's
formula, on fixed tensors, including how the reference aggregates over the two cell types.

Each ``_reference_*`` function restates, in plain torch, what the cited file computes; the
factornas implementation must give the same numbers (float64, to rounding).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Dirichlet
from torch.distributions.kl import kl_divergence
from torch.nn import functional as F

from factornas.presets.search import search_preset
from factornas.relaxations import build_relaxation
from factornas.relaxations import gumbel as gumbel_module
from factornas.relaxations.beta import BetaRegConfig
from factornas.relaxations.groups import GroupRelaxation, GroupRelaxations
from factornas.relaxations.smoothing import SmoothingConfig, clip_to_simplex, smooth
from factornas.relaxations.stabilizer import build_stabilizer
from factornas.search.adversarial import attack, overriding
from factornas.search.config import LevelConfig, SkipDropoutConfig, SkipGuardConfig
from factornas.search.loop import build_network
from factornas.search.skips import early_stop

GEN = torch.Generator().manual_seed(11)
NORMAL = torch.randn(14, 7, generator=GEN, dtype=torch.float64)
REDUCE = torch.randn(14, 7, generator=GEN, dtype=torch.float64) * 2.0


# -- DrNAS (xiangning-chen/DrNAS) -----------------------------------------------------------
def _reference_drnas_kl(normal: torch.Tensor, reduce: torch.Tensor, scale: float) -> torch.Tensor:
    """``DARTS-space/model_search.py::_get_kl_reg``: concentrations elu(θ)+1, a Dirichlet(1)
    anchor, ``reg_scale · (Σ KL_reduce + Σ KL_normal)``."""
    q_normal, q_reduce = Dirichlet(F.elu(normal) + 1), Dirichlet(F.elu(reduce) + 1)
    p_normal = Dirichlet(torch.ones_like(normal))
    p_reduce = Dirichlet(torch.ones_like(reduce))
    return scale * (
        kl_divergence(q_reduce, p_reduce).sum() + kl_divergence(q_normal, p_normal).sum()
    )


def test_drnas_kl_is_the_sum_over_both_cell_types() -> None:
    relax = build_relaxation("dirichlet", {"regularizer": "kl", "weight": 1e-3})
    ours = relax.loss([NORMAL, REDUCE])
    assert ours is not None
    torch.testing.assert_close(ours, _reference_drnas_kl(NORMAL, REDUCE, 1e-3))


def test_drnas_l2_steps_exactly_as_the_reference_adams_weight_decay() -> None:
    """DrNAS's default ``reg_type='l2'`` is ``Adam(weight_decay=reg_scale)`` on θ
    (``architect.py`` L17-22); ours is a loss term on θ with no weight decay."""
    relax = build_relaxation("dirichlet", {"regularizer": "l2", "weight": 1e-3})
    c = torch.randn(2, 14, 7, generator=GEN, dtype=torch.float64)
    ref = [NORMAL.clone().requires_grad_(True), REDUCE.clone().requires_grad_(True)]
    ours = [NORMAL.clone().requires_grad_(True), REDUCE.clone().requires_grad_(True)]
    ref_adam = torch.optim.Adam(ref, lr=6e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    our_adam = torch.optim.Adam(ours, lr=6e-4, betas=(0.5, 0.999), weight_decay=0.0)
    for _ in range(5):
        ref_adam.zero_grad()
        (c[0] * ref[0]).sum().add((c[1] * ref[1]).sum()).backward()
        ref_adam.step()
        our_adam.zero_grad()
        term = relax.loss(ours)
        assert term is not None
        (c[0] * ours[0]).sum().add((c[1] * ours[1]).sum()).add(term).backward()
        our_adam.step()
    for r, o in zip(ref, ours, strict=True):
        torch.testing.assert_close(o, r, rtol=1e-12, atol=1e-15)


def test_drnas_derives_from_the_softmax_of_theta() -> None:
    """``model_search.py::genotype`` parses ``process_step_matrix(α, 'softmax', mask)``."""
    relax = build_relaxation("dirichlet")
    torch.testing.assert_close(relax.strengths(NORMAL), torch.softmax(NORMAL, -1))


# -- FairDARTS (xiaomi-automl/FairDARTS) ----------------------------------------------------
def _reference_zero_one(normal: torch.Tensor, reduce: torch.Tensor, weight: float) -> torch.Tensor:
    """``separate_loss.py::ConvSeparateLoss`` on ``aux_input = cat([σ(α_n), σ(α_r)])``
    (``architect.py``): ``−weight · MSE(aux_input, 0.5)``, one mean over both cell types."""
    aux = torch.cat([torch.sigmoid(normal), torch.sigmoid(reduce)], dim=0)
    return -weight * F.mse_loss(aux, torch.full_like(aux, 0.5))  # the reference broadcasts 0.5


def test_fair_darts_zero_one_loss_is_one_mean_over_both_cell_types() -> None:
    relax = build_relaxation("sigmoid", {"weight": 10.0})
    ours = relax.loss([NORMAL, REDUCE])
    assert ours is not None
    torch.testing.assert_close(ours, _reference_zero_one(NORMAL, REDUCE, 10.0))
    per_cell_sum = sum(relax.loss([p]) for p in (NORMAL, REDUCE))  # what 0.1 computed
    assert not torch.allclose(ours, per_cell_sum)


# -- β-DARTS (Sunshine-Ye/Beta-DARTS) -------------------------------------------------------
def _reference_beta(params: torch.Tensor, epoch: int) -> torch.Tensor:
    """``optimizers/darts/architect.py``: ``weights = 0 + 50*epoch/100`` times ``mlc_loss``,
    ``mean(logsumexp(α, -1))``; the DARTS space's two cell types taken as one set of edges
    (the authors' DARTS-space path passes a list and does not run)."""
    return (0 + 50 * epoch / 100) * torch.logsumexp(params, dim=-1).mean()


@pytest.mark.parametrize("epoch", [0, 1, 7, 49])
def test_beta_darts_term_and_its_schedule(epoch: int) -> None:
    relaxations = GroupRelaxations()
    beta = build_stabilizer("beta", BetaRegConfig().model_dump())
    relaxations.set("op", GroupRelaxation(build_relaxation("softmax"), [beta]))
    relaxations.set_epoch(epoch, 50)
    ours = relaxations.loss("op", [NORMAL, REDUCE])
    expected = _reference_beta(torch.cat([NORMAL, REDUCE]), epoch)
    if epoch == 0:
        assert ours is not None and float(ours) == 0.0
    else:
        assert ours is not None
        torch.testing.assert_close(ours, expected)


# -- SDARTS (xiangning-chen/SmoothDARTS) ----------------------------------------------------
def _reference_clip(p: torch.Tensor) -> torch.Tensor:
    """``sota/cnn/model_search.py::clip``, row by row as written there."""
    p = p.clone()
    for line in p:
        max_index = line.argmax()
        line.clamp_(0, 1)
        if line.sum() == 0.0:
            line[max_index] = 1.0
        line.div_(line.sum())
    return p


def test_sdarts_clip_projects_like_the_reference_including_all_zero_rows() -> None:
    p = torch.randn(6, 8, generator=GEN, dtype=torch.float64) * 0.7
    p[2] = -torch.rand(8, generator=GEN, dtype=torch.float64)  # clamps to all zeros
    p[4] = 1.5 + torch.rand(8, generator=GEN, dtype=torch.float64)  # clamps to all ones
    torch.testing.assert_close(clip_to_simplex(p), _reference_clip(p))
    assert clip_to_simplex(p)[2].tolist() == F.one_hot(p[2].argmax(), 8).double().tolist()


def test_sdarts_random_smoothing_is_uniform_noise_then_the_clip() -> None:
    w = torch.softmax(NORMAL, -1)
    torch.manual_seed(5)
    ours = smooth(w, 0.2)
    torch.manual_seed(5)
    expected = _reference_clip(w + torch.zeros_like(w).uniform_(-0.2, 0.2))
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize(("epoch", "epochs"), [(0, 50), (10, 50), (49, 50), (3, 4)])
def test_sdarts_radius_grows_as_its_script_computes_it(epoch: int, epochs: int) -> None:
    """``train_search.py`` L170: ``0.03 + (epsilon_alpha − 0.03) · epoch / epochs``."""
    config = SmoothingConfig(epsilon_start=0.03, epsilon_end=0.3)
    assert config.epsilon(epoch, epochs) == pytest.approx(0.03 + (0.3 - 0.03) * epoch / epochs)


def _reference_pgd(
    network: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, steps: int = 7
) -> dict[tuple[str, str], torch.Tensor]:
    """``attacker/perturb.py::Linf_PGD_alpha`` on the softmaxed op weights of both cell types:
    eval mode, random start then clip, ``Linf_SGD`` (a sign step of lr 2ε/steps) on the
    negated loss, the difference to the saved weights clamped to ±ε then clip, and the saved
    weights restored when the loss fell."""
    keys = [("normal", "op"), ("reduce", "op")]
    arch = network.arch
    network.eval()
    saved = {k: torch.softmax(arch.parameter(*k), -1).detach() for k in keys}
    with torch.no_grad(), overriding(network, saved):
        loss_before = F.cross_entropy(network(x), y)
    current = {
        k: _reference_clip(saved[k] + torch.zeros_like(saved[k]).uniform_(-epsilon, epsilon))
        for k in keys
    }
    for _ in range(steps):
        leaves = {k: v.clone().requires_grad_(True) for k, v in current.items()}
        with overriding(network, leaves):
            loss = -F.cross_entropy(network(x), y)
        grads = torch.autograd.grad(loss, list(leaves.values()))
        for (k, v), g in zip(leaves.items(), grads, strict=True):
            stepped = v.detach() - (2 * epsilon / steps) * torch.sign(g)
            diff = (stepped - saved[k]).clamp(-epsilon, epsilon)
            current[k] = _reference_clip(diff + saved[k])
    with torch.no_grad(), overriding(network, current):
        loss_after = F.cross_entropy(network(x), y)
    if loss_before > loss_after:
        current = dict(saved)
    network.train()
    return current


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sdarts_adversarial_attack_is_the_reference_pgd(seed: int) -> None:
    smoothing = {"mode": "adversarial", "epsilon_start": 0.2, "epsilon_end": 0.2}
    level = LevelConfig.model_validate({"group": "op", "smoothing": smoothing})
    config = search_preset("darts").replace(channels=4, layers=3, levels=(level,))
    torch.manual_seed(seed)
    network = build_network(config, num_classes=10, in_channels=3).double()
    x, y = torch.randn(4, 3, 8, 8, dtype=torch.float64), torch.arange(4)
    network.train()
    network(x)  # give the batch norms running statistics to use in eval mode
    buffers = {n: b.clone() for n, b in network.named_buffers()}
    torch.manual_seed(100 + seed)
    ours = attack(network, x, y)
    torch.manual_seed(100 + seed)
    expected = _reference_pgd(network, x, y, 0.2)
    assert set(ours) == set(expected)
    for key in ours:
        torch.testing.assert_close(ours[key], expected[key])
        assert not ours[key].requires_grad
    # Eval mode throughout: no batch-norm statistic moved, and training mode is back.
    for name, buffer in network.named_buffers():
        assert torch.equal(buffer, buffers[name]), name
    assert network.training and all(p.requires_grad for p in network.parameters())


def test_no_attack_without_adversarial_smoothing() -> None:
    config = search_preset("sdarts_rs").replace(channels=4, layers=3)
    network = build_network(config, num_classes=10, in_channels=3)
    assert attack(network, torch.randn(2, 3, 8, 8), torch.arange(2)) == {}


@pytest.mark.parametrize("relaxation", ["sigmoid", "gumbel"])
def test_smoothing_is_refused_on_weights_off_the_simplex(relaxation: str) -> None:
    with pytest.raises(ValueError, match=f"smoothing .* the '{relaxation}' relaxation's weights"):
        LevelConfig.model_validate(
            {"group": "op", "relaxation": {"name": relaxation}, "smoothing": {}}
        )
    dirichlet = {"group": "op", "relaxation": {"name": "dirichlet"}, "smoothing": {}}
    assert [s.name for s in LevelConfig.model_validate(dirichlet).stabilizers] == ["smoothing"]


# -- GDAS (D-X-Y/AutoDL-Projects) -----------------------------------------------------------
def test_gdas_temperature_is_its_scripts_linear_anneal() -> None:
    """``exps/NAS-Bench-201-algos/GDAS.py`` L237-239:
    ``tau_max − (tau_max − tau_min) · epoch / (total_epoch − 1)``."""
    relax = build_relaxation("gumbel", {"tau_max": 10.0, "tau_min": 0.1})
    for epoch in (0, 1, 100, 249):
        relax.set_epoch(epoch, 250)
        assert relax.record()["temperature"] == pytest.approx(10.0 - 9.9 * epoch / 249)


def test_gumbel_noise_redraws_infinite_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """GDAS draws again until the noise is finite (``get_gumbel_prob``): an exponential draw
    of exactly 0 (an infinite Gumbel) is replaced by a fresh draw."""
    draws = [torch.tensor([[0.5, 0.0, 2.0]]), torch.tensor([[0.25, 0.125, 4.0]])]
    real_empty_like = torch.empty_like

    class FakeDraw:
        def __init__(self, value: torch.Tensor) -> None:
            self.value = value

        def exponential_(self) -> torch.Tensor:
            return self.value

    monkeypatch.setattr(gumbel_module.torch, "empty_like", lambda like: FakeDraw(draws.pop(0)))
    try:
        noise = gumbel_module.gumbel_noise(torch.zeros(1, 3))
    finally:
        monkeypatch.setattr(gumbel_module.torch, "empty_like", real_empty_like)
    assert torch.isfinite(noise).all()
    assert noise[0].tolist() == pytest.approx([-math.log(0.5), -math.log(0.125), -math.log(2.0)])


# -- DARTS+ and P-DARTS ---------------------------------------------------------------------
def test_darts_plus_stops_at_two_skips_while_the_pdarts_cap_stays_two() -> None:
    """DARTS+ (criterion 1): stop "when there are two or more skip-connects in one normal
    cell"; P-DARTS's cap keeps at most 2 — two settings now."""
    guard = SkipGuardConfig(early_stop=True)
    assert guard.early_stop_skips == 2 and guard.max_skips == 2
    assert early_stop(guard, 0, 1) == (0, None)
    streak, reason = early_stop(guard, 0, 2)
    assert streak == 1 and reason is not None and "2 ≥ 2" in reason


def _reference_pdarts_rate(rate: float, epoch: int, epochs: int, warmup: int) -> float:
    """``pdarts/train_search.py`` L152-158 (``eps_no_arch`` the warm-up, scale factor 0.2)."""
    if epoch < warmup:
        return rate * (epochs - epoch - 1) / epochs
    return rate * math.exp(-(epoch - warmup) * 0.2)


@pytest.mark.parametrize("epoch", [0, 5, 9, 10, 11, 24])
def test_pdarts_skip_dropout_rate_follows_its_schedule(epoch: int) -> None:
    expected = _reference_pdarts_rate(0.4, epoch, 25, 10)
    assert SkipDropoutConfig(rate=0.4).rate_at(epoch, 25, 10) == pytest.approx(expected)
