"""The package's layers hold: every import goes down the layer order, and no module imports
itself back through others (docs/architecture.md).

Every ``import`` and ``from … import`` statement counts, including those under
``TYPE_CHECKING`` and inside functions: an import dodged into a function is still a
dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "factornas"

#: Lowest first. A module may import from its own folder and from any lower layer; folders
#: sharing a layer do not import each other. ``evaluate`` is the retraining layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("files", "registry"),
    ("runtime", "data"),
    ("kernels",),
    ("factors",),
    ("relaxations",),
    ("space",),
    ("supernet", "figures"),
    ("search", "evaluate"),
    ("presets",),
    ("build", "export", "configfile", "plugins"),
    ("bench",),
    ("cli",),
    ("__init__", "__main__"),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _unit(module: str) -> str:
    """The layer unit of a module: its folder (or file) right under ``factornas``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(module: str, source: str, is_package: bool = False) -> set[str]:
    """The factornas modules ``module`` (whose code is ``source``) imports; a ``from X import
    name`` of a submodule counts as importing the submodule."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("factornas"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("factornas"):
                continue
            submodules = [f"{target}.{a.name}" for a in node.names]
            found.update(s for s in submodules if s in MODULES)
            if not any(s in MODULES for s in submodules):
                found.add(target)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {
    module: _imports(module, path.read_text(), path.name == "__init__.py")
    for module, path in MODULES.items()
}


def test_every_unit_has_a_layer() -> None:
    units = {_unit(m) for m in MODULES}
    assert units <= set(RANK), f"place these in LAYERS: {sorted(units - set(RANK))}"


def test_imports_follow_the_layer_order() -> None:
    against = [
        f"{module} imports {target} ({_unit(module)} may not depend on {_unit(target)})"
        for module, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if _unit(target) != _unit(module) and RANK[_unit(target)] >= RANK[_unit(module)]
    ]
    assert not against, "\n".join(against)


def test_no_module_imports_itself_back() -> None:
    """Tarjan's strongly connected components of the module graph: each must be one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_imports_inside_functions_and_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from factornas.space import config\n"
        "def f():\n    import factornas.cli\n    from ..search import loop\n"
    )
    found = _imports("factornas.presets.probe", source)
    assert found == {"factornas.space.config", "factornas.cli", "factornas.search.loop"}
