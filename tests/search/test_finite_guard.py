"""The lean finite guard: a step costs it a fixed handful of ops whatever the network's size,
the gradient's finiteness comes from the step's clipping norm, the batch-norm statistics are
recorded per step from a list read once between checks, and the first non-finite step is still
named exactly, across windows, in a real search too, where the last good checkpoint is kept."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from factornas.presets.search import search_preset
from factornas.runtime.checkpoint import load_checkpoint
from factornas.search import loop
from factornas.search.guard import FiniteGuard, SearchDivergedError
from factornas.search.loop import build_network
from factornas.search.optimizer import MultiLevelOptimizer, StepStats
from tests.reliability.conftest import TINY_SEARCH, one_line_error

CPU = torch.device("cpu")


def _aten_ops(fn: Any) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.name.startswith("aten::") for e in prof.events())


def test_a_step_costs_the_guard_the_same_few_ops_for_any_number_of_buffers() -> None:
    """One concatenation and one norm for the statistics, one stack into the window (whose
    own ops are views): 15 aten ops, where every tensor used to cost its own norm."""
    loss, norm = torch.tensor(1.0), torch.tensor(2.0)
    counts = []
    for buffers in (4, 400):
        stats = [torch.rand(8) for _ in range(buffers)]
        guard = FiniteGuard(CPU, stats, window=10)
        guard.observe(0, 0, loss, loss, norm)
        counts.append(_aten_ops(lambda g=guard: g.observe(0, 1, loss, None, norm)))
    assert counts[0] == counts[1] <= 15, counts


def test_the_buffers_are_read_once_between_checks() -> None:
    reads = []
    statistics = [torch.ones(3)]

    def source() -> list[torch.Tensor]:
        reads.append(1)
        return statistics

    guard = FiniteGuard(CPU, source, window=4)
    for step in range(10):
        guard.observe(0, step, 1.0, 1.0, torch.tensor(1.0))
    assert len(reads) == 1
    guard.check()
    guard.observe(0, 10, 1.0, 1.0, torch.tensor(1.0))
    assert len(reads) == 2


@pytest.mark.parametrize("column", [0, 1, 2, 3])
@pytest.mark.parametrize("bad_step", [0, 3, 4, 9, 13])
def test_the_first_non_finite_step_is_named_exactly_across_windows(
    column: int, bad_step: int
) -> None:
    """Whatever becomes non-finite first (and stays so), at any step of any window."""
    statistics = torch.ones(5)
    guard = FiniteGuard(CPU, [statistics], window=4)
    for step in range(16):
        values: list[float] = [1.0, 1.0, 1.0]
        if step >= bad_step and column < 3:
            values[column] = math.nan if column != 1 else math.inf
        if step == bad_step and column == 3:
            statistics[2] = math.inf  # a running statistic stays non-finite
        train, grad, val = (torch.tensor(v) for v in values)
        guard.observe(1, step, train, val, grad)
    what = ("training loss", "weights' gradient", "validation", "batch-norm statistics")[column]
    with pytest.raises(SearchDivergedError, match=rf"{what}.* at epoch 1, step {bad_step} "):
        guard.check()


def test_an_epoch_change_or_a_skipped_step_starts_a_new_window() -> None:
    guard = FiniteGuard(CPU, window=10)
    guard.observe(0, 7, 1.0, 1.0)
    guard.observe(1, 0, 1.0, 1.0)
    guard.observe(1, 5, 1.0, math.nan)  # the loop never skips, a caller may
    with pytest.raises(SearchDivergedError, match=r"validation .* epoch 1, step 5 "):
        guard.check()


def test_rebind_keeps_what_was_recorded_and_watches_the_new_buffers() -> None:
    old, new = torch.ones(2), torch.ones(2)
    guard = FiniteGuard(CPU, [old], window=10)
    guard.observe(0, 0, 1.0, 1.0)
    guard.rebind([new])
    old.fill_(math.nan)  # no longer watched
    guard.observe(0, 1, 1.0, 1.0)
    guard.check()
    new.fill_(math.inf)
    guard.observe(0, 2, 1.0, 1.0)
    guard.rebind([torch.ones(2)])
    with pytest.raises(SearchDivergedError, match=r"batch-norm statistics .* step 2 "):
        guard.check()


# -- the gradient's norm comes with the step -----------------------------------------------
@pytest.mark.parametrize("grad_clip", [5.0, None], ids=["clipped", "unclipped"])
def test_the_step_reports_a_non_finite_gradient_through_its_norm(
    grad_clip: float | None,
) -> None:
    config = search_preset("darts").replace(channels=2, layers=3, grad_clip=grad_clip)
    optimizer = MultiLevelOptimizer(build_network(config, num_classes=10, in_channels=3), config)
    x, y = torch.randn(4, 3, 8, 8), torch.arange(4)
    stats = optimizer.step((x, y), (x, y), epoch=0, step=0)
    expected = torch.linalg.vector_norm(
        torch.cat([p.grad.reshape(-1) for p in optimizer.weights if p.grad is not None])
    )
    if grad_clip is None:  # unclipped, the gradients are still those the norm was taken of
        torch.testing.assert_close(stats.grad_norm, expected)
    assert math.isfinite(stats.grad_norm.item()) and stats.grad_norm.item() > 0
    weight = optimizer.weights[-1]
    weight.register_hook(lambda grad: grad * math.nan)
    stats = optimizer.step((x, y), (x, y), epoch=0, step=1)
    assert math.isfinite(stats.train_loss.item())
    assert not math.isfinite(stats.grad_norm.item())


# -- in a search ---------------------------------------------------------------------------
def _spoil(kind: str, stats: StepStats, network: torch.nn.Module) -> StepStats:
    """Step ``stats`` with ``kind`` made non-finite (the statistics: in the network)."""
    if kind == "training loss":
        stats.train_loss = stats.train_loss * math.nan
    elif kind == "weights' gradient":
        stats.grad_norm = stats.grad_norm * math.inf
    elif kind == "validation":
        assert stats.val_loss is not None
        stats.val_loss = stats.val_loss * math.nan
    else:
        norm = next(m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d))
        assert norm.running_var is not None
        norm.running_var.fill_(math.inf)
    return stats


@pytest.mark.parametrize(
    "kind", ["training loss", "weights' gradient", "validation", "batch-norm statistics"]
)
@pytest.mark.slow
def test_a_search_stops_at_the_first_non_finite_step_and_keeps_the_last_good_checkpoint(
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """4 steps, a checkpoint every 2, a window of 2 (the guard folds at each check and when
    full); step 3 goes bad: the stop names it, and the checkpoint after step 1 is kept."""
    real_step = MultiLevelOptimizer.step
    bad = 3

    def step(self: MultiLevelOptimizer, train: Any, val: Any, epoch: int, index: int) -> Any:
        stats = real_step(self, train, val, epoch, index)
        return _spoil(kind, stats, self.network) if index == bad else stats

    monkeypatch.setattr(MultiLevelOptimizer, "step", step)
    monkeypatch.setattr(loop, "FiniteGuard", functools.partial(FiniteGuard, window=2))
    out = tmp_path / "run"
    argv = [*TINY_SEARCH, "--subset", "64", "--checkpoint-every", "2", "--out", str(out)]
    line = one_line_error(capsys, argv)
    assert re.search(rf"the {re.escape(kind)}.* became non-finite at epoch 0, step {bad} ", line)
    assert line.endswith(f"the last good checkpoint is kept in {out / 'checkpoint.pt'}"), line
    state = load_checkpoint(out / "checkpoint.pt")
    assert (state["epoch"], state["step"]) == (0, 2)
