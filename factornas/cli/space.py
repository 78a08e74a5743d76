"""``factornas space``: describe a preset's search space with exact numbers."""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from factornas.cli.arguments import int_in
from factornas.presets import SPACE_PRESETS, space_preset
from factornas.runtime.memory import MAX_CELLS, MAX_CHANNELS, MAX_CLASSES
from factornas.space.config import SearchSpace
from factornas.space.size import arch_parameter_count, space_size
from factornas.supernet.network import STEMS, SearchNetwork, StemKind


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "space", help="describe a search space: groups, exact size, parameter counts"
    )
    parser.add_argument("--preset", required=True, help=f"one of: {', '.join(SPACE_PRESETS)}")
    parser.add_argument(
        "--channels", type=int_in(1, MAX_CHANNELS), default=16, help="initial channels (16)"
    )
    parser.add_argument("--layers", type=int_in(3, MAX_CELLS), default=8, help="search cells (8)")
    parser.add_argument(
        "--classes", type=int_in(2, MAX_CLASSES), default=10, help="output classes (10)"
    )
    parser.add_argument(
        "--stem", choices=tuple(STEMS), default="cifar", help="search-network stem (cifar)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def describe(
    space: SearchSpace, channels: int, layers: int, classes: int, stem: StemKind = "cifar"
) -> dict[str, Any]:
    """Everything ``space`` reports, as plain data. The supernet is built on the ``meta``
    device: counting its weights needs their shapes only, whatever its size."""
    with torch.device("meta"):
        network = SearchNetwork(
            space, channels=channels, layers=layers, num_classes=classes, stem=stem
        )
    cells = {}
    for cell_type in space.cell_types:
        cell = space.cell(cell_type)
        cells[cell_type] = {
            "groups": [
                {
                    "name": f.name,
                    "role": f.group.role,
                    "placement": f.group.placement.value if f.group.placement else None,
                    "scope": f.group.scope,
                    "candidates": list(f.names),
                    "searched": f.searched,
                }
                for f in cell.groups()
            ],
            "choices_per_edge": cell.choices_per_edge(),
        }
    size = space_size(space)
    return {
        "preset": space.name,
        "size": size,
        "size_scientific": f"{size:.2e}",
        "arch_parameters": arch_parameter_count(space),
        "weights": network.count_weights(),
        "channels": channels,
        "layers": layers,
        "classes": classes,
        "stem": stem,
        "partial_channels": space.partial_channels,
        "edge_normalization": space.edge_normalization,
        "cells": cells,
    }


def run(args: argparse.Namespace) -> int:
    space = space_preset(args.preset)
    info = describe(space, args.channels, args.layers, args.classes, args.stem)
    if args.json:
        print(json.dumps(info))
        return 0
    console = Console()
    for cell_type, cell in info["cells"].items():
        table = Table(title=f"{info['preset']}: {cell_type} cell")
        table.add_column("group")
        table.add_column("role")
        table.add_column("candidates")
        for group in cell["groups"]:
            role = group["role"] if group["role"] == "op" else f"{group['placement']} factor"
            table.add_row(group["name"], role, ", ".join(group["candidates"]))
        console.print(table)
        console.print(f"choices per kept edge: {cell['choices_per_edge']}")
    console.print(f"architectures: {info['size']:,} (≈{info['size_scientific']})")
    if info["partial_channels"] > 1 or info["edge_normalization"]:
        console.print(
            f"PC-DARTS: 1/{info['partial_channels']} of each edge's channels searched, "
            f"edge normalization {'on' if info['edge_normalization'] else 'off'}"
        )
    console.print(f"architecture parameters: {info['arch_parameters']:,}")
    console.print(
        f"supernet weights (C={args.channels}, {args.layers} cells, {args.classes} classes, "
        f"{args.stem} stem): {info['weights']:,}"
    )
    return 0
