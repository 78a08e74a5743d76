"""The finite-loss guard: a diverging search stops with one line, keeps its last good
checkpoint byte for byte and writes no genotype; non-finite checkpoints are never loaded."""

from __future__ import annotations

import errno
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from factornas.runtime import checkpoint as checkpoint_module
from factornas.runtime.metrics import read_metrics
from factornas.search import loop
from factornas.search.guard import FiniteGuard, SearchDivergedError
from tests.reliability.conftest import TINY_SEARCH, one_line_error, snapshot


def test_guard_remembers_the_first_non_finite_step() -> None:
    guard = FiniteGuard(torch.device("cpu"))
    guard.observe(0, 0, torch.tensor(1.0), torch.tensor(2.0), torch.tensor(1.0))
    guard.check([torch.ones(2)])  # all finite: no error
    guard.observe(0, 1, torch.tensor(1.0), torch.tensor(math.nan))
    guard.observe(1, 0, torch.tensor(math.nan), None, torch.tensor(math.inf))
    with pytest.raises(SearchDivergedError, match=r"validation .* at epoch 0, step 1 .*--arch-lr"):
        guard.check()


def test_guard_names_gradients_statistics_and_non_finite_tensors() -> None:
    running_var = torch.tensor([1.0])
    guard = FiniteGuard(torch.device("cpu"), [running_var])
    guard.observe(2, 6, 0.5, None, torch.tensor(3e38))  # a huge but finite norm: no divergence
    guard.check()
    guard.observe(2, 7, 0.5, None, torch.tensor(math.nan))  # the step's gradient norm
    with pytest.raises(
        SearchDivergedError, match=r"gradient became .* epoch 2, step 7 .*lower --lr"
    ):
        guard.check()
    guard = FiniteGuard(torch.device("cpu"), [running_var])
    running_var.fill_(math.inf)
    guard.observe(0, 3, 0.5, 0.5)
    with pytest.raises(SearchDivergedError, match=r"batch-norm statistics became .* step 3"):
        guard.check()
    with pytest.raises(SearchDivergedError, match="batch-norm statistics are non-finite"):
        FiniteGuard(torch.device("cpu")).check([torch.tensor([1.0, math.inf])], where="kept")


@pytest.mark.slow
def test_diverging_lr_stops_keeps_last_good_checkpoint_and_writes_no_genotype(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    saved: list[bytes] = []
    real_save = loop.save_checkpoint

    def recording_save(path: Path, state: dict[str, Any]) -> Path:
        real_save(path, state)
        saved.append(Path(path).read_bytes())
        return Path(path)

    monkeypatch.setattr(loop, "save_checkpoint", recording_save)
    # At this rate the first steps are still finite, and a few later ones are not.
    argv = [*TINY_SEARCH, "--epochs", "3", "--lr", "1e6", "--checkpoint-every", "1"]
    line = one_line_error(capsys, [*argv, "--out", str(out)])
    assert re.fullmatch(
        r"error: the search diverged: the .+ became non-finite at (epoch \d, step \d+ \(counted "
        r"from 0; the first such step\)|the end of epoch \d \(its evaluation; every step and "
        r"weight was finite\)): lower --lr.*; the last good checkpoint is kept in "
        + re.escape(str(out / "checkpoint.pt")),
        line,
    ), line
    assert saved, "the first step was finite, so one checkpoint was written before the stop"
    assert (out / "checkpoint.pt").read_bytes() == saved[-1]
    state = checkpoint_module.load_checkpoint(out / "checkpoint.pt")  # finite, so it loads
    assert (state["epoch"], state["step"]) != (0, 0)
    for name in ("genotype.json", "arch_weights.json", "summary.json"):
        assert not (out / name).exists(), name
    diverged_in = int(re.search(r"epoch (\d)", line).group(1))  # type: ignore[union-attr]
    records = read_metrics(out / "metrics.jsonl")  # only the epochs before, all finite
    assert [r["epoch"] for r in records] == list(range(diverged_in))
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"]) for r in records)


def _rewrite_checkpoint(run: Path, change: Any) -> None:
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    change(state)
    torch.save(state, run / "checkpoint.pt")


def _nan_weight(state: dict[str, Any]) -> None:
    key = next(k for k, v in state["network"].items() if v.is_floating_point())
    state["network"][key].fill_(math.nan)


def _foreign_object(state: dict[str, Any]) -> None:
    state["extra"] = Path("x")  # not loadable with weights_only=True


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: _rewrite_checkpoint(run, _nan_weight), "holds non-finite values (network."),
        (lambda run: (run / "checkpoint.pt").write_bytes(b"PK\x03\x04 torn"), "is corrupt"),
        (
            lambda run: _rewrite_checkpoint(run, _foreign_object),
            "(it holds objects a factornas checkpoint never holds)",
        ),
        (
            lambda run: (run / "metrics.jsonl").write_text(
                "garbage\n" + (run / "metrics.jsonl").read_text()
            ),
            "metrics.jsonl line 1 is damaged (not a JSON object)",
        ),
    ],
    ids=["nan-weights", "torn-checkpoint", "foreign-object", "damaged-metrics"],
)
def test_resume_refuses_a_damaged_run_and_touches_nothing(
    resumable: Path, damage: Any, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    damage(resumable)
    before = snapshot(resumable)
    line = one_line_error(capsys, [*TINY_SEARCH, "--out", str(resumable)])
    assert message in line and "weights_only" not in line
    assert snapshot(resumable) == before


@pytest.mark.slow
def test_full_disk_keeps_the_previous_checkpoint_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    real_save = torch.save
    calls: list[int] = []

    def filling_save(state: Any, handle: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            real_save(state, handle)
            return
        handle.write(b"\0" * 4096)  # the disk fills part-way through
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", filling_save)
    argv = [*TINY_SEARCH, "--checkpoint-every", "1", "--out", str(out)]
    first: list[bytes] = []
    real_replace = checkpoint_module.os.replace

    def remembering_replace(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        if Path(dst).name == "checkpoint.pt":
            first.append(Path(dst).read_bytes())

    monkeypatch.setattr(checkpoint_module.os, "replace", remembering_replace)
    line = one_line_error(capsys, argv)
    assert line == (
        f"error: {out / 'checkpoint.pt'}: No space left on device: free some space and rerun "
        "(the run resumes from its last checkpoint)"
    )
    assert len(first) == 1 and (out / "checkpoint.pt").read_bytes() == first[0]
    assert sorted(p.name for p in out.iterdir()) == [
        ".factornas",
        "checkpoint.pt",
        "config.json",
        "metrics.jsonl",
    ]


def test_a_search_that_resumes_finishes_and_prints_paper_node_names(
    resumable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from factornas.cli import main

    assert main([*TINY_SEARCH, "--out", str(resumable)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"normal +c_\{k-[12]\} → 0: ", out), out
    assert "node 2" not in out
    summary = json.loads((resumable / "summary.json").read_text())
    assert summary["finished"] and (resumable / "genotype.json").exists()
