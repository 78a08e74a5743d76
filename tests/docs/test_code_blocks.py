"""The README and every page under docs/ run as written.

Each page's ```python blocks run in page order in one namespace (a later block uses what an
earlier one defined), in a fresh directory that holds ``runs/adarts``: a finished adarts
search, the run the pages' first commands make (``factornas search --preset adarts ...
--out runs/adarts``). A search a page starts runs at a tiny size: ``run_search`` shrinks the
config it is given (a few channels, three cells, one epoch, synthetic images of the page's
dataset's channels and classes), so the page's imports, names, configs and what it does with
the result run as written, in seconds. A block that cannot run here carries a ``<!-- not run:
reason -->`` mark above its fence. Every ``factornas`` command of a ```bash block is parsed by
the CLI's own parser, so a misspelt flag or subcommand fails here; none is run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import factornas
import factornas.search.loop
from factornas.data.registry import DATASETS
from factornas.factors import registry as factor_registry
from factornas.presets.published import PUBLISHED
from factornas.presets.retrain import RETRAIN_RECIPES
from factornas.presets.search import SEARCH_PRESETS, search_preset
from factornas.presets.spaces import SPACE_PRESETS
from factornas.registry import Registry
from factornas.relaxations.registry import RELAXATIONS
from factornas.relaxations.stabilizer import STABILIZERS
from factornas.search.config import SearchConfig
from factornas.search.loop import SearchResult

from .commands import commands, parse_command
from .markdown import Block, blocks, pages, stray_marks

ROOT = Path(__file__).resolve().parents[2]
PAGES = pages(ROOT)
SHELLS = ("bash", "sh", "shell")
#: Everything a page may register into; what it adds is removed after it.
REGISTRIES: tuple[Registry[Any], ...] = (
    DATASETS,
    PUBLISHED,
    RELAXATIONS,
    RETRAIN_RECIPES,
    SEARCH_PRESETS,
    SPACE_PRESETS,
    STABILIZERS,
)
RunSearch = Callable[..., SearchResult]


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _blocks(page: Path) -> list[Block]:
    return list(blocks(page.read_text()))


def tiny(config: SearchConfig) -> SearchConfig:
    """The search ``config`` describes, shrunk to seconds on synthetic images of its dataset's
    channels and classes."""
    spec = DATASETS.get(config.data.dataset)
    channels, _ = spec.input_shape(config.data)
    synthetic = {"size": 16, "image": 8, "channels": channels, "classes": spec.classes}
    return config.replace(
        channels=4,
        layers=3,
        epochs=1,
        batch_size=8,
        eval_batches=1,
        data={"dataset": "synthetic", "subset": None, "synthetic": synthetic},
    )


def _tiny_searches(original: RunSearch) -> RunSearch:
    def run_search(config: SearchConfig, out: str | Path, **options: Any) -> SearchResult:
        options.update(device="cpu", show_progress=False)
        return original(tiny(config), out, **options)

    return run_search


@pytest.fixture(scope="module")
def finished_adarts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("given") / "adarts"
    _tiny_searches(factornas.search.loop.run_search)(search_preset("adarts"), run)
    return run


@pytest.fixture
def page_directory(
    tmp_path: Path, finished_adarts: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A fresh working directory holding ``runs/adarts``; searches shrunk; registrations
    made by the page removed afterwards."""
    shutil.copytree(finished_adarts, tmp_path / "runs" / "adarts")
    monkeypatch.chdir(tmp_path)
    shrunk = _tiny_searches(factornas.search.loop.run_search)
    monkeypatch.setattr(factornas.search.loop, "run_search", shrunk)
    monkeypatch.setattr(factornas, "run_search", shrunk)
    groups_before = set(factor_registry.names())
    before = [set(r.names()) for r in REGISTRIES]
    try:
        yield tmp_path
    finally:
        for name in set(factor_registry.names()) - groups_before:
            factor_registry.unregister(name)
        for registry, names in zip(REGISTRIES, before, strict=True):
            for name in set(registry.names()) - names:
                registry.remove(name)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_the_python_blocks_of_the_page_run_in_order(page: Path, page_directory: Path) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs.{page.stem}"}
    for block in _blocks(page):
        if block.lang != "python" or block.not_run is not None:
            continue
        # Padded so that a traceback names the page's own line numbers.
        code = compile("\n" * (block.line - 1) + block.code, str(page), "exec")
        exec(code, namespace)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_not_run_mark_stands_above_a_python_block_and_says_why(page: Path) -> None:
    text = page.read_text()
    assert not stray_marks(text), f"{_page_id(page)}: marks not above a fence: {stray_marks(text)}"
    for block in blocks(text):
        if block.not_run is not None:
            where = f"{_page_id(page)}:{block.line - 2}"
            assert block.lang == "python", f"{where}: only python blocks run, nothing to exempt"
            assert block.not_run, f"{where}: say why it does not run (<!-- not run: why -->)"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_factornas_command_of_the_page_parses(page: Path) -> None:
    for block in _blocks(page):
        if block.lang in SHELLS:
            for arguments in commands(block.code):
                parse_command(arguments)


def test_a_misspelt_flag_fails_the_check() -> None:
    (arguments,) = commands("factornas search --preset adarts --epcohs 4 --out runs/x  # typo\n")
    with pytest.raises(pytest.fail.Exception, match="refuses"):
        parse_command(arguments)


def test_command_lines_are_read_as_a_shell_reads_them() -> None:
    shell = (
        "factornas search --preset adarts --print-config > run.toml   # every setting\n"
        "pip install factornas && factornas show runs/a \\\n"
        "    --no-figures 2>/dev/null\n"
        "torchrun --nproc_per_node=8 -m factornas search --preset apc_darts\n"
    )
    assert list(commands(shell)) == [
        ["search", "--preset", "adarts", "--print-config"],
        ["show", "runs/a", "--no-figures"],
        ["search", "--preset", "apc_darts"],
    ]


def test_marks_are_read_with_their_reason() -> None:
    text = "<!-- not run: needs a GPU -->\n```python\nx = 1\n```\n<!-- not run -->\n\ntext\n"
    (block,) = blocks(text)
    assert (block.lang, block.line, block.code, block.not_run) == (
        "python",
        3,
        "x = 1\n",
        "needs a GPU",
    )
    assert stray_marks(text) == [5]
