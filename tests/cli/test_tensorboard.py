"""``--log tensorboard``: the event files hold what metrics.jsonl holds, read back with
TensorBoard's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factornas.cli import main
from factornas.cli.loggers.tensorboard import LOG_DIR, TensorBoardLogger, scalar_tag
from factornas.presets.spaces import space_preset
from factornas.runtime.metrics import read_metrics
from tests.tiny import TINY_SEARCH_FLAGS as TINY
from tests.tiny import TINY_TRAIN_FLAGS as TINY_TRAIN

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="tensorboard is not installed (pip install 'factornas[tensorboard]')",
)


def events(run_dir: Path) -> event_accumulator.EventAccumulator:
    reader = event_accumulator.EventAccumulator(
        str(run_dir / LOG_DIR), size_guidance={event_accumulator.SCALARS: 0}
    )
    return reader.Reload()


def scalar(reader: event_accumulator.EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in reader.Scalars(tag)]


def test_scalar_tags_group_by_split() -> None:
    keys = ("train_loss", "val_acc", "test_top5", "lr", "step_seconds")
    tags = ["train/loss", "val/acc", "test/top5", "run/lr", "run/step_seconds"]
    assert [scalar_tag(k) for k in keys] == tags


def test_a_resumed_run_hides_the_epochs_it_redoes(tmp_path: Path) -> None:
    space = space_preset("darts")  # activation is fixed: only the op group is searched
    arch = {"normal": {"op": [[0.5] + [0.5 / 7] * 7] * 14}, "reduce": {"op": [[1 / 8] * 8] * 14}}
    first = TensorBoardLogger(tmp_path, space)
    for epoch, loss in enumerate((3.0, 2.0, 1.5)):
        first({"epoch": epoch, "train_loss": loss, "arch": arch, "skip": True})
    first.close()
    resumed = TensorBoardLogger(tmp_path, space)  # killed after epoch 1's checkpoint
    resumed({"epoch": 2, "train_loss": 1.25, "arch": arch})
    resumed.close()

    reader = events(tmp_path)
    assert scalar(reader, "train/loss") == [(0, 3.0), (1, 2.0), (2, 1.25)]
    assert scalar(reader, "arch/normal/op/none")[0] == (0, 0.5)
    assert scalar(reader, "arch/reduce/op/skip_connect")[0] == (0, 0.125)
    assert "arch/normal/op" in reader.Tags()["histograms"]
    assert "run/skip" not in reader.Tags()["scalars"]  # booleans are not curves


@pytest.mark.slow
def test_search_logs_every_epoch_record(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["search", "--preset", "adarts", *TINY, "--epochs", "2", "--log", "tensorboard"]
    assert main([*argv, "--out", str(out)]) == 0
    records = read_metrics(out / "metrics.jsonl")
    reader = events(out)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "step_seconds"):
        logged = scalar(reader, scalar_tag(key))
        assert [step for step, _ in logged] == [r["epoch"] for r in records]
        assert [v for _, v in logged] == pytest.approx([r[key] for r in records], rel=1e-6)
    column = space_preset("adarts").cell("normal").factors[0].names.index("selu")
    selu = [row[column] for row in records[-1]["arch"]["normal"]["activation"]]
    step, mean = scalar(reader, "arch/normal/activation/selu")[-1]
    assert step == 1 and mean == pytest.approx(sum(selu) / len(selu), rel=1e-6)
    pytest.importorskip("matplotlib")
    images = reader.Images("cells/normal")
    assert [i.step for i in images] == [0, 1] and images[0].width > 100


@pytest.mark.slow
def test_train_logs_test_accuracy(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "--genotype", "darts_v2", "--dataset", "synthetic", *TINY_TRAIN]
    assert main([*argv, "--log", "tensorboard", "--out", str(out)]) == 0
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    ((step, top1),) = scalar(events(out), "test/top1")
    assert step == 0 and top1 == pytest.approx(record["test_top1"], rel=1e-6)
