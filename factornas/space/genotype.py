"""The derived discrete architecture, its JSON form, a networkx view and DARTS-text parsing.

A genotype stores, per cell type and per intermediate node, the kept incoming edges; each edge
records its source node, its op and the candidate of every factor attached to that op. It is
the hand-off between search and retraining, so it is plain, versioned JSON.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Annotated, Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from factornas.errors import GenotypeError, first_problem, reading
from factornas.files import write_atomic

GENOTYPE_FORMAT = 1
#: The most intermediate nodes a cell (searched or read) has: DARTS's cells have 4; past a few
#: dozen the concatenated output alone outgrows any device, so larger ones are refused.
MAX_NODES = 32
#: The most edges one node keeps: one per input and op pair would be far fewer in any rule.
MAX_EDGES_PER_NODE = 64

#: The factorized conv (``conv_op``'s one ``conv``), whose type and kernel size are the choices
#: of these two variant groups (:mod:`factornas.factors.convs`). DARTS text has room for an op
#: name only, so it names this conv as DARTS names its convs (``sep_conv_3x3``,
#: ``dil_conv_5x5``; a plain one ``conv_3x3``) and reads such names back as type and kernel.
FACTORIZED_CONV, CONV_TYPE_GROUP, KERNEL_SIZE_GROUP = "conv", "conv_type", "kernel_size"
_DARTS_CONV_PREFIX = {"sep": "sep_conv", "dil": "dil_conv", "plain": "conv"}
_DARTS_CONV_TYPE = {prefix: kind for kind, prefix in _DARTS_CONV_PREFIX.items()}
_DARTS_CONV_NAME = re.compile(r"(sep_conv|dil_conv|conv)_((\d+)x\3)")


class EdgeChoice(BaseModel):
    """One kept edge: ``source`` node (0 and 1 are the cell inputs), op and factor choices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: int = Field(ge=0)
    op: str
    factors: dict[str, str] = Field(default_factory=dict)

    def label(self) -> str:
        """``op`` followed by its factor choices, e.g. ``sep_conv_3x3 · selu``."""
        return " · ".join([self.op, *self.factors.values()])


def node_name(node: int) -> str:
    """How every printout and picture names a cell node (the DARTS paper's convention): the
    inputs c_{k-2}, c_{k-1}, then the intermediate nodes 0, 1, … (stored as 2, 3, …)."""
    return {0: "c_{k-2}", 1: "c_{k-1}"}.get(node, str(node - 2))


