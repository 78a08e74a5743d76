"""``factornas show``: a run's genotype as a table, and its pictures.

The table needs nothing beyond the core install; the pictures (cell diagrams, loss and accuracy
curves, weight heatmaps and trajectories) need the optional matplotlib. Without it the table is
still printed, with one line saying how to get the pictures, so ``show`` is useful on a bare
server too. Both a search's run directory and a retraining's (``factornas train``, whose
``config.json`` records the genotype it trained) are shown.

A run's own factor groups are named in its ``config.json`` but defined by the user's code:
``--plugin`` imports that code (as ``search --plugin`` does) so their candidates are labelled
by name; without it they are labelled by index, and one line says which groups and how to fix
it. A run directory never records plug-ins, so ``show`` imports only what ``--plugin`` names.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from factornas.cli.configfile import add_plugin_argument
from factornas.errors import GenotypeError
from factornas.plugins import load_plugins
from factornas.runtime.metrics import read_metrics
from factornas.runtime.owned import OwnedDir, claim, owner
from factornas.runtime.rundir import CONFIG, FIGURES, METRICS
from factornas.space.genotype import Genotype, node_name

GENOTYPE = "genotype.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "show",
        help="print a run's genotype and draw its cells, training curves and weight trajectories",
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        help="a search's or a retraining's run directory, or a genotype file",
    )
    parser.add_argument("--out", type=Path, help="where pictures go (default: RUN_DIR/figures)")
    parser.add_argument(
        "--format", choices=["png", "svg", "both"], default="both", help="picture format (both)"
    )
    parser.add_argument("--no-figures", action="store_true", help="only print the table")
    add_plugin_argument(parser)  # the run's own factor groups, so they are drawn by name
    parser.set_defaults(handler=run)


def load_genotype(path: Path) -> Genotype:
    """The genotype of a run: its ``genotype.json``, else the one a retraining's
    ``config.json`` records, else the latest one in a search's metrics."""
    if path.is_file():
        return Genotype.load(path)
    if (path / GENOTYPE).exists():
        return Genotype.load(path / GENOTYPE)
    trained = _trained_genotype(path / CONFIG)
    if trained is not None:
        return trained
    with_genotype = [r for r in read_metrics(path / METRICS) if "genotype" in r]
    if with_genotype:
        return Genotype.model_validate(with_genotype[-1]["genotype"])
    raise GenotypeError(
        f"{path} has no {GENOTYPE} and no genotype in {METRICS}: give a run directory of a "
        "search or a retraining, or a genotype file"
    )


def _trained_genotype(config: Path) -> Genotype | None:
    """The genotype a retraining's ``config.json`` records (``{"config", "genotype"}``);
    None for a search's config or none at all."""
    try:
        text = config.read_text()
        saved = json.loads(text)
    except (OSError, ValueError, RecursionError):  # no config, or not one to read a genotype in
        return None
    if not isinstance(saved, dict) or saved.keys() != {"config", "genotype"}:
        return None
    return Genotype.from_json(text, source=str(config))


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
    """Write the cell diagrams and, for a run directory with metrics, the training curves and
    the weight figures."""
    from factornas.figures import (
        candidate_names,
        history_from_records,
        read_records,
        save_cell_diagrams,
        save_curve_figures,
        save_history_figures,
    )

    written = save_cell_diagrams(genotype, out, formats)
    if run_dir.is_dir() and (run_dir / METRICS).exists():
        records = read_records(run_dir / METRICS)
        title = f"{run_dir.resolve().name}: how it trained"
        written += save_curve_figures(records, out, title, formats)
        names = candidate_names(run_dir / CONFIG)
        written += save_history_figures(history_from_records(records), out, names, formats)
    return written


def unnamed_hint(run_dir: Path) -> str | None:
    """One line naming the run's groups drawn by candidate index, and the flag that names
    them; None when every group is named."""
    from factornas.figures import unnamed_groups

    unnamed = unnamed_groups(run_dir / CONFIG) if run_dir.is_dir() else ()
    if not unnamed:
        return None
    listed = ", ".join(repr(g) for g in unnamed)
    return (
        f"{listed} {'is' if len(unnamed) == 1 else 'are'} not registered here, so "
        f"{'its' if len(unnamed) == 1 else 'their'} candidates are labelled by index: pass "
        "--plugin MODULE_OR_FILE (what registered them for the search) to label them by name"
    )


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
    load_plugins(args.plugin)
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
    hint = unnamed_hint(args.run_dir)
    if hint is not None:
        console.print(hint, markup=False, highlight=False, soft_wrap=True)  # one line
    return 0
