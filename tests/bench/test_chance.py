"""Chance levels: checked against their definition (every pair of the space's architectures,
compared by the agreement metric itself), against A-DARTS's by hand, and in ``report.md``."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from factornas.bench.arms import build_arms
from factornas.bench.chance import (
    chance_accuracy,
    chance_edge_agreement,
    chance_factor_agreement,
)
from factornas.bench.compare.results import load_results
from factornas.bench.report import render_report, summary_table
from factornas.bench.stability import compare_genotypes
from factornas.space.config import CELL_TYPES, CellType, GroupSpec, SearchSpace, Topology
from factornas.space.genotype import CellGenotype, EdgeChoice, Genotype
from factornas.space.size import cell_size

#: Small enough to compare every pair of architectures: two nodes keeping two inputs each, and
#: 3 edge choices per cell: skip or sep_conv with relu or selu (normal), sep_conv with relu, elu
#: or selu (reduction). The cells differ in what carries the factor and in its candidates, so
#: pooling them matters: the activation's chance level is neither 1/2 nor 1/3.
TINY = SearchSpace(
    name="tiny",
    normal=(
        GroupSpec(group="op_bare", candidates=("none", "skip_connect", "sep_conv_3x3")),
        GroupSpec(group="activation", candidates=("relu", "selu")),
    ),
    reduce=(
        GroupSpec(group="op_bare", candidates=("none", "sep_conv_3x3")),
        GroupSpec(group="activation", candidates=("relu", "elu", "selu")),
    ),
    topology=Topology(steps=2, multiplier=2, edges_per_node=2),
)


def every_cell(space: SearchSpace, cell_type: CellType) -> list[CellGenotype]:
    """Every discrete cell of ``space``, each once: the architectures the chance level draws
    from uniformly."""
    cell = space.cell(cell_type)
    choices = []
    for op in cell.op.candidates:
        if op.is_zero:
            continue
        if op.parts:  # a flat twin's op maps back to its op and factor choices
            choices.append((op.parts[0][1], dict(op.parts[1:])))
            continue
        attached = cell.attached(op)
        for combo in itertools.product(*(f.names for f in attached)):
            choices.append((op.name, {f.name: c for f, c in zip(attached, combo, strict=True)}))
    k = space.topology.edges_per_node
    per_node = [
        [
            tuple(
                EdgeChoice(source=s, op=op, factors=f)
                for s, (op, f) in zip(inputs, ops, strict=True)
            )
            for inputs in itertools.combinations(range(i + 2), k)
            for ops in itertools.product(choices, repeat=k)
        ]
        for i in range(space.topology.steps)
    ]
    concat = tuple(range(2, 2 + space.topology.steps))
    return [CellGenotype(nodes=nodes, concat=concat) for nodes in itertools.product(*per_node)]


def expected_counts(space: SearchSpace, group: str) -> list[list[float]]:
    """Per cell type, the mean over every ordered pair of its cells of the metric's counts:
    op-agreeing edges, and edges compared and agreeing on ``group``."""
    means = []
    for cell_type in CELL_TYPES:
        cells = every_cell(space, cell_type)
        assert len(cells) == cell_size(space, space.cell(cell_type))  # each architecture once
        genotypes = [Genotype(normal=cell, reduce=cell) for cell in cells]
        totals = [0.0, 0.0, 0.0]
        for a, b in itertools.product(genotypes, repeat=2):
            pair = compare_genotypes(a, b, cell_types=(cell_type,))
            totals[0] += pair.same_op
            totals[1] += pair.factor_compared.get(group, 0)
            totals[2] += pair.factor_same.get(group, 0)
        means.append([total / len(cells) ** 2 for total in totals])
    return means


@pytest.mark.parametrize("flat", [False, True], ids=["factorized", "flat twin"])
def test_chance_levels_are_the_mean_agreement_of_every_pair_of_architectures(flat: bool) -> None:
    space = TINY.flat_twin() if flat else TINY
    counts = expected_counts(space, "activation")
    kept = 2 * 2  # two nodes keep two edges each, per cell
    same = sum(c[0] for c in counts)
    assert chance_edge_agreement(space) == pytest.approx(same / (2 * kept), rel=1e-12)
    compared, agreed = sum(c[1] for c in counts), sum(c[2] for c in counts)
    assert chance_factor_agreement(space, "activation") == pytest.approx(agreed / compared)
    # Per cell one in two and one in three; pooled, the reduction cell's convs weigh more.
    assert counts[0][2] / counts[0][1] == pytest.approx(1 / 2)
    assert counts[1][2] / counts[1][1] == pytest.approx(1 / 3)
    assert chance_factor_agreement(space, "activation") == pytest.approx(5 / 13)


def test_a_darts_cell_s_chance_agreement_by_hand() -> None:
    """Node i keeps 2 of i + 2 inputs: 4 / (i + 2) shared on average; A-DARTS's 39 edge choices
    are 9 per convolution (one per activation) and 1 per pool or skip."""
    shared = sum(4 / (i + 2) for i in range(4))
    same_op = 4 * (9 / 39) ** 2 + 3 * (1 / 39) ** 2
    arms = {arm.key: arm for arm in build_arms("adarts", ("flat", "relu"))}
    for key in ("adarts", "flat"):
        assert chance_edge_agreement(arms[key].space) == pytest.approx(shared * same_op / 8)
        assert chance_factor_agreement(arms[key].space, "activation") == pytest.approx(1 / 9)
    relu = arms["activation=relu"].space  # seven ops, alike
    assert chance_edge_agreement(relu) == pytest.approx(shared / 7 / 8)
    assert chance_factor_agreement(relu, "activation") == 1.0  # one candidate left
    no_conv = SearchSpace(
        normal=(GroupSpec(group="op_bare", candidates=("skip_connect", "max_pool_3x3")),)
    )
    assert chance_factor_agreement(no_conv, "activation") is None  # no op carries it
    assert chance_accuracy(10) == 10.0 and chance_accuracy(1000) == 0.1


COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "adarts-full"


def test_the_report_states_chance_beside_accuracies_and_agreements() -> None:
    results = load_results(COMMITTED / "results.json")
    report = render_report(results)
    shared = sum(4 / (i + 2) for i in range(4))
    factorized = shared * (4 * 81 + 3) / 39**2 / 8  # 0.14: adarts and its flat twin
    fixed = shared / 7 / 8  # 0.09: seven ops
    assert (
        "| supernet val top-1 (%; chance 10.0) | retrained test top-1 (%; chance 10.0) |" in report
    )
    results_section = report.split("## Results")[1].split("\n## ")[0]
    rows = {line.split(" | ")[0]: line for line in results_section.splitlines() if "| `" in line}
    assert f"| 0.17 (chance {factorized:.2f}) | n/a (chance {1 / 9:.2f}) |" in rows["| `adarts`"]
    assert f"| 0.17 (chance {factorized:.2f}) | 0.00 (chance {1 / 9:.2f}) |" in rows["| `flat`"]
    assert f"| 0.19 (chance {fixed:.2f}) | fixed |" in rows["| `activation=relu`"]
    assert f"0.19, 0.12, 0.19 (chance {factorized:.2f})" in report  # per seed pair too
    assert summary_table(results) in report
