"""A step reads no tensor value on the host: no ``float()``, ``int()``, ``.item()``,
``.tolist()``, no Python branch on a tensor. Each such read waits for the device to finish
everything queued, so one per step keeps the host from queueing the next step while the device
runs this one. The loops read their running sums once per progress refresh and epoch.

The reads are caught by making the Tensor methods behind them raise while a step runs; a read
from an allowed function (anywhere up the call stack) goes through.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from factornas.data.batches import Batch
from factornas.data.config import DataConfig
from factornas.evaluate import train as train_module
from factornas.evaluate.config import NetworkConfig, RetrainConfig
from factornas.kernels.mixed_activation import draw_rrelu_seed
from factornas.presets.published import published_genotype
from factornas.presets.search import search_preset
from factornas.runtime.meter import DeviceSums
from factornas.runtime.progress import ProgressReporter, RunShape, SilentReporter
from factornas.search import loop as loop_module
from factornas.search.config import LevelConfig, SearchConfig
from factornas.search.loop import Search, build_network
from factornas.search.optimizer import MultiLevelOptimizer
from factornas.supernet.sampled import sampled_op_paths

#: The Tensor methods through which Python reads a value on the host.
READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__")
#: RReLU's seed is drawn from a CPU generator and read on the host once per kernel call (no
#: device sync): the one read a step may make.
ALWAYS_ALLOWED: tuple[Callable[..., Any], ...] = (draw_rrelu_seed,)


class HostRead(AssertionError):
    """A tensor value was read on the host where none may be."""


@contextmanager
def no_host_reads(allowed: Iterable[Callable[..., Any]] = ()) -> Iterator[list[str]]:
    """Make every read in :data:`READS` raise :class:`HostRead` unless a function of
    ``allowed`` (or :data:`ALWAYS_ALLOWED`) is on the call stack; yields the allowed reads."""
    codes = {inspect.unwrap(f).__code__ for f in (*ALWAYS_ALLOWED, *allowed)}
    granted: list[str] = []

    def guarded(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def read(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            frame = inspect.currentframe()
            while frame is not None:
                if frame.f_code in codes:
                    granted.append(frame.f_code.co_name)
                    return original(self, *args, **kwargs)
                frame = frame.f_back
            raise HostRead(f"Tensor.{name} read a value on the host")

        return read

    with pytest.MonkeyPatch.context() as patch:
        for name in READS:
            patch.setattr(torch.Tensor, name, guarded(name, getattr(torch.Tensor, name)))
        yield granted


def test_the_guard_catches_every_kind_of_read() -> None:
    x = torch.ones(())
    reads = [lambda: x.item(), lambda: x.tolist(), lambda: float(x), lambda: int(x)]
    reads += [lambda: bool(x), lambda: [0, 1][x.long()], lambda: "yes" if x else "no"]
    with no_host_reads():
        for read in reads:
            with pytest.raises(HostRead):
                read()
    assert float(x) == 1.0  # restored afterwards


def _batches(side: int = 8) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    g = torch.Generator().manual_seed(0)
    return tuple((torch.randn(4, 3, side, side, generator=g), torch.arange(4) % 10) for _ in "tv")


def _optimizer(preset: str, **changes: Any) -> MultiLevelOptimizer:
    config = search_preset(preset).replace(channels=4, layers=3, batch_size=4, **changes)
    torch.manual_seed(0)
    return MultiLevelOptimizer(build_network(config, num_classes=10, in_channels=3), config)


PRESETS = ["darts", "pc_darts", "adarts"]


@pytest.mark.parametrize("execution", ["grouped", "per_edge"])
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("schedule", ["sequential", "joint"])
@pytest.mark.parametrize("order", ["first", pytest.param("second", marks=pytest.mark.slow)])
def test_a_step_reads_nothing_on_the_host(
    preset: str, schedule: str, order: str, execution: str
) -> None:
    optimizer = _optimizer(
        preset, schedule=schedule, order=order, grad_clip=0.1, cell_execution=execution
    )
    train, val = _batches()
    epoch = max(level.config.warmup_epochs for level in optimizer.levels)  # every level steps
    optimizer.step(train, val, epoch=epoch, step=0)  # the first step creates optimizer state
    before = [p.detach().clone() for p in optimizer.network.arch.parameters()]
    with no_host_reads():
        stats = optimizer.step(train, val, epoch=epoch, step=1)
    assert stats.arch_steps == len(optimizer.levels) > 0
    assert isinstance(stats.train_loss, torch.Tensor) and isinstance(stats.val_loss, torch.Tensor)
    assert stats.train_correct.dtype == torch.int64 and stats.train_count == 4
    after = optimizer.network.arch.parameters()
    assert all(not torch.equal(b, a) for b, a in zip(before, after, strict=True))


RELAXED = ["gdas", "drnas", "fair_darts", "sdarts_rs", "beta_darts", "adarts_gdas"]


@pytest.mark.parametrize("preset", RELAXED)
def test_a_relaxed_step_reads_at_most_the_sampled_paths(preset: str) -> None:
    """Dirichlet samples, sigmoids, smoothing noise and the regularizers stay on the device.
    Under a sampled relaxation (GDAS) which op each edge runs is a host decision:
    :func:`sampled_op_paths` reads every sampled index of a forward pass at once, one read per
    pass (docs/relaxations.md), and nothing else is read."""
    optimizer = _optimizer(preset, grad_clip=0.1)
    train, val = _batches()
    optimizer.step(train, val, epoch=0, step=0)
    with no_host_reads([sampled_op_paths]) as granted:
        stats = optimizer.step(train, val, epoch=0, step=1)
    assert stats.arch_steps == len(optimizer.levels) > 0
    sampled = preset in ("gdas", "adarts_gdas")
    passes = 1 + len(optimizer.levels)  # the weight step, then one validation pass per level
    assert granted.count("sampled_op_paths") == (passes if sampled else 0)


def test_an_adversarial_smoothing_step_reads_nothing() -> None:
    """SDARTS-ADV's PGD ascent (signs and clamps) stays on the device."""
    smoothing = {"mode": "adversarial", "attack_steps": 2}
    level = LevelConfig.model_validate({"group": "op", "smoothing": smoothing})
    optimizer = _optimizer("darts", levels=(level,))
    train, val = _batches()
    optimizer.step(train, val, epoch=0, step=0)
    with no_host_reads():
        assert optimizer.step(train, val, epoch=0, step=1).arch_steps == 1