class CellGenotype(BaseModel):
    """One cell: the kept edges of each intermediate node, and which nodes are concatenated.

    A node usually keeps two edges (DARTS); GDAS's rule may keep one source twice, with two
    ops, and FairDARTS's threshold rule may keep fewer, even none. A node without edges has
    no state, so no edge may leave it and ``concat`` may not name it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: tuple[Annotated[tuple[EdgeChoice, ...], Field(max_length=MAX_EDGES_PER_NODE)], ...] = (
        Field(max_length=MAX_NODES)
    )
    concat: tuple[int, ...] = Field(max_length=MAX_NODES)

    @model_validator(mode="after")
    def _well_formed(self) -> CellGenotype:
        for i, edges in enumerate(self.nodes):
            for edge in edges:
                if edge.source >= i + 2:
                    raise ValueError(
                        f"node {i + 2} takes input from node {edge.source}, which comes after it"
                    )
                if edge.source >= 2 and not self.nodes[edge.source - 2]:
                    raise ValueError(
                        f"node {i + 2} takes input from node {edge.source}, which has no "
                        "incoming edge; drop that edge or give the node one"
                    )
        top = len(self.nodes) + 2
        if not self.concat:
            raise ValueError(
                f"concat is empty; a cell outputs the concatenation of some of nodes 2..{top - 1}"
            )
        for node in self.concat:
            if not 2 <= node < top:
                raise ValueError(f"concat names node {node}; intermediate nodes are 2..{top - 1}")
            if not self.nodes[node - 2]:
                raise ValueError(
                    f"concat names node {node}, which has no incoming edge; remove it from concat"
                )
        return self

    @property
    def steps(self) -> int:
        return len(self.nodes)

    def edges(self) -> list[tuple[int, EdgeChoice]]:
        """(target node, edge) pairs in node order."""
        return [(i + 2, e) for i, edges in enumerate(self.nodes) for e in edges]


class Genotype(BaseModel):
    """A discrete architecture of a factorized space (normal and reduction cell)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = GENOTYPE_FORMAT
    op_group: str = "op"
    normal: CellGenotype
    reduce: CellGenotype

    def cell(self, cell_type: str) -> CellGenotype:
        if cell_type not in ("normal", "reduce"):
            raise GenotypeError(f"unknown cell type {cell_type!r}; use 'normal' or 'reduce'")
        return self.normal if cell_type == "normal" else self.reduce

    # -- JSON -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str, *, source: str = "genotype") -> Genotype:
        """Parse and validate a genotype; any content (hostile or damaged) that is not one
        ends in one :class:`GenotypeError` or :class:`~factornas.errors.InputError` line."""
        with reading(source, "genotype"):
            return cls._from_json(text, source)

    @classmethod
    def _from_json(cls, text: str, source: str) -> Genotype:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise GenotypeError(f"{source} is not valid JSON: {error}") from None
        if isinstance(data, dict) and "genotype" in data and "normal" not in data:
            data = data["genotype"]  # a run summary that embeds the genotype
        if isinstance(data, dict) and data.get("format", GENOTYPE_FORMAT) != GENOTYPE_FORMAT:
            raise GenotypeError(
                f"{source} has genotype format {data.get('format')}, this factornas reads "
                f"format {GENOTYPE_FORMAT}: upgrade factornas"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            where, message = first_problem(error, "top level")
            raise GenotypeError(f"{source} is malformed at {where}: {message}") from None

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename): a crash never leaves half a genotype."""
        return write_atomic(Path(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Genotype:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise GenotypeError(f"cannot read genotype file {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise GenotypeError(f"{path} is not a genotype file (not UTF-8 text)") from None
        return cls.from_json(text, source=str(path))

    # -- views ----------------------------------------------------------------------------
    def to_networkx(self, cell_type: str = "normal") -> nx.MultiDiGraph:
        """The cell as a MultiDiGraph: nodes ``c_{k-2}``, ``c_{k-1}``, ``0``…, ``c_{k}``;
        edges carry ``op``, ``factors`` and a display ``label``.

        A multigraph, because a node may take one source twice with two ops (GDAS's rule):
        those are two parallel edges, keyed 0 and 1. A node without edges (FairDARTS's
        threshold rule) is present with ``kind="intermediate"`` and no edge at all."""
        cell = self.cell(cell_type)
        graph = nx.MultiDiGraph(cell_type=cell_type)
        graph.add_node("c_{k-2}", kind="input")
        graph.add_node("c_{k-1}", kind="input")
        for i in range(cell.steps):
            graph.add_node(node_name(i + 2), kind="intermediate")
        graph.add_node("c_{k}", kind="output")
        for target, edge in cell.edges():
            graph.add_edge(
                node_name(edge.source),
                node_name(target),
                op=edge.op,
                factors=dict(edge.factors),
                label=edge.label(),
            )
        for node in cell.concat:
            graph.add_edge(node_name(node), "c_{k}", op="concat", factors={}, label="")
        return graph

    def to_darts_string(self) -> str:
        """The DARTS namedtuple text, for tools that read it: factor choices are dropped, but
        a factorized conv keeps its type and kernel in its name (``sep_conv_5x5``), which
        :func:`parse_darts_genotype` reads back.

        A cell whose nodes keep other than two edges (the threshold rule) gives a list that
        DARTS's own cell cannot build; it still reads as a display of the cell."""

        def pairs(cell: CellGenotype) -> str:
            return (
                "["
                + ", ".join(f"({darts_op_name(e)!r}, {e.source})" for _, e in cell.edges())
                + "]"
            )

        return (
            f"Genotype(normal={pairs(self.normal)}, normal_concat={list(self.normal.concat)}, "
            f"reduce={pairs(self.reduce)}, reduce_concat={list(self.reduce.concat)})"
        )


# -- DARTS namedtuple text --------------------------------------------------------------------
def darts_op_name(edge: EdgeChoice) -> str:
    """``edge``'s op as DARTS text names it: a factorized conv by its type and kernel size
    (both chosen: a space searching only one of them leaves the other implicit), else as is."""
    prefix = _DARTS_CONV_PREFIX.get(edge.factors.get(CONV_TYPE_GROUP, ""))
    name = f"{prefix}_{edge.factors.get(KERNEL_SIZE_GROUP)}"
    named = edge.op == FACTORIZED_CONV and prefix is not None and _DARTS_CONV_NAME.fullmatch(name)
    return name if named else edge.op


def _factorized_group_ops(op_group: str) -> tuple[str, ...] | None:
    """The ops of ``op_group`` if its convs are the factorized ``conv`` (``conv_op``), whose
    DARTS names (``sep_conv_3x3``) then stand for that conv's type and kernel; else None."""
    from factornas.factors.registry import registry

    group = registry.get(op_group) if op_group in registry else None
    return group.names if group is not None and FACTORIZED_CONV in group else None


def _darts_op(name: str, factorized_ops: tuple[str, ...] | None) -> tuple[str, dict[str, str]]:
    """The op and the factor choices a DARTS op name stands for in a group of those ops."""
    factorized = factorized_ops is not None and name not in factorized_ops
    match = _DARTS_CONV_NAME.fullmatch(name) if factorized else None
    if match is None:
        return name, {}
    conv_type = {CONV_TYPE_GROUP: _DARTS_CONV_TYPE[match[1]], KERNEL_SIZE_GROUP: match[2]}
    return FACTORIZED_CONV, conv_type


def _literal(node: ast.AST, what: str) -> Any:
    """Evaluate a literal or a ``range(a, b)`` call; anything else is refused (no eval)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
    ):
        span = range(*(_literal(a, what) for a in node.args))
        if len(span) > MAX_NODES + 2:
            raise GenotypeError(f"DARTS genotype: {what} spans more than {MAX_NODES + 2} nodes")
        return list(span)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        raise GenotypeError(
            f"DARTS genotype: {what} must be a literal list, got {ast.unparse(node)!r}"
        ) from None


def parse_darts_genotype(
    text: str,
    *,
    steps: int = 4,
    edges_per_node: int = 2,
    default_factors: dict[str, dict[str, str]] | None = None,
    op_group: str = "op",
) -> Genotype:
    """Parse DARTS text such as ``Genotype(normal=[('sep_conv_3x3', 0), …], normal_concat=…)``.

    Edges come in groups of ``edges_per_node`` per node, as DARTS writes them.
    ``default_factors`` maps an op name to the factor choices it gets (e.g. the activation
    ``relu`` for every conv, since DARTS searched none); use :func:`darts_factor_defaults`.
    With ``op_group="conv_op"`` a conv's DARTS name gives the factorized ``conv`` of that
    type and kernel (``sep_conv_5x5`` → ``conv`` with ``conv_type=sep``,
    ``kernel_size=5x5``), as :meth:`Genotype.to_darts_string` writes it; ``default_factors``
    then keys its choices by ``conv``.
    Any text that is not such a genotype ends in one :class:`GenotypeError` line.
    """
    with reading("DARTS genotype text", "genotype"):
        return _parse_darts_genotype(text, steps, edges_per_node, default_factors, op_group)


def _parse_darts_genotype(
    text: str,
    steps: int,
    edges_per_node: int,
    default_factors: dict[str, dict[str, str]] | None,
    op_group: str,
) -> Genotype:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise GenotypeError(f"DARTS genotype text does not parse: {error.msg}") from None
    call = tree.body
    if not isinstance(call, ast.Call) or call.args:
        raise GenotypeError(
            "DARTS genotype text must look like Genotype(normal=[...], normal_concat=[...], "
            "reduce=[...], reduce_concat=[...])"
        )
    fields = {kw.arg: kw.value for kw in call.keywords if kw.arg}
    missing = {"normal", "normal_concat", "reduce", "reduce_concat"} - set(fields)
    if missing:
        raise GenotypeError(f"DARTS genotype text lacks {', '.join(sorted(missing))}")
    defaults = default_factors or {}
    factorized_ops = _factorized_group_ops(op_group)

    def cell(kind: str) -> CellGenotype:
        pairs = _literal(fields[kind], kind)
        concat = _literal(fields[f"{kind}_concat"], f"{kind}_concat")
        if not isinstance(pairs, list | tuple) or len(pairs) != steps * edges_per_node:
            raise GenotypeError(
                f"DARTS genotype: {kind} must list {steps * edges_per_node} (op, input) pairs"
            )
        edges = []
        for pair in pairs:
            if (
                not isinstance(pair, list | tuple)
                or len(pair) != 2
                or not isinstance(pair[0], str)
                or not isinstance(pair[1], int)
            ):
                raise GenotypeError(f"DARTS genotype: {kind} entry {pair!r} is not (op, input)")
            op, variants = _darts_op(pair[0], factorized_ops)
            factors = {**defaults.get(op, {}), **variants}
            edges.append(EdgeChoice(source=pair[1], op=op, factors=factors))
        nodes = tuple(
            tuple(edges[i : i + edges_per_node]) for i in range(0, len(edges), edges_per_node)
        )
        try:
            return CellGenotype(nodes=nodes, concat=tuple(concat))
        except ValidationError as error:
            _, message = first_problem(error, kind)
            raise GenotypeError(f"DARTS genotype: {kind}: {message}") from None

    return Genotype(op_group=op_group, normal=cell("normal"), reduce=cell("reduce"))


def darts_factor_defaults(activation: str = "relu") -> dict[str, dict[str, str]]:
    """Factor choices implied by DARTS text: every registered conv op gets ``activation``."""
    from factornas.factors.registry import get_group

    ops = get_group("op")
    act = get_group("activation")
    return {c.name: {act.name: activation} for c in ops.select(None) if act.attaches_to(c)}
