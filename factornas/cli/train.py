"""``factornas train``: retrain a genotype from scratch with a paper recipe and/or a config
file, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from factornas.cli import configfile, loggers, run_settings
from factornas.cli.formatting import DefaultsFormatter
from factornas.data.registry import DATASETS
from factornas.errors import FactorNASError, first_problem
from factornas.evaluate.config import RetrainConfig
from factornas.evaluate.train import run_retrain
from factornas.presets.published import PUBLISHED
from factornas.presets.retrain import RETRAIN_RECIPES, network_preset
from factornas.presets.source import load_genotype
from factornas.runtime.cuda_graphs import UNMEASURED
from factornas.runtime.precision import PRECISIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="retrain a genotype from scratch", formatter_class=DefaultsFormatter
    )
    parser.add_argument(
        "--genotype",
        required=True,
        help=f"genotype.json, a search run directory, or one of: {', '.join(PUBLISHED)}",
    )
    parser.add_argument(
        "--dataset",
        help=f"a registered dataset: {', '.join(DATASETS)}, or one a --plugin registers "
        "(default: the recipe's or config file's, cifar10 unless they say otherwise)",
    )
    parser.add_argument(
        "--out", type=Path, help="run directory, rerun to resume (default: none; required to run)"
    )
    parser.add_argument(
        "--recipe",
        choices=list(RETRAIN_RECIPES),
        help="paper recipe (default: imagenet for --dataset imagenet, else cifar10)",
    )
    parser.add_argument(
        "--network", choices=["cifar", "imagenet"], help="network shape (default: the recipe's)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="dataset directory (default: $FACTORNAS_DATA or ./data; downloaded if missing)",
    )
    recipe_flags: list[tuple[str, type, str]] = [
        ("--epochs", int, "training epochs"),
        ("--batch-size", int, "batch size"),
        ("--channels", int, "initial channels"),
        ("--layers", int, "cells"),
        ("--seed", int, "random seed"),
        ("--lr", float, "peak learning rate"),
        ("--drop-path", float, "final drop-path probability"),
    ]
    for flag, kind, text in recipe_flags:
        parser.add_argument(flag, type=kind, help=f"{text} (default: the recipe's)")
    parser.add_argument("--subset", type=int, help="train on only N images (default: all)")
    parser.add_argument("--test-subset", type=int, help="evaluate on only N images (default: all)")
    parser.add_argument(
        "--activation",
        help="retrain with this activation on every edge, e.g. relu (default: the genotype's)",
    )
    parser.add_argument(
        "--inner-group",
        help="input factor also used inside sep_conv (default: the search run's setting)",
    )
    parser.add_argument(
        "--workers", type=int, help="ImageNet decoding processes (default: the config's, 4)"
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: GPU if present)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help=f"fp32 (default) or bf16 autocast; losses and optimizer states stay fp32 "
        f"({UNMEASURED} for bf16)",
    )
    parser.add_argument(
        "--cuda-graphs",
        action=argparse.BooleanOptionalAction,
        default=False,
        help=f"replay each training step from a CUDA graph ({UNMEASURED}; a no-op on CPU)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run")
    run_settings.add_arguments(parser)
    configfile.add_arguments(parser, "recipe")
    loggers.add_arguments(parser)
    parser.set_defaults(handler=run)


def _validated(raw: dict[str, Any]) -> RetrainConfig:
    try:
        return RetrainConfig.model_validate(raw)
    except ValidationError as error:
        where, message = first_problem(error, "config")
        raise FactorNASError(f"invalid setting {where}: {message}") from None


def config_from_args(
    args: argparse.Namespace, inner_group: str | None, base: RetrainConfig
) -> RetrainConfig:
    """``base`` (the recipe amended by the config file) with every flag given applied,
    validated as a whole."""
    raw = base.model_dump()
    if args.network:
        raw["network"] = network_preset(args.network).model_dump()
    network_updates = {
        "channels": args.channels,
        "layers": args.layers,
        "inner_group": args.inner_group or inner_group,
    }
    raw["network"].update({k: v for k, v in network_updates.items() if v is not None})
    if args.activation:
        raw["network"]["override"] = {**raw["network"]["override"], "activation": args.activation}
    data_updates = {
        "dataset": args.dataset,
        "root": args.data,
        "subset": args.subset,
        "test_subset": args.test_subset,
    }
    raw["data"].update({k: v for k, v in data_updates.items() if v is not None})
    if args.workers is not None:
        raw["data"]["imagenet"] = {**raw["data"]["imagenet"], "workers": args.workers}
    updates = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "precision": args.precision,
    }
    raw.update({k: v for k, v in updates.items() if v is not None})
    if args.lr is not None:
        raw["optimizer"]["lr"] = args.lr
    if args.drop_path is not None:
        raw["drop_path"] = args.drop_path
    return _validated(raw)


def run(args: argparse.Namespace) -> int:
    base, settings = configfile.retrain_base(args)
    source = load_genotype(args.genotype)
    config = config_from_args(args, source.inner_group, base)
    if args.print_config:
        return configfile.print_config(args, config, settings)
    if args.out is None:
        raise FactorNASError("--out is required: the run directory to write (or resume)")
    console = Console()
    run_settings.apply_threads(args)
    # What config.json gets: the retraining config and the genotype retrained.
    params = {
        "config": config.model_dump(mode="json"),
        "genotype": source.genotype.model_dump(mode="json"),
    }
    with loggers.run_hooks(args, args.out, params) as hooks:
        # The classifier and stem follow the dataset actually loaded.
        result = run_retrain(
            source.genotype,
            config,
            args.out,
            device=args.device,
            overwrite=args.overwrite,
            progress=run_settings.progress_mode(args),
            on_epoch=hooks.on_epoch,
            on_window=hooks.on_window,
            cuda_graphs=args.cuda_graphs,
        )
    if result.resumed_from_epoch:
        console.print(f"resumed after epoch {result.resumed_from_epoch}")
    last = result.last
    epochs = f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}"
    console.print(
        f"{source.origin}: {result.params:,} params; after {epochs} test top-1 "
        f"{last['test_top1']:.2f}%, top-5 {last['test_top5']:.2f}% "
        f"(best top-1 {result.best_test_top1:.2f}%)",
        soft_wrap=True,
    )
    console.print(f"run written to {result.run_dir}", soft_wrap=True)
    return 0
