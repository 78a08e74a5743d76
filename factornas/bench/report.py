"""The comparison's outputs: ``report.md`` and the figures, drawn from the results alone.

Everything here reads the typed results (:class:`~factornas.bench.compare.results.
CompareResults`, what ``results.json`` holds; plus the run directories it names, for the
weight trajectories), so a report can be redrawn from a finished comparison without rerunning
anything: ``render_report(load_results(OUT / "results.json"))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factornas.bench.arms import build_arms
from factornas.bench.chance import (
    chance_accuracy,
    chance_edge_agreement,
    chance_factor_agreement,
)
from factornas.bench.compare.results import (
    ArmResult,
    CompareResults,
    Comparison,
    FailedPair,
    MetricDifference,
    SeedInterval,
    SettingsRecord,
    Statistic,
    Sweep,
)
from factornas.data.registry import dataset_spec
from factornas.figures.backend import PlottingUnavailable, require_matplotlib, save
from factornas.figures.history import candidate_names, read_history, trajectory_figure

FIGURES = "figures"
DATASET_NAMES = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


# -- formatting ----------------------------------------------------------------------------------
def stat(value: Statistic | None, digits: int = 1) -> str:
    """``mean ± std`` of a :func:`~factornas.bench.compare.summary.describe` result; ``—`` if
    empty."""
    if value is None or value.mean is None:
        return "—"
    return f"{value.mean:.{digits}f} ± {value.std:.{digits}f}"


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class ChanceLevels:
    """What a guess scores (:mod:`factornas.bench.chance`): top-1 (%) of a uniform guess among
    the dataset's classes, and per arm the agreement of two uniformly random architectures of
    its space, on the edges and per searched factor (None: no op carries the factor)."""

    accuracy: float
    edge: dict[str, float]
    factor: dict[str, dict[str, float | None]]


def chance_levels(results: CompareResults) -> ChanceLevels:
    """The chance levels of a comparison, from its settings: the dataset, and the arms' spaces
    rebuilt from the space and baselines it names (as the comparison built them)."""
    settings = results.settings
    arms = {a.key: a for a in build_arms(settings.space, tuple(settings.baselines))}
    return ChanceLevels(
        accuracy=chance_accuracy(dataset_spec(settings.dataset).classes),
        edge={key: chance_edge_agreement(arm.space) for key, arm in arms.items()},
        factor={
            key: {g: chance_factor_agreement(arm.space, g) for g in arm.searched_factors}
            for key, arm in arms.items()
        },
    )


def _beside_chance(value: str, chance: float | None) -> str:
    return value if chance is None else f"{value} (chance {chance:.2f})"


def _agreement(arm: ArmResult, group: str | None, chance: ChanceLevels) -> str:
    """Edge agreement (``group`` None) or one factor's, each beside its chance level;
    ``fixed`` where the arm fixes the factor."""
    agreement = arm.summary.stability
    if agreement is None:  # fewer than two seeds finished
        return "—"
    if group is None:
        return _beside_chance(f"{agreement.edge_agreement:.2f}", chance.edge[arm.key])
    if group not in arm.searched_factors:
        return "fixed"
    value = agreement.factor_agreement.get(group)
    text = "n/a" if value is None else f"{value:.2f}"
    return _beside_chance(text, chance.factor[arm.key].get(group))


def summary_table(results: CompareResults) -> str:
    """The main table: one row per arm, mean ± std over seeds, chance levels beside the
    accuracies (in their headers: one dataset) and the agreements (per arm: per space)."""
    groups = results.factor_groups
    chance = chance_levels(results)
    header = [
        "arm",
        "what",
        "step (s)",
        "peak RSS (MiB)",
        f"supernet val top-1 (%; chance {chance.accuracy:.1f})",
        f"retrained test top-1 (%; chance {chance.accuracy:.1f})",
        "edge agreement",
        *(f"{g} agreement" for g in groups),
    ]
    rows = []
    for arm in results.arms:
        summary = arm.summary
        rows.append(
            [
                f"`{arm.key}`",
                arm.description,
                stat(summary.step_seconds, 2),
                stat(summary.peak_rss_mib, 0),
                stat(summary.val_top1),
                stat(summary.test_top1),
                _agreement(arm, None, chance),
                *(_agreement(arm, g, chance) for g in groups),
            ]
        )
    return _table(header, rows)


def _per_seed_table(results: CompareResults) -> str:
    header = [
        "arm",
        "seed",
        "step (s)",
        "peak RSS (MiB)",
        "RSS above start (MiB)",
        "search wall (s)",
        "search CPU (s)",
        "supernet val top-1 (%)",
        "retrained params",
        "test top-1 (%)",
        "skip in normal",
    ]
    rows = []
    for arm in results.arms:
        for run in arm.runs:
            search, retrain = run.search, run.retrain
            process = search.process
            peak = process.peak_rss_bytes if process else None
            start = process.start_rss_bytes if process else None
            rows.append(
                [
                    f"`{arm.key}`",
                    str(run.seed),
                    _number(search.step_seconds, 2),
                    _number(peak / 2**20 if peak else None, 0),
                    _number((peak - start) / 2**20 if peak and start else None, 0),
                    _number(process.wall_seconds if process else None, 0),
                    _number(process.cpu_seconds if process else None, 0),
                    _number(search.val_top1),
                    f"{retrain.params:,}",
                    _number(retrain.test_top1),
                    "yes" if search.skip_connect_in_normal else "no",
                ]
            )
    return _table(header, rows)


def _stability_table(results: CompareResults) -> str:
    groups = results.factor_groups
    chance = chance_levels(results)
    header = ["arm", "pairs", "edge agreement per pair", *(f"{g} per pair" for g in groups)]
    rows = []
    for arm in results.arms:
        agreement = arm.summary.stability
        if agreement is None:
            rows.append([f"`{arm.key}`", "0", "—", *("—" for _ in groups)])
            continue
        cells = [
            f"`{arm.key}`",
            str(agreement.pairs),
            _beside_chance(
                ", ".join(f"{v:.2f}" for v in agreement.pair_edge_agreement),
                chance.edge[arm.key],
            ),
        ]
        for group in groups:
            if group not in arm.searched_factors:
                cells.append("fixed")
                continue
            values = agreement.pair_factor_agreement.get(group, [])
            cells.append(
                _beside_chance(
                    ", ".join("n/a" if v is None else f"{v:.2f}" for v in values),
                    chance.factor[arm.key].get(group),
                )
            )
        rows.append(cells)
    return _table(header, rows)


def _genotype_lines(results: CompareResults) -> str:
    lines = []
    for arm in results.arms:
        for run in arm.runs:
            genotype = run.search.genotype
            for cell_type in ("normal", "reduce"):
                nodes = [
                    f"{i + 2}: " + ", ".join(f"{e.label()} ← {e.source}" for e in edges)
                    for i, edges in enumerate(genotype.cell(cell_type).nodes)
                ]
                lines.append(f"{arm.key:<18} seed {run.seed} {cell_type:<6}  " + " | ".join(nodes))
    return "```\n" + "\n".join(lines) + "\n```"


def _interval(metric: MetricDifference) -> str:
    if metric.half_width is None or metric.low is None or metric.high is None:
        return "—"
    return f"[{metric.low:+.1f}, {metric.high:+.1f}]"


def differences_table(results: CompareResults) -> str:
    """Every arm against the first, per accuracy: the mean paired difference, its interval
    and the verdict."""
    first = results.arms[0].key
    header = [
        "arm",
        "accuracy",
        "seeds",
        f"`{first}` − arm, per seed (points)",
        "mean ± sd",
        "95 % interval",
        "verdict",
    ]
    rows = []
    for comparison in results.comparisons:
        for metric in comparison.metrics.values():
            sd = "—" if metric.sd is None else f"{metric.sd:.1f}"
            rows.append(
                [
                    f"`{comparison.arm}`",
                    metric.label,
                    str(metric.n),
                    ", ".join(f"{d:+.1f}" for d in metric.differences),
                    f"{metric.mean:+.1f} ± {sd}",
                    _interval(metric),
                    metric.verdict,
                ]
            )
    return _table(header, rows)


def _seed_interval(metric: SeedInterval) -> str:
    if metric.half_width is None or metric.low is None or metric.high is None:
        return f"{metric.mean:.1f} (one seed: no interval)"
    return f"{metric.mean:.1f} ± {metric.half_width:.1f} [{metric.low:.1f}, {metric.high:.1f}]"


def sweep_table(sweep: Sweep) -> str:
    """A seed sweep: one row per seed, then the mean with its 95 % t-interval."""
    metrics = list(sweep.metrics.values())
    header = ["seed", *(f"{m.label} (%)" for m in metrics)]
    seeds = metrics[0].seeds if metrics else []
    rows = [[str(seed), *(f"{m.values[i]:.1f}" for m in metrics)] for i, seed in enumerate(seeds)]
    rows.append(["mean ± 95 % half-width [interval]", *(_seed_interval(m) for m in metrics)])
    return _table(header, rows)


def failures_table(failures: Sequence[FailedPair]) -> str:
    return _table(
        ["arm", "seed", "why"],
        [[f"`{f.arm}`", str(f.seed), f.error.replace("|", "\\|")] for f in failures],
    )


def _seeds_line(settings: SettingsRecord) -> str:
    """E.g. ``3 seeds per arm (0 to 2)`` or ``3 seeds per arm (0, 3, 7)``."""
    if isinstance(settings.seeds, int):
        return f"{settings.seeds} seeds per arm (0 to {settings.seeds - 1})"
    return f"{len(settings.seeds)} seeds per arm ({', '.join(map(str, settings.seeds))})"


def _budget_line(settings: SettingsRecord) -> str:
    overrides = " ".join(
        f"--{flag} {'all' if value is None else value}"
        for flag, value in settings.overrides.items()
    )
    extra = f" with `{overrides}`" if overrides else ""
    return f"Budget `{settings.budget}`{extra}"


def _sizes_table(results: CompareResults) -> str:
    sizes = results.settings.sizes
    keys = sorted(set(type(sizes.search).model_fields) | set(type(sizes.retrain).model_fields))

    def cell(part: str, key: str) -> str:
        part_sizes = getattr(sizes, part)
        if key not in type(part_sizes).model_fields:
            return "—"
        value = getattr(part_sizes, key)
        return "all" if value is None else str(value)

    rows = [[k, cell("search", k), cell("retrain", k)] for k in keys]
    return _table(["size", "search", "retraining"], rows)


def _machine_lines(results: CompareResults) -> str:
    machine = results.machine
    load = " / ".join(
        ", ".join(f"{x:.1f}" for x in averages)
        for averages in (machine.load_average_start, machine.load_average_end)
        if averages is not None
    )
    env = ", ".join(f"{k}={v}" for k, v in sorted(machine.environment.items())) or "none"
    return "\n".join(
        [
            f"- CPU: {machine.cpu_model}, {machine.logical_cpus} logical CPUs "
            f"({machine.usable_cpus} usable), {_number(machine.memory_gib)} GiB memory",
            f"- torch {machine.torch}, Python {machine.python}, {machine.platform}",
            f"- torch threads per run: {machine.threads_per_run}; runs one at a time, each in "
            "its own process",
            f"- device of every search and retraining: {results.settings.device}"
            + (", steps replayed from CUDA graphs" if results.settings.cuda_graphs else ""),
            f"- load average (1, 5, 15 min) at start / end: {load}",
            f"- threading and allocator environment: {env}",
        ]
    )


def _failures_section(results: CompareResults) -> list[str]:
    if not results.failures:
        return []
    return [
        "## Failed pairs",
        "",
        f"{len(results.failures)} (arm, seed) pairs did not finish; every number below is "
        "over the pairs that did. Rerunning the command resumes them from their checkpoints.",
        "",
        failures_table(results.failures),
        "",
    ]


def _differences_section(results: CompareResults) -> list[str]:
    first = results.arms[0].key
    return [
        f"## Differences to `{first}`, paired by seed",
        "",
        differences_table(results),
        "",
        f"Per seed, `{first}`'s accuracy minus the arm's (both ran with that seed's "
        "data subset and batch order). The interval is the two-sided 95 % Student-t interval "
        "of the mean difference over seeds (mean ± t · sd / √n): a difference whose interval "
        "contains 0 is within seed noise.",
        "",
    ]


def _sweep_section(results: CompareResults) -> list[str]:
    if results.sweep is None or not results.sweep.metrics:
        return []
    return [
        "## Seed sweep",
        "",
        sweep_table(results.sweep),
        "",
        "The interval is the two-sided 95 % Student-t interval of the mean over seeds "
        "(mean ± t · sd / √n): where the mean of as many seeds would fall, 95 times in 100.",
        "",
    ]


def render_report(results: CompareResults) -> str:
    """``report.md``: main table, per-seed numbers, agreement, genotypes, figures, machine."""
    settings = results.settings
    arms = results.arms
    summaries = [p for p in results.figures if Path(p).parent.name == FIGURES]
    figures = "\n\n".join(f"![{Path(p).stem}]({p})" for p in summaries)
    trajectories = [p for p in results.figures if p not in summaries]
    first_seed = 0 if isinstance(settings.seeds, int) else settings.seeds[0]
    if trajectories:
        figures += (
            f"\n\nSoftmax weights by epoch, seed {first_seed}, per arm, cell type and group:\n\n"
            + "\n".join(f"- [{p}]({p})" for p in trajectories)
        )
    if results.figures_note:
        figures = results.figures_note
    reused = results.runs_reused
    timing = (
        f"**Wall time:** {results.wall_seconds:.0f} s for this invocation "
        f"({reused} of {results.runs_total} runs reused from an earlier one); the runs' own "
        f"processes took {results.run_wall_seconds_total:.0f} s in total."
    )
    if len(arms) > 1:
        title = f"# bench compare: `{settings.space}` against " + ", ".join(
            f"`{a.key}`" for a in arms[1:]
        )
    else:
        title = f"# bench compare: seed sweep of `{arms[0].key}`"
    return "\n".join(
        [
            title,
            "",
            f"**Command:** `{results.command}`",
            "",
            timing,
            "",
            *_failures_section(results),
            f"{_budget_line(settings)}, {_seeds_line(settings)}, "
            f"{DATASET_NAMES[settings.dataset]}; every arm gets the "
            "same data and budget. Mean ± sample standard deviation over seeds; agreement is the "
            "mean over seed pairs. See docs/benchmarks.md for what each number measures.",
            "",
            "## Results",
            "",
            summary_table(results),
            "",
            "`step`: median seconds of one search step (a weight step and every architecture "
            "level's step), from the search's `metrics.jsonl`. `peak RSS`: peak resident memory "
            "of the process that ran the search (one process per search). `edge agreement`: "
            "fraction of kept edges with the same source and op in two seeds' genotypes; a "
            "factor's agreement counts only edges that agree on the op; `fixed`: the arm does "
            "not search that factor. `chance`: what a guess scores: a uniform guess among the "
            "dataset's classes for accuracy; for agreement, two architectures drawn uniformly "
            "from the arm's space (every kept input and every edge choice alike; the flat twin "
            "holds the same architectures as its space, so the same level), see "
            "docs/benchmarks.md.",
            "",
            *(_differences_section(results) if len(arms) > 1 else _sweep_section(results)),
            "## Per seed",
            "",
            _per_seed_table(results),
            "",
            "## Agreement per seed pair",
            "",
            "Pairs in the order (0, 1), (0, 2), …, (1, 2), …; both cell types pooled.",
            "",
            _stability_table(results),
            "",
            "## Derived genotypes",
            "",
            "Per intermediate node: the kept edges as `op · factors ← source node`.",
            "",
            _genotype_lines(results),
            "",
            "## Figures",
            "",
            figures or "none",
            "",
            "## Sizes",
            "",
            _sizes_table(results),
            "",
            "The search's `subset` is split 50/50 into search-train and search-val; the "
            "retraining's images come from the training split, its `test_subset` from the test "
            "split.",
            "",
            "## Machine",
            "",
            _machine_lines(results),
            "",
        ]
    )


# -- figures -------------------------------------------------------------------------------------
def _bar_panel(
    ax: Any,
    arms: Sequence[ArmResult],
    key: str,
    title: str,
    ylabel: str,
    chance: float | None = None,
) -> None:
    """One bar per arm at the mean of summary statistic ``key``, the std as an error bar, and
    every seed as a dot; a dashed line at the ``chance`` level when given."""
    names = [a.key for a in arms]
    stats: list[Statistic] = [getattr(a.summary, key) for a in arms]
    means = [s.mean or 0.0 for s in stats]
    stds = [s.std or 0.0 for s in stats]
    ax.bar(range(len(arms)), means, yerr=stds, capsize=4, color="#9ecae1", edgecolor="#3182bd")
    for i, values in enumerate(s.values for s in stats):
        ax.plot([i] * len(values), values, "o", color="#08519c", markersize=3.5)
    if chance is not None:
        ax.axhline(chance, color="#d62728", linewidth=1.0, linestyle="--", zorder=3)
        ax.text(
            0.99,
            chance,
            f"chance {chance:.0f} %",
            transform=ax.get_yaxis_transform(),  # x across the panel, y in data units
            ha="right",
            va="bottom",
            fontsize=7,
            color="#d62728",
            zorder=3,
        )
    ax.set_xticks(range(len(arms)), names, rotation=20, ha="right", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(axis="y", alpha=0.3)


def _difference_panel(
    ax: Any, first: str, comparisons: Sequence[Comparison], key: str, title: str
) -> None:
    """Per arm after the first, the mean paired difference with its 95 % interval; a zero
    line, so an interval crossing it reads as seed noise at a glance."""
    compared = [c for c in comparisons if key in c.metrics]
    for i, comparison in enumerate(compared):
        metric = comparison.metrics[key]
        beyond = metric.half_width is not None and abs(metric.mean) > metric.half_width
        ax.errorbar(
            [i],
            [metric.mean],
            yerr=[[metric.half_width or 0.0]],
            fmt="o",
            capsize=5,
            color="#08519c" if beyond else "#969696",
        )
        ax.plot([i] * metric.n, metric.differences, "x", color="#6baed6", markersize=4)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(
        range(len(compared)),
        [c.arm for c in compared],
        rotation=20,
        ha="right",
        fontsize=8,
    )
    ax.set_xlim(-0.6, len(compared) - 0.4)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(f"{first} − arm (points)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(axis="y", alpha=0.3)


#: The narrowest accuracy figure (inches): room for its title, and for two panel titles
#: side by side, however few the arms.
MIN_ACCURACY_WIDTH = 6.4


def accuracy_figure(
    arms: Sequence[ArmResult], comparisons: Sequence[Comparison], seeds: int, chance: float
) -> Any:
    """Top: accuracy per arm (mean ± std, seeds as dots, the ``chance`` level dashed).
    Bottom: the first arm minus each other, paired by seed, with its 95 % t-interval (grey:
    contains 0; crosses: seeds). A bottom title takes two lines, so that it stays within its
    panel's width even with two arms."""
    figure_module = require_matplotlib()
    width = max(MIN_ACCURACY_WIDTH, 2.0 + 1.4 * len(arms))
    figure = figure_module.Figure(figsize=(width, 6.8), layout="constrained")
    axes = figure.subplots(2, 2)
    panels = (
        ("val_top1", "supernet, validation split"),
        ("test_top1", "retrained, test split"),
    )
    for column, (key, title) in enumerate(panels):
        _bar_panel(axes[0][column], arms, key, title, "top-1 (%)", chance)
        _difference_panel(
            axes[1][column], arms[0].key, comparisons, key, f"{title}:\ndifference, 95 % interval"
        )
    figure.suptitle(
        f"Accuracy per arm (mean ± std over {seeds} seeds; dots and crosses: seeds)", fontsize=10
    )
    return figure