@pytest.mark.parametrize("preset", ["darts", "adarts"])
def test_a_warm_up_step_reads_nothing_either(preset: str) -> None:
    """A level in warm-up does not step: the weight step alone, or with the other level."""
    groups = {"darts": "op", "adarts": "activation"}
    optimizer = _optimizer(preset, levels=(LevelConfig(group=groups[preset], warmup_epochs=1),))
    with no_host_reads():
        stats = optimizer.step(*_batches(), epoch=0, step=0)
    assert stats.arch_steps == len(optimizer.levels) - 1
    assert (stats.val_loss is None) == (stats.arch_steps == 0)


def _tiny_search(tmp_path: Path, refresh_every: int) -> Search:
    config = SearchConfig(
        space=search_preset("darts").space, channels=4, layers=3, batch_size=8, epochs=2,
        eval_batches=2, grad_clip=1.0,
        data={"dataset": "synthetic", "synthetic_size": 64, "synthetic_image": 8},
    )  # fmt: skip
    search = Search(config, tmp_path / "run", device="cpu", show_progress=True)
    search.refresh_every = refresh_every
    return search


@pytest.mark.slow
def test_the_search_loop_reads_only_at_refreshes_and_epoch_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything inside an epoch runs guarded; the running sums' reads are allowed (counted),
    and so are the records written once per epoch (genotype, architecture weights)."""
    search = _tiny_search(tmp_path, refresh_every=2)
    epoch_end = (
        loop_module.current_genotype,
        loop_module.arch_softmax,
        loop_module.edge_scales_record,
        loop_module.loss_terms_record,
    )
    reads: list[str] = []
    run_epoch = Search._run_epoch

    def guarded_epoch(self: Search, reporter: ProgressReporter) -> dict[str, Any]:
        with no_host_reads([DeviceSums.read, *epoch_end]) as granted:
            record = run_epoch(self, reporter)
        reads.extend(name for name in granted if name == "read")
        return record

    monkeypatch.setattr(Search, "_run_epoch", guarded_epoch)
    result = search.run_search()
    steps = search.data.steps_per_epoch
    # per epoch: a refresh every 2 steps, the end of the epoch, the end of its evaluation
    assert len(reads) == 2 * (steps // 2 + 2)
    assert len(result.epochs) == 2 and result.epochs[-1]["train_loss"] > 0


class _RetrainData:
    """Random 8×8 images of four classes, four batches an epoch."""

    num_classes, in_channels, steps_per_epoch = 4, 3, 4

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        for _ in range(self.steps_per_epoch):
            labels = torch.randint(0, 4, (8,), generator=generator)
            yield torch.randn(8, 3, 8, 8, generator=generator), labels

    def test_batches(self) -> Iterator[Batch]:
        return iter(())


def _train_epoch(refresh_every: int, grad_clip: float | None = 5.0) -> dict[str, float]:
    config = RetrainConfig(
        network=NetworkConfig(channels=4, layers=3, num_classes=4, in_channels=3),
        data=DataConfig(dataset="synthetic", cutout=16),
        epochs=1, batch_size=8, auxiliary_weight=0.4, grad_clip=grad_clip,
    )  # fmt: skip
    torch.manual_seed(0)
    model = train_module.build_network(published_genotype("darts_v2"), config.network)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, fused=True)
    reporter = SilentReporter(RunShape("train", 1, _RetrainData.steps_per_epoch, 1.0))
    generator = torch.Generator().manual_seed(1)
    result, _ = train_module.train_epoch(
        model, _RetrainData(), optimizer, config, 0, generator, reporter, refresh_every
    )
    return result


def test_the_retraining_loop_reads_only_at_refreshes() -> None:
    with no_host_reads([DeviceSums.read]) as granted:
        result = _train_epoch(refresh_every=2, grad_clip=1.0)
    assert len(granted) == _RetrainData.steps_per_epoch // 2 + 1  # refreshes, then the result
    assert result["loss"] > 0


def test_a_diverged_retraining_stops_at_the_next_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The finiteness check reads the running loss sum at a refresh, not every step."""
    calls = {"n": 0}
    loss = train_module._loss

    def nan_from_the_second_step(*args: Any) -> torch.Tensor:
        calls["n"] += 1
        return loss(*args) * (float("nan") if calls["n"] >= 2 else 1.0)

    monkeypatch.setattr(train_module, "_loss", nan_from_the_second_step)
    with pytest.raises(train_module.TrainingDivergedError, match="by step 2"):
        _train_epoch(refresh_every=3)
    assert calls["n"] == 3
