"""``factornas info``: parameters and multiply-adds of a genotype's evaluation network.

Optionally solves for the widest network within a multiply-add budget (the mobile setting's
≤ 600M). Conventions in docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from factornas.errors import FactorNASError, first_problem
from factornas.evaluate.config import NetworkConfig
from factornas.evaluate.cost import DEFAULT_IMAGE_SIZE, network_cost, solve_width
from factornas.export import MAX_IMAGE_SIZE, check_image_size
from factornas.presets.published import PUBLISHED
from factornas.presets.retrain import network_preset
from factornas.presets.source import load_genotype


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info", help="parameters and multiply-adds of a genotype's evaluation network"
    )
    parser.add_argument(
        "--genotype",
        required=True,
        help=f"genotype.json, a search run directory, or one of: {', '.join(PUBLISHED)}",
    )
    parser.add_argument("--network", choices=["cifar", "imagenet"], default="cifar")
    parser.add_argument("--channels", type=int, help="initial channels (36 cifar, 48 imagenet)")
    parser.add_argument("--layers", type=int, help="cells (20 cifar, 14 imagenet)")
    parser.add_argument("--classes", type=int, help="output classes (10 cifar, 1000 imagenet)")
    parser.add_argument("--in-channels", type=int, default=3, help="image channels (3)")
    parser.add_argument(
        "--image-size",
        type=int,
        help=f"input side (32 cifar, 224 imagenet), at most {MAX_IMAGE_SIZE}; a side the "
        "network's reductions cannot take is refused, naming the nearest ones it takes",
    )
    parser.add_argument(
        "--max-macs", type=int, help="solve for the widest network within this many MACs"
    )
    parser.add_argument("--activation", help="retrain with this activation on every edge")
    parser.add_argument("--inner-group", help="input factor also used inside sep_conv ops")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def network_config(args: argparse.Namespace, inner_group: str | None) -> NetworkConfig:
    """The network preset of ``args.network`` with the flags given applied."""
    updates: dict[str, Any] = {
        "channels": args.channels,
        "layers": args.layers,
        "num_classes": args.classes,
        "in_channels": args.in_channels,
        "inner_group": args.inner_group or inner_group,
    }
    raw = network_preset(args.network).model_dump()
    raw.update({k: v for k, v in updates.items() if v is not None})
    if args.activation:
        raw["override"] = {**raw["override"], "activation": args.activation}
    try:
        return NetworkConfig.model_validate(raw)
    except ValidationError as error:
        where, message = first_problem(error, "network")
        raise FactorNASError(f"{where}: {message}") from None


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """Everything ``info`` reports, as plain data."""
    source = load_genotype(args.genotype)
    config = network_config(args, source.inner_group)
    given = args.image_size is not None  # 0 included: refused, not taken for the default
    size = args.image_size if given else DEFAULT_IMAGE_SIZE[config.kind]
    check_image_size(
        source.genotype, config, size, "--image-size" if given else "the default image size"
    )
    info: dict[str, Any] = {"genotype": source.origin, "network": config.kind}
    if args.max_macs is not None:
        try:
            solution = solve_width(source.genotype, config, args.max_macs, size)
        except ValueError as error:
            raise FactorNASError(str(error)) from None
        config = config.model_copy(update={"channels": solution.channels})
        info["max_macs"] = args.max_macs
        info["next_channels"] = solution.next_channels
        info["next_macs"] = solution.next_macs
    cost = network_cost(source.genotype, config, size)
    info.update(
        channels=config.channels,
        layers=config.layers,
        classes=config.num_classes,
        image_size=size,
        params=cost.params,
        params_total=cost.params_total,
        macs=cost.macs,
    )
    return info


def run(args: argparse.Namespace) -> int:
    info = describe(args)
    if args.json:
        print(json.dumps(info))
        return 0
    console = Console()
    console.print(
        f"{info['genotype']} on the {info['network']} network: C={info['channels']}, "
        f"{info['layers']} cells, {info['classes']} classes, {info['image_size']}² input"
    )
    console.print(
        f"params {info['params']:,} ({info['params'] / 1e6:.1f}M; auxiliary head excluded), "
        f"{info['params_total']:,} with it"
    )
    console.print(f"multiply-adds {info['macs']:,} ({info['macs'] / 1e6:.0f}M)")
    if "max_macs" in info:
        console.print(
            f"widest within {info['max_macs']:,} MACs: C={info['channels']} "
            f"(C={info['next_channels']} costs {info['next_macs']:,})"
        )
    return 0
