"""``--log``: loggers that watch a search or retraining beside ``metrics.jsonl``.

``--log`` repeats (``--log tensorboard --log wandb --log mlflow``); every logger sees the same
records, after ``metrics.jsonl`` has them, and names them the same way
(:mod:`factornas.cli.loggers.record_view`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from factornas.cli.loggers.tensorboard import TensorBoardLogger
from factornas.runtime.step_windows import StepRecord
from factornas.space.config import SearchSpace

LOGGERS = ("tensorboard", "wandb", "mlflow")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log",
        action="append",
        default=[],
        choices=LOGGERS,
        help="also log each epoch (numbers, softmaxes, genotype, cell diagrams) and each "
        "progress window's training loss, accuracy and learning rate to TensorBoard "
        "(RUN_DIR/tensorboard), Weights & Biases (RUN_DIR/wandb) or MLflow "
        "(MLFLOW_TRACKING_URI, else RUN_DIR/mlruns); repeat for several. metrics.jsonl is "
        "always written (default: no other log)",
    )


class RunLogger(Protocol):
    def __call__(self, record: Mapping[str, Any]) -> None: ...

    def window(self, record: Mapping[str, Any]) -> None: ...

    def close(self, failed: bool = False) -> None: ...


@dataclass(frozen=True)
class RunHooks:
    """What the loops call on rank 0: ``on_epoch`` with each epoch's record (after
    ``metrics.jsonl`` has it), ``on_window`` with each progress window's record."""

    on_epoch: Callable[[dict[str, Any]], None] | None = None
    on_window: Callable[[StepRecord], None] | None = None


def _logger(
    name: str, run_dir: Path, params: Mapping[str, Any], space: SearchSpace | None
) -> RunLogger:
    # The trackers' modules are imported only when asked for: each imports its library.
    if name == "wandb":
        from factornas.cli.loggers.wandb import WandbLogger

        return WandbLogger(run_dir, params, space)
    if name == "mlflow":
        from factornas.cli.loggers.mlflow import MlflowLogger

        return MlflowLogger(run_dir, params, space)
    return TensorBoardLogger(run_dir, space)


@contextlib.contextmanager
def run_hooks(
    args: argparse.Namespace,
    run_dir: Path,
    params: Mapping[str, Any],
    space: SearchSpace | None = None,
) -> Iterator[RunHooks]:
    """The hooks ``--log`` asks for (none without one), closed on the way out; a tracker's
    run is marked failed when the run stops on an error.

    ``params`` is the resolved config, as ``config.json`` holds it: the trackers' parameters.
    Every logger is created before the run starts, so a missing package fails before any
    work; under ``torchrun`` only rank 0 logs, as only it writes ``metrics.jsonl``.
    """
    if not args.log or int(os.environ.get("RANK", "0")) != 0:
        yield RunHooks()
        return
    loggers = [_logger(name, Path(run_dir), params, space) for name in dict.fromkeys(args.log)]

    def on_epoch(record: dict[str, Any]) -> None:
        for logger in loggers:
            logger(record)

    def on_window(record: StepRecord) -> None:
        for logger in loggers:
            logger.window(record)

    failed = True
    try:
        yield RunHooks(on_epoch=on_epoch, on_window=on_window)
        failed = False
    finally:
        for logger in loggers:
            logger.close(failed=failed)
