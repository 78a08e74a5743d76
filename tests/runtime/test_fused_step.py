"""Fused updates and clipping inside them: the same numbers as torch's plain optimizers after
``clip_grad_norm_``, the same checkpoints, a fraction of the ops."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from factornas.runtime import optim
from factornas.runtime.optimizers import build_optimizer
from factornas.search.config import OptimizerConfig

SGD = OptimizerConfig(kind="sgd", lr=0.1, momentum=0.9, weight_decay=3e-4)
ADAM = OptimizerConfig(kind="adam", lr=0.01, betas=(0.5, 0.999), weight_decay=1e-3)


def _params(seed: int = 0, dtype: torch.dtype = torch.float32) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(8, 4, 3, 3), (8,), (10, 8), (3, 5)]
    return [nn.Parameter(torch.randn(s, generator=g, dtype=dtype)) for s in shapes]


def _plain(config: OptimizerConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """torch's single-tensor reference implementation."""
    if config.kind == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
            foreach=False,
        )  # fmt: skip
    return torch.optim.Adam(
        params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay, foreach=False
    )


def _set_grads(params: list[nn.Parameter], step: int, scale: float) -> None:
    g = torch.Generator().manual_seed(100 + step)
    for p in params:
        p.grad = scale * torch.randn(p.shape, generator=g, dtype=p.dtype)


@pytest.mark.parametrize("config", [SGD, ADAM], ids=["sgd", "adam"])
@pytest.mark.parametrize("scale", [0.01, 10.0], ids=["unclipped", "clipped"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_clipped_step_equals_clip_grad_norm_then_plain_step(
    config: OptimizerConfig, scale: float, dtype: torch.dtype
) -> None:
    ours, theirs = _params(dtype=dtype), _params(dtype=dtype)
    fused, plain = build_optimizer(config, ours), _plain(config, theirs)
    assert optim.is_fused(fused)
    for step in range(4):
        _set_grads(ours, step, scale)
        _set_grads(theirs, step, scale)
        optim.step(fused, ours, max_norm=1.0)
        torch.nn.utils.clip_grad_norm_(theirs, 1.0)
        plain.step()
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b)  # float32 rounding (float64's when float64)
    assert not hasattr(fused, "grad_scale")


def test_a_foreach_optimizer_is_clipped_in_place() -> None:
    """Where no fused kernel exists the gradients are scaled before the step."""
    ours, theirs = _params(), _params()
    foreach = torch.optim.SGD(ours, lr=0.1, momentum=0.9, foreach=True)
    plain = torch.optim.SGD(theirs, lr=0.1, momentum=0.9, foreach=False)
    for step in range(3):
        _set_grads(ours, step, 10.0)
        _set_grads(theirs, step, 10.0)
        optim.step(foreach, ours, max_norm=1.0)
        torch.nn.utils.clip_grad_norm_(theirs, 1.0)
        plain.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("config", [SGD, ADAM], ids=["sgd", "adam"])
def test_checkpoints_load_across_implementations(config: OptimizerConfig) -> None:
    """A checkpoint written by the plain optimizer (every checkpoint before this change) resumes
    in the fused one, which stays fused and steps as the plain one would."""
    plain_params, fused_params = _params(), _params()
    plain, fused = _plain(config, plain_params), build_optimizer(config, fused_params)
    for step in range(2):
        for params, optimizer in ((plain_params, plain), (fused_params, fused)):
            _set_grads(params, step, 1.0)
            optimizer.step()
    saved_plain, saved_fused = plain.state_dict(), fused.state_dict()
    assert saved_plain["state"].keys() == saved_fused["state"].keys()
    for index, state in saved_plain["state"].items():
        assert state.keys() == saved_fused["state"][index].keys()
        for key, value in state.items():
            torch.testing.assert_close(value, saved_fused["state"][index][key])

    resumed_params = [nn.Parameter(p.detach().clone()) for p in plain_params]
    resumed = build_optimizer(config, resumed_params)
    resumed.load_state_dict(copy.deepcopy(saved_plain))  # a checkpoint shares no tensor
    assert optim.is_fused(resumed)
    _set_grads(resumed_params, 2, 1.0)
    _set_grads(plain_params, 2, 1.0)
    resumed.step()
    plain.step()
    for a, b in zip(resumed_params, plain_params, strict=True):
        torch.testing.assert_close(a, b)


def _aten_ops(run: Callable[[], None]) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return sum(event.name.startswith("aten::") for event in prof.events())


def test_clip_and_step_cost_about_one_op_per_tensor() -> None:
    """torch's clip_grad_norm_ and plain SGD cost about 14 ops per tensor on the CPU; the
    fused path one view per tensor for the norm's concatenation and a constant rest."""
    params = [nn.Parameter(torch.randn(3, 3)) for _ in range(200)]
    optimizer = build_optimizer(SGD, params)
    _set_grads(params, 0, 1.0)
    optimizer.step()  # momentum buffers exist from here on
    _set_grads(params, 1, 1.0)
    assert _aten_ops(lambda: optim.step(optimizer, params, max_norm=1.0)) <= len(params) + 20
