"""``factornas export``: a found network as an ONNX or TorchScript file for inference."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console

from factornas.build import network_config
from factornas.cli import configfile
from factornas.errors import FactorNASError
from factornas.evaluate.cost import DEFAULT_IMAGE_SIZE
from factornas.export import (
    check_onnx,
    export_onnx,
    export_torchscript,
    inference_model,
    load_retrain_checkpoint,
    sample_batch,
)
from factornas.plugins import load_plugins
from factornas.presets.published import PUBLISHED
from factornas.presets.source import load_genotype


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export an evaluation network to ONNX or TorchScript"
    )
    parser.add_argument(
        "genotype",
        nargs="?",
        help=f"genotype.json, a search run directory, or one of: {', '.join(PUBLISHED)} "
        "(default with --checkpoint: the retrained genotype)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        metavar="RETRAIN_DIR",
        help="a `factornas train` run directory: export its network with its trained weights",
    )
    parser.add_argument(
        "--onnx", type=Path, metavar="FILE", help="write ONNX here (checked with onnxruntime)"
    )
    parser.add_argument(
        "--torchscript", type=Path, metavar="FILE", help="write traced TorchScript here"
    )
    configfile.add_plugin_argument(parser)
    parser.add_argument("--network", choices=["cifar", "imagenet"], default="cifar")
    parser.add_argument("--channels", type=int, help="initial channels (36 cifar, 48 imagenet)")
    parser.add_argument("--layers", type=int, help="cells (20 cifar, 14 imagenet)")
    parser.add_argument("--classes", type=int, help="output classes (10 cifar, 1000 imagenet)")
    parser.add_argument("--in-channels", type=int, help="image channels (3)")
    parser.add_argument("--image-size", type=int, help="input side (32 cifar, 224 imagenet)")
    parser.add_argument("--seed", type=int, default=0, help="initializes untrained weights")
    parser.set_defaults(handler=run)


_NETWORK_FLAGS = ("channels", "layers", "classes", "in_channels")


def run(args: argparse.Namespace) -> int:
    if args.onnx is None and args.torchscript is None:
        raise FactorNASError("nothing to export: give --onnx FILE and/or --torchscript FILE")
    load_plugins(args.plugin)  # a retraining on a plug-in's dataset names it
    if args.checkpoint is not None:
        given = [f"--{f.replace('_', '-')}" for f in _NETWORK_FLAGS if getattr(args, f)]
        if given:
            raise FactorNASError(
                f"{', '.join(given)} cannot change a retrained network: drop them or --checkpoint"
            )
        trained = load_retrain_checkpoint(args.checkpoint)
        if args.genotype and load_genotype(args.genotype).genotype != trained.genotype:
            raise FactorNASError(
                f"{args.checkpoint} retrained another genotype than {args.genotype}: "
                "drop the genotype argument to export the retrained one"
            )
        genotype, config, state = trained.genotype, trained.network, trained.state
        image_size = args.image_size or trained.image_size
        origin = f"{args.checkpoint} (trained weights)"
    else:
        if not args.genotype:
            raise FactorNASError("give a genotype to export, or --checkpoint RETRAIN_DIR")
        source = load_genotype(args.genotype)
        config = network_config(
            args.network,
            source.inner_group,
            channels=args.channels,
            layers=args.layers,
            num_classes=args.classes,
            in_channels=args.in_channels,
            auxiliary=False,
        )
        torch.manual_seed(args.seed)
        genotype, state = source.genotype, None
        image_size = args.image_size or DEFAULT_IMAGE_SIZE[config.kind]
        origin = f"{source.origin} (untrained, seed {args.seed})"
    model = inference_model(genotype, config, state)
    images = sample_batch(config, image_size)
    console = Console()
    console.print(
        f"{origin}: {config.kind} network, C={config.channels}, {config.layers} cells, "
        f"input N×{config.in_channels}×{image_size}×{image_size}"
    )
    if args.onnx is not None:
        path = export_onnx(model, images, args.onnx)
        diff = check_onnx(model, images, path)
        check = (
            "onnxruntime not installed: not checked"
            if diff is None
            else f"onnxruntime matches PyTorch (max diff {diff:.1e})"
        )
        console.print(f"ONNX written to {path}; {check}")
    if args.torchscript is not None:
        diff = export_torchscript(model, images, args.torchscript)
        console.print(
            f"TorchScript written to {args.torchscript}; reloaded, matches (max diff {diff:.1e})"
        )
    return 0
