"""The retraining loop: train a genotype's evaluation network from scratch, resumably.

One run directory holds ``config.json`` (the retraining config and the genotype),
``metrics.jsonl`` (one record per epoch), ``checkpoint.pt`` (the full state after the last
finished epoch) and, once done, ``summary.json``. Running the same call on the same directory
resumes from the checkpoint and gives exactly the numbers an uninterrupted run gives: the
learning rate and drop-path probability are pure functions of the epoch, the batch order a pure
function of (seed, epoch), and every random generator (global and augmentation) is saved.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.nn import functional as F

from factornas.data.batches import Batch
from factornas.errors import FactorNASError
from factornas.evaluate.config import RetrainConfig
from factornas.evaluate.cost import count_parameters
from factornas.evaluate.data import build_retrain_data
from factornas.evaluate.graphed import Outputs, retrain_graphs, step_key
from factornas.evaluate.network import EvalNetwork, build_network
from factornas.evaluate.schedule import drop_path_probability
from factornas.runtime import optim
from factornas.runtime.checkpoint import is_checkpoint_of, load_checkpoint, save_checkpoint
from factornas.runtime.cuda_graphs import StepGraphs
from factornas.runtime.device import pick_device
from factornas.runtime.memory import check_fits
from factornas.runtime.meter import DeviceSums
from factornas.runtime.metrics import MetricsLog, read_metrics
from factornas.runtime.optimizers import build_optimizer, scheduled_lr
from factornas.runtime.precision import Precision, at_least_fp32, autocast
from factornas.runtime.progress import (
    REFRESH_EVERY,
    EpochSummary,
    ProgressMode,
    ProgressReporter,
    RunShape,
    make_reporter,
    progress_mode,
)
from factornas.runtime.rng import capture_rng_state, restore_rng_state, seed_everything
from factornas.runtime.rundir import RunDir, legacy_adopter, prepare_run_dir
from factornas.runtime.step_windows import StepRecord, StepWindows
from factornas.space.genotype import Genotype

CHECKPOINT_FORMAT = 1
#: Recognises a retraining run directory of factornas 0.1 (no marker) by its checkpoint.
adopt_train_run = legacy_adopter(lambda path: is_checkpoint_of(path, CHECKPOINT_FORMAT, "model"))
#: Offset of the augmentation generator's seed from the run seed.
AUGMENT_SEED_OFFSET = 1
#: Called with each progress window's record as it closes (the epoch record's ``steps`` gets
#: the same ones).
WindowHook = Callable[[StepRecord], None]


class RetrainData(Protocol):
    """What the loop needs from its data: augmented training batches and test batches."""

    num_classes: int
    in_channels: int
    steps_per_epoch: int

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        """The batches of ``epoch``, in an order fixed by (seed, epoch), augmented with
        ``generator``."""
        ...

    def test_batches(self) -> Iterator[Batch]:
        """The whole test set (or its configured subset), normalized, not augmented."""
        ...


class TrainingDivergedError(FactorNASError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class RetrainResult:
    """What a finished retraining reports."""

    run_dir: Path
    last: dict[str, Any]
    best_test_top1: float
    params: int
    resumed_from_epoch: int


class _Meter:
    """Sums of loss and top-1/top-5 hits, kept on the device (:class:`DeviceSums`): a step
    never waits for the device; :meth:`result` does."""

    def __init__(self, device: torch.device) -> None:
        self.sums = DeviceSums(3, device)
        self.count = 0

    def update(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hits = top.eq(labels.unsqueeze(1))
        n = labels.shape[0]
        self.sums.add([loss.detach() * n, hits[:, 0].sum(), hits.any(dim=1).sum()])
        self.count += n

    def totals(self) -> list[float]:
        """Loss × samples, top-1 hits, top-5 hits so far: waits for the device."""
        return self.sums.read()

    def result(self, totals: list[float] | None = None) -> dict[str, float]:
        """Mean loss and top-1/top-5 (%), of ``totals`` just read or read now."""
        loss, top1, top5 = (t / max(self.count, 1) for t in totals or self.totals())
        return {"loss": loss, "top1": 100.0 * top1, "top5": 100.0 * top5}


def _loss(
    config: RetrainConfig, logits: torch.Tensor, aux: torch.Tensor | None, labels: torch.Tensor
) -> torch.Tensor:
    """Main cross-entropy plus the weighted auxiliary one, both label-smoothed as configured."""
    smoothing = config.label_smoothing
    loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    if aux is not None and config.auxiliary_weight > 0:
        loss = loss + config.auxiliary_weight * F.cross_entropy(
            aux, labels, label_smoothing=smoothing
        )
    return loss


def train_epoch(
    model: EvalNetwork,
    data: RetrainData,
    optimizer: torch.optim.Optimizer,
    config: RetrainConfig,
    epoch: int,
    generator: torch.Generator,
    reporter: ProgressReporter,
    refresh_every: int = REFRESH_EVERY,
    graphs: StepGraphs[Outputs] | None = None,
    on_window: WindowHook | None = None,
) -> tuple[dict[str, float], list[StepRecord]]:
    """One pass over the training batches; returns mean loss and top-1/top-5 (%), and the
    epoch's progress windows (:mod:`factornas.runtime.step_windows`). With ``graphs``
    (:mod:`factornas.evaluate.graphed`) the steps replay from CUDA graphs.

    A step reads nothing on the host. Every ``refresh_every`` steps and at the end, the running
    sums are read once: each read closes a progress window (for ``reporter``, ``on_window``
    and the epoch record) and stops a diverged loss, since the sum of the (non-negative)
    losses is finite exactly while every loss so far was.
    """
    model.train()
    meter = _Meter(next(model.parameters()).device)
    params = list(model.parameters())
    lr = scheduled_lr(config.optimizer, epoch, config.epochs)  # what the caller set
    windows = StepWindows(accuracy_scale=100.0)  # top-1 in %, as the epoch record's
    first_step = epoch * data.steps_per_epoch

    def close_window(step: int, totals: list[float]) -> None:
        loss = totals[0] / max(meter.count, 1)
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"training loss became {loss} in epoch {epoch} by step {step}: "
                "lower the learning rate (--lr) or keep gradient clipping on"
            )
        sums = (totals[0], totals[1], float(meter.count))
        record = windows.close(epoch=epoch, step=first_step + step, sums=sums, lr=lr)
        reporter.window(record)
        if on_window is not None:
            on_window(record)

    def train_step(images: torch.Tensor, labels: torch.Tensor) -> Outputs:
        with autocast(images.device, config.precision):
            logits, aux = model(images)
        logits = at_least_fp32(logits)
        loss = _loss(config, logits, None if aux is None else at_least_fp32(aux), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optim.step(optimizer, params, config.grad_clip)
        return loss.detach(), logits.detach()

    step = -1
    for step, (images, labels) in enumerate(data.train_batches(epoch, generator)):
        if graphs is None:
            loss, logits = train_step(images, labels)
        else:  # replayed: consumed (queued) by the meter before the next step overwrites them
            key = step_key(model, images, labels)
            loss, logits = graphs(key, train_step, [images, labels])
        meter.update(loss, logits, labels)
        reporter.advance()
        if (step + 1) % refresh_every == 0:
            close_window(step, meter.totals())
    totals = meter.totals()
    if windows.pending(meter.count):
        close_window(step, totals)
    return meter.result(totals), windows.records


@torch.no_grad()
def evaluate(
    model: EvalNetwork, batches: Iterator[Batch], precision: Precision = "fp32"
) -> dict[str, float]:
    """Plain cross-entropy and top-1/top-5 (%) in eval mode (no auxiliary head, no drop path),
    the forward in ``precision``."""
    model.eval()
    meter = _Meter(next(model.parameters()).device)
    for images, labels in batches:
        with autocast(images.device, precision):
            logits, _ = model(images)
        logits = at_least_fp32(logits)
        meter.update(F.cross_entropy(logits, labels), logits, labels)
    return meter.result()


def _check_data(config: RetrainConfig, data: RetrainData) -> None:
    network = config.network
    if (network.num_classes, network.in_channels) != (data.num_classes, data.in_channels):
        raise FactorNASError(
            f"the network expects {network.num_classes} classes of {network.in_channels}-channel "
            f"images, the data has {data.num_classes} classes of {data.in_channels}-channel "
            "images: set network.num_classes and network.in_channels from the dataset"
        )


def retrain(
    genotype: Genotype,
    config: RetrainConfig,
    out: str | Path,
    data: RetrainData,
    *,
    device: str | torch.device | None = None,
    overwrite: bool = False,
    progress: bool | ProgressMode = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_window: WindowHook | None = None,
    cuda_graphs: bool = False,
) -> RetrainResult:
    """Train ``genotype``'s evaluation network on ``data`` as ``config`` says, in ``out``;
    ``on_epoch`` (a logger) sees each epoch's record after ``metrics.jsonl`` does,
    ``on_window`` each progress window's as it closes. ``progress``
    (:mod:`factornas.runtime.progress`): ``True`` or ``"auto"`` a bar on a terminal and plain
    lines on stderr elsewhere, ``"lines"`` plain lines, ``False`` or ``"off"`` nothing.

    The same call on the same ``out`` resumes after the last finished epoch; a finished run
    or a checkpoint of another configuration is refused unless ``overwrite``. ``cuda_graphs``
    replays the training steps from CUDA graphs (a no-op, said once, off CUDA).
    """
    _check_data(config, data)
    device = device if isinstance(device, torch.device) else pick_device(device)
    run: RunDir = prepare_run_dir(
        out,
        {"config": config.model_dump(mode="json"), "genotype": genotype.model_dump(mode="json")},
        kind="train",
        overwrite=overwrite,
        normalize=_current_run,
        adopt=adopt_train_run,
    )
    try:
        return _retrain_in(
            run,
            genotype,
            config,
            data,
            device,
            progress=progress_mode(progress),
            on_epoch=on_epoch,
            on_window=on_window,
            cuda_graphs=cuda_graphs,
        )
    except BaseException:
        run.abandon()  # a run that fails before its first checkpoint leaves nothing behind
        raise
    finally:
        run.release()


def run_retrain(
    genotype: Genotype,
    config: RetrainConfig,
    out: str | Path,
    *,
    device: str | torch.device | None = None,
    overwrite: bool = False,
    progress: bool | ProgressMode = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_window: WindowHook | None = None,
    cuda_graphs: bool = False,
) -> RetrainResult:
    """Load ``config.data``, size the network's classifier and stem to it, and
    :func:`retrain` ``genotype`` in ``out`` (the same call resumes)."""
    device = device if isinstance(device, torch.device) else pick_device(device)
    data = build_retrain_data(config, device)
    network = config.network.model_copy(
        update={"num_classes": data.num_classes, "in_channels": data.in_channels}
    )
    config = RetrainConfig.model_validate({**config.model_dump(), "network": network.model_dump()})
    return retrain(
        genotype,
        config,
        out,
        data,
        device=device,
        overwrite=overwrite,
        progress=progress,
        on_epoch=on_epoch,
        on_window=on_window,
        cuda_graphs=cuda_graphs,
    )


def _current_run(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved retraining's config as this version writes it (new settings at their
    defaults), so a run of an earlier version resumes."""
    config = RetrainConfig.model_validate(saved["config"]).model_dump(mode="json")
    return {**saved, "config": config}


