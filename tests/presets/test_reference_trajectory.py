"""The ``darts`` and ``pc_darts`` presets search as their reference scripts do, step for step.

Each case runs factornas's :class:`MultiLevelOptimizer` under the preset (only the network made
small) beside :class:`ReferenceSearch`, the reference ``train_search.py`` iteration re-stated
on the re-stated reference networks, from the same weights and architecture parameters on the
same batches, in float64, and compares every architecture parameter (and Adam's moments of
them, which follow the gradients more closely than Adam's normalized steps do) after every
iteration, the weights' learning rate of every epoch, and every weight at the end.

The reference side takes its constants from the scripts (:data:`DARTS`, :data:`PC_DARTS`), the
factornas side from the preset, and :func:`test_presets_carry_the_reference_constants` pins
the two equal, so a preset drifting from its script fails both ways.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from factornas.presets.search import search_preset
from factornas.search.config import SearchConfig
from factornas.search.loop import build_network
from factornas.search.optimizer import MultiLevelOptimizer
from factornas.supernet.network import SearchNetwork
from tests.oracles.reference_darts import OPS, ReferenceDarts
from tests.oracles.reference_pc_darts import ReferencePcDarts
from tests.oracles.reference_protocol import Protocol, ReferenceSearch

#: quark0/darts ``cnn/train_search.py`` (arguments) and ``cnn/architect.py`` (Adam's betas).
DARTS = Protocol(
    epochs=50,
    lr=0.025,
    lr_min=0.001,
    momentum=0.9,
    weight_decay=3e-4,
    grad_clip=5.0,
    arch_lr=3e-4,
    arch_betas=(0.5, 0.999),
    arch_weight_decay=1e-3,
)
#: yuhuixu1993/PC-DARTS ``train_search.py`` and ``architect.py``: the architecture steps only
#: from epoch 15 on.
PC_DARTS = Protocol(
    epochs=50,
    lr=0.1,
    lr_min=0.0,
    momentum=0.9,
    weight_decay=3e-4,
    grad_clip=5.0,
    arch_lr=6e-4,
    arch_betas=(0.5, 0.999),
    arch_weight_decay=1e-3,
    arch_from_epoch=15,
)
PROTOCOLS = {"darts": DARTS, "pc_darts": PC_DARTS}
BATCH_SIZE = {"darts": 64, "pc_darts": 256}
#: The small networks: (C, cells); PC-DARTS splits every edge into K = 4 channel groups.
SIZE = {"darts": (4, 3), "pc_darts": (8, 3)}
CLASSES, BATCH, PIXELS = 10, 4, 8
#: (epoch, iterations) per case. DARTS crosses one epoch boundary (the schedule steps between
#: them); PC-DARTS runs the last warm-up epoch (the weights alone) and then the first epoch
#: in which the architecture steps.
PLANS = {
    ("darts", "first"): ((0, 2), (1, 2)),
    ("darts", "second"): ((0, 1), (1, 1)),
    ("pc_darts", "first"): ((14, 1), (15, 4)),
    ("pc_darts", "second"): ((14, 1), (15, 2)),
}
TIGHT = {"rtol": 1e-5, "atol": 1e-12}


def small_config(preset: str, order: str = "first") -> SearchConfig:
    channels, layers = SIZE[preset]
    return search_preset(preset).replace(
        channels=channels, layers=layers, cell_execution="per_edge", order=order
    )


def reference_network(preset: str) -> ReferenceDarts | ReferencePcDarts:
    channels, layers = SIZE[preset]
    if preset == "darts":
        return ReferenceDarts(channels, CLASSES, layers, in_channels=3)
    return ReferencePcDarts(channels, CLASSES, layers, in_channels=3, k=4)


def arch_pairs(
    net: SearchNetwork, reference: nn.Module
) -> list[tuple[str, nn.Parameter, nn.Parameter]]:
    """(name, ours, theirs) for every architecture parameter; each side's full list."""
    pairs = [
        (f"alpha_{ct}", net.arch.parameter(ct, "op"), getattr(reference, f"alpha_{ct}"))
        for ct in ("normal", "reduce")
    ]
    if isinstance(reference, ReferencePcDarts):
        pairs += [
            (f"beta_{ct}", net.arch.edge_norm[ct], getattr(reference, f"beta_{ct}"))
            for ct in ("normal", "reduce")
        ]
    assert {id(p) for _, p, _ in pairs} == {id(p) for p in net.arch_parameters()}
    assert {id(p) for _, _, p in pairs} == {id(p) for p in reference.arch_parameters()}
    return pairs


def copy_into(net: SearchNetwork, reference: nn.Module) -> None:
    """The reference takes factornas's weights (matched by order and shape) and α/β."""
    mine, theirs = list(net.weight_parameters()), reference.weights()
    assert [tuple(p.shape) for p in mine] == [tuple(p.shape) for p in theirs]
    with torch.no_grad():
        for src, dst in zip(mine, theirs, strict=True):
            dst.copy_(src)
        for _, src, dst in arch_pairs(net, reference):
            dst.copy_(src)


