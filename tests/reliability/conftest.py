"""Shared pieces of the reliability suite: tiny runs, snapshots, one-line-error checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from factornas.cli import main

#: The smallest real search: a 3-cell darts supernet with 2 channels on 32 synthetic images.
TINY_SEARCH = [
    "search", "--preset", "darts", "--dataset", "synthetic", "--subset", "32", "--channels",
    "2", "--layers", "3", "--batch-size", "8", "--eval-batches", "1", "--epochs", "1",
    "--quiet",
]  # fmt: skip
#: The same on adarts, whose activation group can be fixed or frozen from a run.
TINY_ADARTS = [TINY_SEARCH[0], "--preset", "adarts", *TINY_SEARCH[3:]]
TINY_TRAIN = [
    "train", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "8", "--channels", "4",
    "--layers", "3", "--subset", "16", "--test-subset", "8", "--quiet",
]  # fmt: skip


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes); empty when ``root`` is missing."""
    if not root.exists():
        return {}
    if root.is_file():
        return {".": root.read_bytes()}
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI in-process; assert exit 2 and exactly one ``error:`` line; return it."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.fixture(scope="session")
def resumable_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A search that checkpointed its only epoch and was stopped before finishing: rerunning
    ``TINY_SEARCH`` on a copy resumes it (straight to its end)."""
    out = tmp_path_factory.mktemp("resumable") / "run"
    assert main([*TINY_SEARCH, "--out", str(out)]) == 0
    for name in ("summary.json", "genotype.json", "arch_weights.json"):
        (out / name).unlink()
    return out


@pytest.fixture
def resumable(resumable_run: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`resumable_run`."""
    out = tmp_path / "run"
    shutil.copytree(resumable_run, out)
    return out


@pytest.fixture
def finished(resumable: Path) -> Path:
    """A finished tiny search (the resumable one, resumed to its end)."""
    assert main([*TINY_SEARCH, "--out", str(resumable)]) == 0
    return resumable