def _retrain_in(
    run: RunDir,
    genotype: Genotype,
    config: RetrainConfig,
    data: RetrainData,
    device: torch.device,
    *,
    progress: ProgressMode,
    on_epoch: Callable[[dict[str, Any]], None] | None,
    on_window: WindowHook | None,
    cuda_graphs: bool,
) -> RetrainResult:
    seed_everything(config.seed)
    check_fits(
        lambda: build_network(genotype, config.network),
        channels=config.network.channels,
        layers=config.network.layers,
        device=device,
        bytes_per_parameter=3 * 4,  # fp32 weights, gradients, momentum
        what="the evaluation network",
    )
    model = build_network(genotype, config.network).to(device)
    optimizer = build_optimizer(config.optimizer, list(model.parameters()))
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed + AUGMENT_SEED_OFFSET)
    start_epoch, best = 0, 0.0
    if run.resuming:
        state = load_checkpoint(run.checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["augment_rng"])
        restore_rng_state(state["rng"])
        start_epoch, best = int(state["epoch"]), float(state["best_test_top1"])
    graphs = retrain_graphs(cuda_graphs, device, optimizer)
    metrics = MetricsLog(run.metrics_path, keep_epochs_below=start_epoch)
    params = count_parameters(model)

    # A run killed between its last checkpoint and its summary resumes with nothing to train.
    records = read_metrics(run.metrics_path)
    last: dict[str, Any] = records[-1] if records else {}
    steps = data.steps_per_epoch
    shape = RunShape("train", config.epochs, steps, to_percent=1.0)
    with make_reporter(progress, shape, start_epoch * steps) as reporter:
        if run.resuming:
            reporter.resuming(run.root, start_epoch, 0)
        for epoch in range(start_epoch, config.epochs):
            started = time.perf_counter()
            lr = scheduled_lr(config.optimizer, epoch, config.epochs)
            optim.set_lr(optimizer, lr)
            model.drop_path_prob = drop_path_probability(config.drop_path, epoch, config.epochs)
            train, windows = train_epoch(
                model,
                data,
                optimizer,
                config,
                epoch,
                generator,
                reporter,
                graphs=graphs,
                on_window=on_window,
            )
            test = evaluate(model, data.test_batches(), config.precision)
            best = max(best, test["top1"])
            last = {
                "epoch": epoch,
                "lr": lr,
                "drop_path": model.drop_path_prob,
                **{f"train_{k}": v for k, v in train.items()},
                **{f"test_{k}": v for k, v in test.items()},
                "steps": windows,
                "seconds": time.perf_counter() - started,
            }
            metrics.write(last)
            if on_epoch is not None:
                on_epoch(last)
            reporter.epoch_done(
                EpochSummary(
                    epoch, train["loss"], train["top1"], "test", test["loss"], test["top1"]
                )
            )
            save_checkpoint(
                run.checkpoint_path,
                {
                    "format": CHECKPOINT_FORMAT,
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "augment_rng": generator.get_state(),
                    "rng": capture_rng_state(),
                    "best_test_top1": best,
                },
            )
    run.finish(
        {
            "epochs": config.epochs,
            "params": params,
            "test_top1": last.get("test_top1"),
            "test_top5": last.get("test_top5"),
            "best_test_top1": best,
        }
    )
    return RetrainResult(run.root, last, best, params, start_epoch)
