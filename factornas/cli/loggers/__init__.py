"""``--log``: loggers that watch a search or retraining beside ``metrics.jsonl``."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from factornas.cli.loggers.tensorboard import LOG_DIR, TensorBoardLogger
from factornas.space.config import SearchSpace

LOGGERS = ("tensorboard",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log",
        action="append",
        default=[],
        choices=LOGGERS,
        help=f"also log each epoch to TensorBoard (RUN_DIR/{LOG_DIR}); metrics.jsonl is always "
        "written (default: no other log)",
    )


@contextlib.contextmanager
def epoch_logger(
    args: argparse.Namespace, run_dir: Path, space: SearchSpace | None = None
) -> Iterator[Callable[[dict[str, Any]], None] | None]:
    """The epoch hook ``--log`` asks for (``None`` without one), closed on the way out.

    Created before the run starts, so a missing package fails before any work; under
    ``torchrun`` only rank 0 logs, as only it writes ``metrics.jsonl``.
    """
    if "tensorboard" not in args.log or int(os.environ.get("RANK", "0")) != 0:
        yield None
        return
    logger = TensorBoardLogger(run_dir, space)
    try:
        yield logger
    finally:
        logger.close()
