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
    MAX_IMAGE_SIZE,
    check_image_size,
    check_outputs,
    export_onnx,
    export_torchscript,
    inference_model,
    onnx_weights_path,
    read_retrain_run,
    retrain_inputs,
    sample_batch,
    trained_model,
)
from factornas.plugins import is_file_spec, load_plugins
from factornas.presets.published import PUBLISHED
from factornas.presets.source import (
    GENOTYPE_FILE,
    SEARCH_CONFIG_FILE,
    GenotypeSource,
    RunImages,
    load_genotype,
    run_images,
)
from factornas.runtime.rng import MAX_SEED


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
        "--onnx",
        type=Path,
        metavar="FILE",
        help="write one self-contained ONNX file here (checked with onnxruntime); its "
        "directory must exist, and it may not be an input of the export",
    )
    parser.add_argument(
        "--torchscript",
        type=Path,
        metavar="FILE",
        help="write traced TorchScript here (another path than --onnx)",
    )
    configfile.add_plugin_argument(parser)
    parser.add_argument("--network", choices=["cifar", "imagenet"], default="cifar")
    parser.add_argument("--channels", type=int, help="initial channels (36 cifar, 48 imagenet)")
    parser.add_argument("--layers", type=int, help="cells (20 cifar, 14 imagenet)")
    parser.add_argument(
        "--classes",
        type=int,
        help="output classes (10 cifar, 1000 imagenet; from a search run, its data's)",
    )
    parser.add_argument(
        "--in-channels", type=int, help="image channels (3; from a search run, its data's)"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        help="input side (32 cifar, 224 imagenet; from a search run or with --checkpoint, "
        "the data's it ran on), at "
        f"most {MAX_IMAGE_SIZE}; a side the network's reductions cannot take is refused, "
        "naming the nearest ones it takes",
    )
    parser.add_argument("--seed", type=int, default=0, help="initializes untrained weights")
    parser.set_defaults(handler=run)


_NETWORK_FLAGS = ("channels", "layers", "classes", "in_channels")


def _outputs(args: argparse.Namespace) -> dict[str, Path]:
    """Each output's flag and path."""
    outputs = {"--onnx": args.onnx, "--torchscript": args.torchscript}
    given = {flag: path for flag, path in outputs.items() if path is not None}
    if not given:
        raise FactorNASError("nothing to export: give --onnx FILE and/or --torchscript FILE")
    return given


def _genotype_inputs(spec: str) -> dict[str, Path]:
    """The files :func:`load_genotype` reads for ``spec``: a genotype file (a run directory's
    ``genotype.json``) and the search config beside it, which it reads when there is one."""
    if spec in PUBLISHED:
        return {}
    path = Path(spec)
    genotype = path / GENOTYPE_FILE if path.is_dir() else path
    inputs = {"the genotype": genotype}
    if (genotype.parent / SEARCH_CONFIG_FILE).is_file():
        inputs["the genotype's run config"] = genotype.parent / SEARCH_CONFIG_FILE
    return inputs


def _inputs(args: argparse.Namespace) -> dict[str, Path]:
    """Every file this export reads, by what it is to the export."""
    inputs: dict[str, Path] = {}
    if args.checkpoint is not None:
        inputs.update(retrain_inputs(args.checkpoint))
    if args.genotype:
        inputs.update(_genotype_inputs(args.genotype))
    for spec in args.plugin:
        if is_file_spec(spec):
            inputs[f"the plug-in {spec}"] = Path(spec).expanduser()
    return inputs


def _image_size_label(args: argparse.Namespace) -> str:
    return "--image-size" if args.image_size is not None else "the default image size"


def _chosen(value: int | None, default: int) -> int:
    """A flag's value when given (0 included: it is refused, not taken for the default)."""
    return default if value is None else value


def _searched_images(source: GenotypeSource, network: str) -> RunImages | None:
    """The images of the search a genotype came from, when they are what the network to build
    reads: a search run's genotype built as the kind of network its supernet stood for (a
    Fashion-MNIST search's network takes 1×28×28 images and gives 10 classes). Built as the
    other kind (a CIFAR search's cell transferred to ImageNet, as the papers do), the kind's
    own defaults hold."""
    if source.run_dir is None:
        return None
    images = run_images(source.run_dir)
    return images if images is not None and images.network == network else None


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.seed <= MAX_SEED:
        raise FactorNASError(f"--seed {args.seed}: give a seed from 0 to {MAX_SEED}")
    outputs = _outputs(args)
    inputs = _inputs(args)
    check_outputs(outputs, inputs)  # before anything is loaded, built or written
    load_plugins(args.plugin)  # a retraining on a plug-in's dataset names it
    if args.checkpoint is not None:
        given = [f"--{f.replace('_', '-')}" for f in _NETWORK_FLAGS if getattr(args, f)]
        if given:
            raise FactorNASError(
                f"{', '.join(given)} cannot change a retrained network: drop them or --checkpoint"
            )
        trained = read_retrain_run(args.checkpoint)
        if args.genotype and load_genotype(args.genotype).genotype != trained.genotype:
            raise FactorNASError(
                f"{args.checkpoint} retrained another genotype than {args.genotype}: "
                "drop the genotype argument to export the retrained one"
            )
        genotype, config = trained.genotype, trained.network
        image_size = _chosen(args.image_size, trained.image_size)
        check_image_size(genotype, config, image_size, _image_size_label(args))
        model = trained_model(trained)
        origin = f"{args.checkpoint} (trained weights)"
    else:
        if not args.genotype:
            raise FactorNASError("give a genotype to export, or --checkpoint RETRAIN_DIR")
        source = load_genotype(args.genotype)
        searched = _searched_images(source, args.network)
        config = network_config(
            args.network,
            source.inner_group,
            channels=args.channels,
            layers=args.layers,
            num_classes=_chosen(args.classes, searched.classes) if searched else args.classes,
            in_channels=(
                _chosen(args.in_channels, searched.channels) if searched else args.in_channels
            ),
            auxiliary=False,
        )
        genotype = source.genotype
        side = searched.side if searched else DEFAULT_IMAGE_SIZE[config.kind]
        image_size = _chosen(args.image_size, side)
        check_image_size(genotype, config, image_size, _image_size_label(args))
        torch.manual_seed(args.seed)
        model = inference_model(genotype, config)
        origin = f"{source.origin} (untrained, seed {args.seed})"
    if args.onnx is not None and (weights := onnx_weights_path(model, args.onnx)) is not None:
        check_outputs({**outputs, "--onnx's weights file": weights}, inputs)
    images = sample_batch(config, image_size)
    console = Console()
    console.print(
        f"{origin}: {config.kind} network, C={config.channels}, {config.layers} cells, "
        f"input N×{config.in_channels}×{image_size}×{image_size}"
    )
    if args.onnx is not None:
        onnx = export_onnx(model, images, args.onnx)
        check = (
            "onnxruntime not installed: not checked"
            if onnx.diff is None
            else f"onnxruntime matches PyTorch (max diff {onnx.diff:.1e})"
        )
        where = (
            ""
            if onnx.weights is None
            else f" with its weights in {onnx.weights} (ONNX files hold at most 2 GB, "
            "weights included: keep the two files together)"
        )
        console.print(f"ONNX written to {onnx.model}{where}; {check}")
    if args.torchscript is not None:
        diff = export_torchscript(model, images, args.torchscript)
        console.print(
            f"TorchScript written to {args.torchscript}; reloaded, matches (max diff {diff:.1e})"
        )
    return 0