def batches(seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        x = torch.randn(BATCH, 3, PIXELS, PIXELS, generator=generator)
        yield x, torch.randint(0, CLASSES, (BATCH,), generator=generator)


@pytest.mark.parametrize("execution", ["per_edge", "grouped"])
def test_reference_pc_darts_is_the_pc_darts_supernet(float64: None, execution: str) -> None:
    """With copied weights the re-stated PC-DARTS network gives factornas's ``pc_darts``
    supernet's outputs and gradients (every weight, α and edge weight) in float64."""
    torch.manual_seed(0)
    config = search_preset("pc_darts").replace(channels=8, layers=5, cell_execution=execution)
    net = build_network(config, num_classes=CLASSES, in_channels=3).double()
    reference = ReferencePcDarts(8, CLASSES, 5, in_channels=3, k=4).double()
    assert config.space.cell("normal").op.names == OPS
    assert net.count_weights() == sum(p.numel() for p in reference.weights())
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    copy_into(net, reference)
    x = torch.randn(3, 3, 16, 16)
    ours, theirs = net(x), reference(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    projection = torch.randn_like(ours)
    mine = [*net.weight_parameters(), *(p for _, p, _ in arch_pairs(net, reference))]
    other = [*reference.weights(), *(p for _, _, p in arch_pairs(net, reference))]
    grads = torch.autograd.grad((ours * projection).sum(), mine)
    expected = torch.autograd.grad((theirs * projection).sum(), other)
    for a, b in zip(grads, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("preset", ["darts", "pc_darts"])
def test_presets_carry_the_reference_constants(preset: str) -> None:
    """Every setting the trajectory relies on is the preset's (only the size is changed)."""
    config, protocol = search_preset(preset), PROTOCOLS[preset]
    weights, arch = config.weights_optimizer, config.arch_optimizer
    assert (weights.kind, weights.schedule, weights.scheduler_step) == (
        "sgd", "cosine", "before_epoch"
    )  # fmt: skip
    assert (weights.lr, weights.lr_min, weights.momentum, weights.weight_decay) == (
        protocol.lr, protocol.lr_min, protocol.momentum, protocol.weight_decay
    )  # fmt: skip
    assert not weights.nesterov and weights.lr_warmup_epochs == 0
    assert (arch.kind, arch.schedule, arch.lr_warmup_epochs) == ("adam", "constant", 0)
    assert (arch.lr, arch.betas, arch.weight_decay) == (
        protocol.arch_lr, protocol.arch_betas, protocol.arch_weight_decay
    )  # fmt: skip
    assert config.grad_clip == protocol.grad_clip
    assert config.step_order == "architecture_first"
    assert config.epochs == protocol.epochs
    assert config.batch_size == BATCH_SIZE[preset]
    assert config.arch_warmup_epochs == protocol.arch_from_epoch
    assert config.order == "first" and config.unrolled_radius == protocol.radius
    assert config.levels == () and config.stages == () and config.skip_dropout is None
    assert config.space.cell("normal").op.names == OPS
    assert (config.channels, config.layers) == (16, 8)
    partial = (4, True) if preset == "pc_darts" else (1, False)
    assert (config.space.partial_channels, config.space.edge_normalization) == partial


@pytest.mark.parametrize(("preset", "order"), sorted(PLANS))
def test_search_follows_the_reference_trajectory(float64: None, preset: str, order: str) -> None:
    config = small_config(preset, order)
    torch.manual_seed(1)
    net = build_network(config, num_classes=CLASSES, in_channels=3).double().train()
    reference = reference_network(preset).double().train()
    copy_into(net, reference)
    pairs = arch_pairs(net, reference)
    ours = MultiLevelOptimizer(net, config)
    (level,) = ours.levels  # one level: α (and PC-DARTS's edge weights) under one Adam
    theirs = ReferenceSearch(reference, PROTOCOLS[preset], unrolled=order == "second")

    data = batches(seed=7)
    plan = dict(PLANS[(preset, order)])
    arch_steps, clipped, iteration = 0, 0, 0
    for epoch in range(max(plan) + 1):
        theirs.start_epoch()
        if epoch not in plan:
            continue
        ours.set_epoch(epoch)
        assert ours.weight_lr == pytest.approx(theirs.lr, rel=1e-12), epoch
        for step in range(plan[epoch]):
            train, val = next(data), next(data)
            stats = ours.step(train, val, epoch=epoch, step=step)
            theirs.iteration(train, val)
            iteration += 1
            stepped = epoch >= PROTOCOLS[preset].arch_from_epoch
            assert stats.arch_steps == int(stepped), (epoch, step)
            arch_steps += stepped
            clipped += theirs.last_grad_norm > PROTOCOLS[preset].grad_clip
            for name, mine, other in pairs:
                where = f"{name} after iteration {iteration} (epoch {epoch})"
                torch.testing.assert_close(mine, other, **TIGHT, msg=lambda m, w=where: f"{w}: {m}")
                state, expected = level.optimizer.state.get(mine), theirs.arch_optimizer.state
                if not stepped:
                    assert not state and other not in expected, where
                    continue
                for moment in ("exp_avg", "exp_avg_sq"):
                    torch.testing.assert_close(
                        state[moment], expected[other][moment], **TIGHT,
                        msg=lambda m, w=f"Adam's {moment} of {where}": f"{w}: {m}",
                    )  # fmt: skip
            if order == "second" and stepped:
                # The Hessian term is of the direct gradient's size (1.6 to 3.9 times it here):
                # a first-order step would fail the comparison by far.
                assert theirs.last_implicit_norm > 0.1 * theirs.last_direct_norm
    assert arch_steps == (2 if order == "second" else 4)
    assert clipped > 0  # the clipping took part

    mine_weights, their_weights = list(net.weight_parameters()), reference.weights()
    for index, (mine, other) in enumerate(zip(mine_weights, their_weights, strict=True)):
        torch.testing.assert_close(mine, other, **TIGHT, msg=lambda m, i=index: f"weight {i}: {m}")
        buffer = ours.weight_optimizer.state[mine]["momentum_buffer"]
        expected = theirs.optimizer.state[other]["momentum_buffer"]
        torch.testing.assert_close(buffer, expected, **TIGHT)
