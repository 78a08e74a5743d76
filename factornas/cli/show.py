"""``factornas show``: a run's genotype as a table, and its pictures.

The table needs nothing beyond the core install; the pictures (cell diagrams, weight heatmaps
and trajectories) need the optional matplotlib. Without it the table is still printed, with one
line saying how to get the pictures, so ``show`` is useful on a bare server too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from factornas.errors import GenotypeError
from factornas.runtime.metrics import read_metrics
from factornas.runtime.owned import OwnedDir, claim, owner
from factornas.runtime.rundir import CONFIG, FIGURES, METRICS
from factornas.space.genotype import Genotype, node_name

GENOTYPE = "genotype.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "show", help="print a run's genotype and draw its cells and weight trajectories"
    )
    parser.add_argument(
        "run_dir", type=Path, help=f"a run directory (with {GENOTYPE}), or a genotype file"
    )
    parser.add_argument("--out", type=Path, help="where pictures go (default: RUN_DIR/figures)")
    parser.add_argument(
        "--format", choices=["png", "svg", "both"], default="both", help="picture format (both)"
    )
    parser.add_argument("--no-figures", action="store_true", help="only print the table")
    parser.set_defaults(handler=run)


def load_genotype(path: Path) -> Genotype:
    """The genotype of a run: its ``genotype.json``, else the latest one in its metrics."""
    if path.is_file():
        return Genotype.load(path)
    if (path / GENOTYPE).exists():
        return Genotype.load(path / GENOTYPE)
    with_genotype = [r for r in read_metrics(path / METRICS) if "genotype" in r]
    if with_genotype:
        return Genotype.model_validate(with_genotype[-1]["genotype"])
    raise GenotypeError(
        f"{path} has no {GENOTYPE} and no genotype in {METRICS}: give a run directory of a "
        "search, or a genotype file"
    )


def genotype_tables(genotype: Genotype) -> list[Table]:
    """One table per cell: a row per kept edge, a column per factor group used in the cell."""
    tables = []
    for cell_type in ("normal", "reduce"):
        cell = genotype.cell(cell_type)
        groups: list[str] = []
        for _, edge in cell.edges():
            groups += [g for g in edge.factors if g not in groups]
        table = Table(
            title="normal cell" if cell_type == "normal" else "reduction cell",
            caption="output: concat of " + ", ".join(node_name(n) for n in cell.concat),
        )
        table.add_column("edge", no_wrap=True)
        table.add_column(genotype.op_group, no_wrap=True)
        for group in groups:
            table.add_column(group, overflow="fold")
        for target, edge in cell.edges():
            table.add_row(
                f"{node_name(edge.source)} → {node_name(target)}",
                edge.op,
                *(edge.factors.get(group, "—") for group in groups),
            )
        tables.append(table)
    return tables


def draw(run_dir: Path, genotype: Genotype, out: Path, formats: tuple[str, ...]) -> list[Path]:
    """Write the cell diagrams and, for a run directory with metrics, the weight figures."""
    from factornas.figures import (
        candidate_names,
        read_history,
        save_cell_diagrams,
        save_history_figures,
    )

    written = save_cell_diagrams(genotype, out, formats)
    if run_dir.is_dir() and (run_dir / METRICS).exists():
        history = read_history(run_dir / METRICS)
        names = candidate_names(run_dir / CONFIG)
        written += save_history_figures(history, out, names, formats)
    return written


def claim_figures(out: Path, run: OwnedDir | None) -> OwnedDir:
    """The pictures' folder, a directory of ours like a run's (:mod:`factornas.runtime.owned`):
    a non-empty folder we did not make is refused, and redrawing replaces only our pictures.
    Inside a run directory of ours (``RUN_DIR/figures``) the run records the folder too, so
    the run's ``--overwrite`` removes it."""
    name = f"{out.name}/"
    recorded = run is not None and name in run.recorded()  # by an older factornas's run

    def adopt(folder: Path) -> list[str] | None:
        return sorted(entry.name for entry in folder.iterdir()) if recorded else None

    figures = claim(out, "figures", flag="--out", adopt=adopt)
    if run is not None:
        run.record([name])
    return figures


def run(args: argparse.Namespace) -> int:
    from factornas.figures import PlottingUnavailable, require_matplotlib

    console = Console()
    genotype = load_genotype(args.run_dir)
    for table in genotype_tables(genotype):
        console.print(table)
    if args.no_figures:
        return 0
    base = args.run_dir if args.run_dir.is_dir() else args.run_dir.parent
    out = args.out or base / FIGURES
    formats = ("png", "svg") if args.format == "both" else (args.format,)
    try:
        require_matplotlib()
    except PlottingUnavailable as error:
        console.print(str(error), markup=False, highlight=False)
        return 0
    claim_figures(out, run=owner(base) if args.out is None else None)
    written = draw(args.run_dir, genotype, out, formats)
    console.print(f"wrote {len(written)} pictures to {out}", highlight=False)
    return 0
