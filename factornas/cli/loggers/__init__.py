"""``--log``: loggers that watch a search or retraining beside ``metrics.jsonl``."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factornas.cli.loggers.tensorboard import LOG_DIR, TensorBoardLogger
from factornas.runtime.step_windows import StepRecord
from factornas.space.config import SearchSpace

LOGGERS = ("tensorboard",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log",
        action="append",
        default=[],
        choices=LOGGERS,
        help=f"also log each epoch, and each progress window's training loss, accuracy and "
        f"learning rate, to TensorBoard (RUN_DIR/{LOG_DIR}); metrics.jsonl is always written "
        "(default: no other log)",
    )


@dataclass(frozen=True)
class RunHooks:
    """What the loops call on rank 0: ``on_epoch`` with each epoch's record (after
    ``metrics.jsonl`` has it), ``on_window`` with each progress window's record."""

    on_epoch: Callable[[dict[str, Any]], None] | None = None
    on_window: Callable[[StepRecord], None] | None = None


@contextlib.contextmanager
def run_hooks(
    args: argparse.Namespace, run_dir: Path, space: SearchSpace | None = None
) -> Iterator[RunHooks]:
    """The hooks ``--log`` asks for (none without one), closed on the way out.

    Created before the run starts, so a missing package fails before any work; under
    ``torchrun`` only rank 0 logs, as only it writes ``metrics.jsonl``.
    """
    if "tensorboard" not in args.log or int(os.environ.get("RANK", "0")) != 0:
        yield RunHooks()
        return
    logger = TensorBoardLogger(run_dir, space)
    try:
        yield RunHooks(on_epoch=logger, on_window=logger.window)
    finally:
        logger.close()
