"""DARTS text of ``adarts_conv`` genotypes: the factorized conv is named by its type and kernel
(``sep_conv_5x5``), and reading the text back gives the same conv type and kernel size."""

from __future__ import annotations

import itertools

import torch

from factornas import derive_genotype, space_preset
from factornas.space.genotype import (
    CellGenotype,
    EdgeChoice,
    Genotype,
    darts_op_name,
    parse_darts_genotype,
)

GROUPS = {"conv_op": 5, "conv_type": 3, "kernel_size": 2, "activation": 9, "normalization": 4}
OTHERS = {"activation": "selu", "normalization": "gn"}  # what DARTS text has no room for


def conv(source: int, kind: str, kernel: str) -> EdgeChoice:
    factors = {"conv_type": kind, "kernel_size": kernel, **OTHERS}
    return EdgeChoice(source=source, op="conv", factors=factors)


def every_conv() -> Genotype:
    """Each conv type at each kernel size, beside ops without factors."""
    convs = [conv(i % 2, kind, kernel) for i, (kind, kernel) in
             enumerate(itertools.product(("sep", "dil", "plain"), ("3x3", "5x5")))]  # fmt: skip
    other = [EdgeChoice(source=0, op="skip_connect"), EdgeChoice(source=1, op="max_pool_3x3")]
    edges = [*convs, *other]
    nodes = tuple(tuple(edges[i : i + 2]) for i in range(0, 8, 2))
    cell = CellGenotype(nodes=nodes, concat=(2, 3, 4, 5))
    return Genotype(op_group="conv_op", normal=cell, reduce=cell)


def test_the_text_names_each_conv_by_type_and_kernel() -> None:
    text = every_conv().to_darts_string()
    assert text.startswith(
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_3x3', 0), "
        "('dil_conv_5x5', 1), ('conv_3x3', 0), ('conv_5x5', 1), ('skip_connect', 0), "
        "('max_pool_3x3', 1)], normal_concat=[2, 3, 4, 5], "
    )


def test_every_conv_reads_back_equal() -> None:
    genotype = every_conv()
    defaults = {"conv": OTHERS}  # the factors DARTS text drops, as for DARTS's own genotypes
    back = parse_darts_genotype(genotype.to_darts_string(), op_group="conv_op",
                                default_factors=defaults)  # fmt: skip
    assert back == genotype


def test_a_derived_adarts_conv_genotype_keeps_its_conv_types_and_kernels() -> None:
    torch.manual_seed(3)
    weights = {c: {g: torch.rand(14, n) for g, n in GROUPS.items()} for c in ("normal", "reduce")}
    for cell in weights.values():
        cell["conv_op"][:, 4] += 0.5  # mostly convs, so that every type and kernel shows up
    genotype = derive_genotype(space_preset("adarts_conv"), weights)
    back = parse_darts_genotype(genotype.to_darts_string(), op_group="conv_op")

    def searched(g: Genotype) -> list[tuple[int, str, str | None, str | None]]:
        edges = [e for cell in (g.normal, g.reduce) for _, e in cell.edges()]
        conv_choice = [(e.factors.get("conv_type"), e.factors.get("kernel_size")) for e in edges]
        return [(e.source, e.op, *choice) for e, choice in zip(edges, conv_choice, strict=True)]

    assert searched(back) == searched(genotype)
    kinds = {(kind, kernel) for _, op, kind, kernel in searched(genotype) if op == "conv"}
    assert {kind for kind, _ in kinds} == {"sep", "dil", "plain"} and len(kinds) > 3


def test_darts_own_ops_and_partial_convs_keep_their_names() -> None:
    normal, reduce = ", ".join(["('sep_conv_3x3', 0)"] * 8), ", ".join(["('dil_conv_5x5', 1)"] * 8)
    text = (f"Genotype(normal=[{normal}], normal_concat=[2, 3, 4, 5], "
            f"reduce=[{reduce}], reduce_concat=[2, 3, 4, 5])")  # fmt: skip
    for group in ("op", "op_bare"):  # groups whose candidates are those names
        parsed = parse_darts_genotype(text, op_group=group)
        assert {e.op for _, e in parsed.normal.edges()} == {"sep_conv_3x3"}
        assert all(not e.factors for _, e in parsed.reduce.edges())
        assert parsed.to_darts_string() == text
    only_type = EdgeChoice(source=0, op="conv", factors={"conv_type": "dil"})
    assert darts_op_name(only_type) == "conv"  # no kernel chosen: nothing to name it by