def _summary_figure(
    arms: Sequence[ArmResult], seeds: int, panels: list[tuple[str, str, str]], title: str
) -> Any:
    figure_module = require_matplotlib()
    figure = figure_module.Figure(
        figsize=(1.2 + 2.6 * len(panels) + 0.35 * len(arms) * len(panels), 3.4),
        layout="constrained",
    )
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, panel_title, ylabel) in zip(axes, panels, strict=True):
        _bar_panel(ax, arms, key, panel_title, ylabel)
    figure.suptitle(f"{title} (mean ± std over {seeds} seeds; dots: seeds)", fontsize=10)
    return figure


def write_figures(
    out: Path,
    arms: Sequence[ArmResult],
    comparisons: Sequence[Comparison],
    seeds: int,
    chance: float,
) -> tuple[list[str], str | None]:
    """Accuracy (with the ``chance`` top-1) and cost per arm, and the first seed's weight
    trajectories per arm and group (``arch/<arm>/<cell type>_<group>.png``), from the parts of
    the results they show (the results' ``figures`` are these figures' paths); redrawing a
    finished comparison's is ``write_figures(out, results.arms, results.comparisons,
    results.settings.seeds, chance_levels(results).accuracy)``.

    Returns the written paths (relative to ``out``) and, when matplotlib is missing, a note
    saying so: the numbers are the point of the comparison, the pictures an extra.
    """
    try:
        require_matplotlib()
    except PlottingUnavailable as error:
        return [], f"No figures: {error}."
    folder = out / FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    accuracy = accuracy_figure(arms, comparisons, seeds, chance)
    written += save(accuracy, folder / "accuracy", ("png",))
    cost = _summary_figure(
        arms,
        seeds,
        [
            ("step_seconds", "search step (median)", "seconds"),
            ("peak_rss_mib", "peak RSS of the search process", "MiB"),
        ],
        "Search cost per arm",
    )
    written += save(cost, folder / "cost", ("png",))
    for arm in arms:
        run_dir = out / arm.runs[0].search.run_dir
        history = read_history(run_dir / "metrics.jsonl")
        names = candidate_names(run_dir / "config.json")
        arm_folder = folder / "arch" / arm.key
        arm_folder.mkdir(parents=True, exist_ok=True)
        for cell_type in history.cell_types:
            for group in history.groups(cell_type):
                figure = trajectory_figure(history, cell_type, group, names)
                stem = arm_folder / f"{cell_type}_{group}"
                written += save(figure, stem, ("png",), tight=False)
    return [str(p.relative_to(out)) for p in written], None
