"""``--log tensorboard`` also logs each progress window's training loss, accuracy and learning
rate against the global step, the numbers of ``metrics.jsonl``'s ``steps`` (#22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from factornas.cli import main
from factornas.cli.loggers.tensorboard import LOG_DIR, STEP_TAGS, STEPS_DIR, TensorBoardLogger
from factornas.runtime.metrics import read_metrics
from factornas.runtime.step_windows import StepRecord
from tests.tiny import TINY_TRAIN_FLAGS

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="tensorboard is not installed (pip install 'factornas[tensorboard]')",
)


def step_scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    reader = event_accumulator.EventAccumulator(
        str(run_dir / LOG_DIR / STEPS_DIR), size_guidance={event_accumulator.SCALARS: 0}
    ).Reload()
    return [(e.step, e.value) for e in reader.Scalars(tag)]


def window(step: int, loss: float) -> StepRecord:
    return {"step": step, "epoch": step // 3, "loss": loss, "acc": 0.5, "lr": 0.1}


def test_a_resumed_run_hides_the_windows_it_redoes(tmp_path: Path) -> None:
    first = TensorBoardLogger(tmp_path)
    for step, loss in ((1, 3.0), (2, 2.5), (4, 2.0)):  # killed after epoch 1's first window
        first.window(window(step, loss))
    first.close()
    resumed = TensorBoardLogger(tmp_path)  # from the checkpoint at epoch 1's start
    for step, loss in ((4, 1.75), (5, 1.5)):
        resumed.window(window(step, loss))
    resumed.close()
    assert step_scalars(tmp_path, STEP_TAGS["loss"]) == [(1, 3.0), (2, 2.5), (4, 1.75), (5, 1.5)]


def test_train_logs_the_windows_metrics_records(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "--genotype", "darts_v2", "--dataset", "synthetic", *TINY_TRAIN_FLAGS]
    assert main([*argv, "--log", "tensorboard", "--out", str(out)]) == 0
    (record,) = read_metrics(out / "metrics.jsonl")
    assert [w["step"] for w in record["steps"]] == [2]  # 3 steps of batch 16: one window
    for key, tag in STEP_TAGS.items():
        logged = step_scalars(out, tag)
        assert [s for s, _ in logged] == [w["step"] for w in record["steps"]]
        assert [v for _, v in logged] == pytest.approx([w[key] for w in record["steps"]])
