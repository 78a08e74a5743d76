"""``--log wandb`` and ``--log mlflow``: each tracker holds what metrics.jsonl holds, read back
with the library's own schema (W&B's offline transaction log, decoded with wandb's protobuf
records) and client (MLflow's ``MlflowClient`` on the run's file store) (#22)."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from factornas.cli import main
from factornas.cli.loggers import mlflow as mlflow_logger
from factornas.cli.loggers import wandb as wandb_logger
from factornas.cli.loggers.mlflow import MlflowLogger, flat_params
from factornas.cli.loggers.record_view import genotype_text, scalar_tag
from factornas.cli.loggers.tracked_run import (
    TrackedRun,
    TrackedRunFileError,
    read_tracked_run,
    write_tracked_run,
)
from factornas.cli.loggers.wandb import WandbLogger
from factornas.presets.spaces import space_preset
from factornas.runtime.metrics import read_metrics
from factornas.runtime.owned import claim, read_marker
from factornas.runtime.rundir import prepare_run_dir
from factornas.runtime.step_windows import StepRecord
from factornas.space.genotype import Genotype
from tests.tiny import TINY_SEARCH_FLAGS as TINY

wandb_pb = pytest.importorskip(
    "wandb.proto.wandb_internal_pb2", reason="wandb is not installed (factornas[wandb])"
)
mlflow_tracking = pytest.importorskip(
    "mlflow.tracking", reason="mlflow is not installed (factornas[mlflow])"
)

#: wandb's transaction log: LevelDB's log format (32 KiB blocks of chunks, each with a 7-byte
#: header: CRC, length, type) after a 7-byte file header; a record may span several chunks.
_BLOCK, _HEADER, _FULL, _LAST = 32768, 7, 1, 4


@pytest.fixture(autouse=True)
def _local_trackers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing leaves the machine: W&B offline, MLflow's telemetry off; the reads back need
    the file store allowed (the loggers allow it only around their own calls)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    for name in ("WANDB_PROJECT", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)


def wandb_records(log: Path) -> list[Any]:
    data = log.read_bytes()
    records, pending, at = [], b"", _HEADER
    while at + _HEADER <= len(data):
        if _BLOCK - at % _BLOCK < _HEADER:  # a block's tail too short for a header is padding
            at += _BLOCK - at % _BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[at : at + _HEADER])
        pending += data[at + _HEADER : at + _HEADER + length]
        at += _HEADER + length
        if kind in (_FULL, _LAST):
            record = wandb_pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def wandb_runs(run_dir: Path) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """Each offline run folder of ``run_dir/wandb``, oldest first: its run id, config and
    history rows (keys joined by ``/``, values decoded from JSON)."""
    runs = []
    for folder in sorted((run_dir / wandb_logger.LOG_DIR).glob("offline-run-*")):
        (log,) = folder.glob("run-*.wandb")
        records = wandb_records(log)
        (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        config = {u.key: json.loads(u.value_json) for u in run.config.update}
        rows = [
            {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in r.history.item}
            for r in records
            if r.WhichOneof("record_type") == "history"
        ]
        runs.append((run.run_id, config, rows))
    return runs


def mlflow_client(run_dir: Path) -> Any:
    store = (run_dir / mlflow_logger.STORE_DIR).resolve().as_uri()
    return mlflow_tracking.MlflowClient(tracking_uri=store)


def mlflow_history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def window(step: int, loss: float) -> StepRecord:
    return {"step": step, "epoch": step // 4, "loss": loss, "acc": 0.5, "lr": 0.1}


def test_params_are_the_config_flattened() -> None:
    settings = {"epochs": 2, "optimizer": {"lr": 0.1, "betas": [0.9, 0.99]}, "root": None}
    assert flat_params(settings) == {
        "epochs": "2",
        "optimizer.lr": "0.1",
        "optimizer.betas": "[0.9, 0.99]",
        "root": "null",
    }
    assert len(flat_params({"long": "a" * 7000})["long"]) == mlflow_logger.MAX_PARAM_LENGTH


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
def test_without_the_package_one_line_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    out = tmp_path / "run"
    assert main(["search", "--preset", "adarts", *TINY, "--log", name, "--out", str(out)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"pip install 'factornas[{name}]'" in line
    assert not out.exists()  # refused before any work


def test_a_damaged_run_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "wandb-run.json").write_text('{"id": 3}')
    with pytest.raises(TrackedRunFileError, match="delete it to log the rest"):
        read_tracked_run(tmp_path / "wandb-run.json")


@pytest.mark.slow
def test_a_resumed_run_continues_the_same_tracker_runs(tmp_path: Path) -> None:
    claim(tmp_path, "search")  # the run directory, with its marker
    space = space_preset("darts")
    arch = {"normal": {"op": [[0.5] + [0.5 / 7] * 7] * 14}, "reduce": {"op": [[1 / 8] * 8] * 14}}
    params = {"epochs": 4}

    def leg(epochs: list[tuple[int, float]], failed: bool) -> None:
        loggers = [WandbLogger(tmp_path, params, space), MlflowLogger(tmp_path, params, space)]
        for epoch, loss in epochs:
            for logger in loggers:
                logger.window(window(4 * epoch + 3, loss))
                logger({"epoch": epoch, "train_loss": loss, "arch": arch})
        for logger in loggers:
            logger.close(failed=failed)

    leg([(0, 3.0), (1, 2.0), (2, 1.5)], failed=True)  # killed after epoch 1's checkpoint
    run_id = read_tracked_run(tmp_path / mlflow_logger.RUN_FILE).id
    assert mlflow_client(tmp_path).get_run(run_id).info.status == "FAILED"
    leg([(2, 1.25), (3, 1.0)], failed=False)  # epoch 2 re-done: the trackers have it already

    (first_id, config, first_rows), (resumed_id, _, resumed_rows) = wandb_runs(tmp_path)
    assert resumed_id == first_id and config["epochs"] == 4
    epochs = [(r["epoch"], r["train/loss"]) for r in first_rows + resumed_rows if "epoch" in r]
    assert epochs == [(0, 3.0), (1, 2.0), (2, 1.5), (3, 1.0)]
    assert [r["_step"] for r in first_rows + resumed_rows] == list(range(8))  # one run's steps
    assert first_rows[1]["arch/normal/op/none"] == pytest.approx(0.5)

    client = mlflow_client(tmp_path)
    (run,) = client.search_runs([client.get_experiment_by_name("factornas").experiment_id])
    assert run.info.run_id == run_id
    assert run.info.status == "FINISHED" and run.data.params == {"epochs": "4"}
    assert mlflow_history(client, run.info.run_id, "train/loss") == [
        (0, 3.0), (1, 2.0), (2, 1.5), (3, 1.0)
    ]  # fmt: skip
    assert [s for s, _ in mlflow_history(client, run.info.run_id, "train_steps/loss")] == [
        3, 7, 11, 15
    ]  # fmt: skip


def test_a_named_tracking_uri_gets_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = (tmp_path / "server").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "nas")
    run_dir = tmp_path / "run"
    claim(run_dir, "search")
    logger = MlflowLogger(run_dir, {"seed": 0})
    logger({"epoch": 0, "val_acc": 0.25})
    logger.close()
    assert not (run_dir / mlflow_logger.STORE_DIR).exists()
    assert read_marker(run_dir)["files"] == [mlflow_logger.RUN_FILE]
    client = mlflow_tracking.MlflowClient(tracking_uri=store)
    run_id = read_tracked_run(run_dir / mlflow_logger.RUN_FILE).id
    assert (
        client.get_run(run_id).info.experiment_id
        == client.get_experiment_by_name("nas").experiment_id
    )
    assert mlflow_history(client, run_id, "val/acc") == [(0, 0.25)]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "elsewhere").as_uri())
    with pytest.raises(mlflow_logger.MlflowRunUnreachable, match="unset it, or set it to that URI"):
        MlflowLogger(run_dir, {"seed": 0})({"epoch": 1, "val_acc": 0.5})


def test_a_run_file_naming_a_run_the_store_lacks_is_one_line(tmp_path: Path) -> None:
    claim(tmp_path, "search").record([mlflow_logger.RUN_FILE])  # as a resumed run has it
    write_tracked_run(tmp_path / mlflow_logger.RUN_FILE, TrackedRun(id="0bad", where="mlruns"))
    with pytest.raises(mlflow_logger.MlflowRunUnreachable, match="delete the file to log"):
        MlflowLogger(tmp_path, {})({"epoch": 3, "val_acc": 0.5})


@pytest.mark.slow
def test_search_logs_every_record_to_both_trackers(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["search", "--preset", "adarts", *TINY, "--log", "wandb", "--log", "mlflow"]
    assert main([*argv, "--out", str(out)]) == 0
    records = read_metrics(out / "metrics.jsonl")
    keys = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "step_seconds")
    column = space_preset("adarts").cell("normal").factors[0].names.index("selu")
    selu = [sum(row[column] for row in r["arch"]["normal"]["activation"]) / 14 for r in records]
    genotype = Genotype.model_validate(records[-1]["genotype"])
    windows = [w for r in records for w in r["steps"]]

    ((_, config, rows),) = wandb_runs(out)
    assert config["epochs"] == 1 and config["weights_optimizer"]["lr"] == 0.05
    epoch_rows = [r for r in rows if "epoch" in r]
    assert [r["epoch"] for r in epoch_rows] == [r["epoch"] for r in records]
    for key in keys:
        assert [r[scalar_tag(key)] for r in epoch_rows] == pytest.approx([r[key] for r in records])
    assert [r["arch/normal/activation/selu"] for r in epoch_rows] == pytest.approx(selu)
    step_rows = [r for r in rows if "global_step" in r]
    assert [r["global_step"] for r in step_rows] == [w["step"] for w in windows]
    assert [r["train_steps/loss"] for r in step_rows] == pytest.approx([w["loss"] for w in windows])
    media = out / "wandb" / "latest-run" / "files"
    html = media / epoch_rows[-1]["genotype/text/path"]
    assert genotype.to_darts_string() in html.read_text().replace("&#x27;", "'")
    assert (media / epoch_rows[0]["cells/normal/path"]).stat().st_size > 1000

    client = mlflow_client(out)
    run_id = read_tracked_run(out / mlflow_logger.RUN_FILE).id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["epochs"] == "1" and run.data.params["weights_optimizer.lr"] == "0.05"
    for key in keys:
        logged = mlflow_history(client, run_id, scalar_tag(key))
        assert logged == [(r["epoch"], pytest.approx(r[key])) for r in records]
    assert [v for _, v in mlflow_history(client, run_id, "arch/normal/activation/selu")] == (
        pytest.approx(selu)
    )
    steps = mlflow_history(client, run_id, "train_steps/acc")
    assert steps == [(w["step"], pytest.approx(w["acc"])) for w in windows]
    text = Path(client.download_artifacts(run_id, "genotype/epoch-0000.txt", str(tmp_path)))
    assert text.read_text() == genotype_text(genotype)
    cells = {f.path for f in client.list_artifacts(run_id, "cells/reduce")}
    assert cells == {"cells/reduce/epoch-0000.png"}

    tracker_files = {"wandb/", "wandb-run.json", "mlruns/", "mlflow-run.json"}
    assert tracker_files <= set(read_marker(out)["files"])
    prepare_run_dir(out, {}, kind="search", overwrite=True).release()  # what --overwrite does
    assert not {n.rstrip("/") for n in tracker_files} & {p.name for p in out.iterdir()}
