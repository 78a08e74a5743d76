"""``factornas search``: run or resume a search from a preset and/or a config file, flags
overriding both."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from factornas.cli import configfile, loggers, run_settings
from factornas.cli.formatting import DefaultsFormatter
from factornas.data.registry import DATASETS
from factornas.errors import FactorNASError, first_problem
from factornas.presets.search import SEARCH_PRESETS
from factornas.runtime.cuda_graphs import UNMEASURED
from factornas.runtime.precision import PRECISIONS
from factornas.search.config import FrozenSpec, LevelConfig, SearchConfig
from factornas.space.genotype import node_name

PRESET_DEFAULT = "default: the preset's"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help="search an architecture",
        formatter_class=DefaultsFormatter,
    )
    parser.add_argument(
        "--preset",
        help=f"one of: {', '.join(SEARCH_PRESETS)} (default: none; required without --config)",
    )
    parser.add_argument(
        "--dataset",
        help=f"a registered dataset: {', '.join(DATASETS)}, or one a --plugin registers "
        "(default: the preset's or config file's, cifar10 unless they say otherwise)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="dataset directory (default: $FACTORNAS_DATA or ./data; downloaded if missing)",
    )
    parser.add_argument(
        "--out", type=Path, help="run directory, rerun to resume (default: none; required to run)"
    )
    preset_flags: list[tuple[str, type, str]] = [
        ("--epochs", int, "search epochs"),
        ("--batch-size", int, "global batch size"),
        ("--channels", int, "initial channels"),
        ("--layers", int, "search cells"),
        ("--seed", int, "random seed (data split, weights, augmentation)"),
        ("--subset", int, "use only N training images (default: all)"),
        ("--lr", float, "peak learning rate of the network weights"),
        ("--arch-lr", float, "learning rate of every architecture level"),
        ("--warmup", int, "epochs before the architecture levels step (fewer than --epochs)"),
        ("--eval-batches", int, "validation batches scored per epoch (default: all)"),
        ("--checkpoint-every", int, "also checkpoint every N steps (default: once per epoch)"),
    ]
    for flag, kind, text in preset_flags:
        suffix = "" if "default:" in text else f" ({PRESET_DEFAULT})"
        parser.add_argument(flag, type=kind, help=text + suffix)
    parser.add_argument(
        "--schedule",
        choices=["sequential", "joint"],
        help="architecture levels step one after another (the paper) or from one validation "
        f"pass ({PRESET_DEFAULT})",
    )
    parser.add_argument(
        "--order",
        choices=["first", "second"],
        help=f"first- or second-order (unrolled) architecture gradient ({PRESET_DEFAULT})",
    )
    parser.add_argument(
        "--derivation",
        choices=["darts", "pairs", "threshold"],
        help="how the genotype is read off the weights: darts (each node's two strongest "
        "inputs), pairs (GDAS: its two strongest (op, input) pairs) or threshold (FairDARTS: "
        f"DARTS's edges whose op reaches the threshold); may differ on resume ({PRESET_DEFAULT})",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help=f"the threshold rule's weight an edge's op must reach ({PRESET_DEFAULT}: 0.85)",
    )
    parser.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="GROUP=CANDIDATE",
        help="freeze a group to one candidate on every edge, e.g. activation=selu (repeatable; "
        "default: every group searched)",
    )
    parser.add_argument(
        "--fix-from",
        action="append",
        default=[],
        metavar="RUN_DIR:GROUP",
        help="freeze a group to a finished search's weights, the paper's Config-A (repeatable; "
        "default: none)",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: GPU if present)")
    parser.add_argument(
        "--cell-execution",
        choices=["auto", "grouped", "per_edge"],
        help="grouped: the edges leaving a node run as one batched call (fewer launches); "
        "per_edge: one at a time; auto (default): grouped on a GPU, per edge on a CPU",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32 (default) or bf16 autocast; architecture weights, losses and optimizer "
        f"states stay fp32 ({UNMEASURED} for bf16)",
    )
    parser.add_argument(
        "--cuda-graphs",
        action=argparse.BooleanOptionalAction,
        default=False,
        help=f"replay each step from a CUDA graph ({UNMEASURED}; a no-op on CPU, and some "
        "searches step eagerly: docs/performance.md)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run")
    run_settings.add_arguments(parser)
    configfile.add_arguments(parser, "preset")
    loggers.add_arguments(parser)
    parser.set_defaults(handler=run)


def _frozen_levels(args: argparse.Namespace) -> list[LevelConfig]:
    levels = []
    for item in args.fix:
        group, sep, choice = item.partition("=")
        if not sep or not group or not choice:
            raise FactorNASError(
                f"--fix expects GROUP=CANDIDATE (e.g. activation=selu), got {item!r}"
            )
        levels.append(LevelConfig(group=group, frozen=FrozenSpec(choice=choice)))
    for item in args.fix_from:
        run_dir, sep, group = item.rpartition(":")
        if not sep or not run_dir or not group:
            raise FactorNASError(f"--fix-from expects RUN_DIR:GROUP, got {item!r}")
        levels.append(LevelConfig(group=group, frozen=FrozenSpec(from_run=Path(run_dir))))
    return levels


def config_from_args(args: argparse.Namespace, base: SearchConfig) -> SearchConfig:
    """``base`` (the preset amended by the config file) with every given flag applied,
    validated as a whole."""
    data: dict[str, Any] = {"root": args.data} if args.data is not None else {}
    if args.dataset is not None:
        data["dataset"] = args.dataset
    if args.subset is not None:
        data["subset"] = args.subset
    updates: dict[str, Any] = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "channels": args.channels,
        "layers": args.layers,
        "seed": args.seed,
        "schedule": args.schedule,
        "order": args.order,
        "arch_warmup_epochs": args.warmup,
        "eval_batches": args.eval_batches,
        "checkpoint_every": args.checkpoint_every,
        "precision": args.precision,
        "cell_execution": args.cell_execution,
    }
    changes: dict[str, Any] = {k: v for k, v in updates.items() if v is not None}
    for field, lr in (("weights_optimizer", args.lr), ("arch_optimizer", args.arch_lr)):
        if lr is not None:
            changes[field] = {**getattr(base, field).model_dump(), "lr": lr}
    changes["data"] = data
    derivation = {"rule": args.derivation, "threshold": args.threshold}
    derivation = {k: v for k, v in derivation.items() if v is not None}
    if derivation:
        changes["derivation"] = {**base.derivation.model_dump(), **derivation}
    frozen = _frozen_levels(args)
    if frozen:
        named = {lv.group for lv in frozen}
        changes["levels"] = [lv for lv in base.levels if lv.group not in named] + frozen
    try:
        return base.replace(**changes)
    except ValidationError as error:
        where, message = first_problem(error, "")
        raise FactorNASError(
            f"invalid search config{' at ' + where if where else ''}: {message}"
        ) from None


def run(args: argparse.Namespace) -> int:
    # Imported here: the data stack is only needed once a search actually runs.
    from factornas.search.loop import run_search

    base, settings = configfile.search_base(args)
    config = config_from_args(args, base)
    if args.print_config:
        return configfile.print_config(args, config, settings)
    if args.out is None:
        raise FactorNASError("--out is required: the run directory to write (or resume)")
    run_settings.apply_threads(args)
    params = config.model_dump(mode="json")  # what config.json gets
    with loggers.run_hooks(args, args.out, params, config.space) as hooks:
        result = run_search(
            config,
            args.out,
            overwrite=args.overwrite,
            device=args.device,
            show_progress=run_settings.progress_mode(args),
            on_epoch=hooks.on_epoch,
            on_window=hooks.on_window,
            cuda_graphs=args.cuda_graphs,
        )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun, rank 0 reports for everyone
    console = Console()
    console.print(f"genotype written to {result.run_dir / 'genotype.json'}")
    console.print(result.genotype.to_darts_string(), soft_wrap=True)
    for cell_type in ("normal", "reduce"):
        for target, edge in result.genotype.cell(cell_type).edges():
            console.print(
                f"  {cell_type:6s} {node_name(edge.source)} → {node_name(target)}: {edge.label()}",
                soft_wrap=True,
                highlight=False,
            )
    if config.require_skip_connect and not result.has_skip_connect:
        console.print(
            "[yellow]warning: the normal cell has no skip_connect; the paper discards such "
            "searches (§4.2)[/yellow]",
            soft_wrap=True,
        )
    return 0
