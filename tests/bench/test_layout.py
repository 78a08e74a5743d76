"""The bench package is the harness alone: its command lines are :mod:`factornas.cli`'s
(``bench.py``, ``bench_compare.py``, ``bench_cost.py``), so no bench module parses arguments or
reaches up into the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "factornas" / "bench"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_bench_module_parses_arguments_or_imports_the_cli() -> None:
    offending = {
        f"{path.relative_to(BENCH.parent)}: {name}"
        for path in BENCH.rglob("*.py")
        for name in _imports(path)
        if name == "argparse" or name == "factornas.cli" or name.startswith("factornas.cli.")
    }
    assert not offending, sorted(offending)
