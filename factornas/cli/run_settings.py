"""The flags of ``search`` and ``train`` that change how a run runs, not what it computes:
progress output and torch's threads. None is part of the config (``--print-config`` leaves
them out, ``config.json`` does not record them), so a run may resume under others."""

from __future__ import annotations

import argparse

import torch

from factornas.cli.arguments import int_in
from factornas.runtime.progress import REFRESH_EVERY, ProgressMode

MAX_THREADS = 4096


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--no-progress",
        action="store_true",
        help=f"no progress bar: plain lines on stderr (every {REFRESH_EVERY} steps and each "
        "epoch), as off a terminal (default: a bar on a terminal)",
    )
    output.add_argument(
        "--quiet",
        action="store_true",
        help="no progress output at all (notes, errors and the result still print)",
    )
    parser.add_argument(
        "--threads",
        type=int_in(1, MAX_THREADS),
        help="torch's intra-op CPU threads (default: torch's: $OMP_NUM_THREADS when set, "
        "else one per core); not part of the config, so a resumed run may use another",
    )


def progress_mode(args: argparse.Namespace) -> ProgressMode:
    """``--quiet``: nothing; ``--no-progress``: plain lines; else a bar on a terminal."""
    if args.quiet:
        return "off"
    return "lines" if args.no_progress else "auto"


def apply_threads(args: argparse.Namespace) -> None:
    """Give torch ``--threads`` intra-op threads for this process (no flag: torch's own)."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
