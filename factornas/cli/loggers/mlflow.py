"""An MLflow view of a run, logged from the records that ``metrics.jsonl`` gets.

The run goes to ``MLFLOW_TRACKING_URI`` when it is set (experiment ``MLFLOW_EXPERIMENT_NAME``,
else ``factornas``), else to a file store of the run's own, ``RUN_DIR/mlruns``; its id is kept
in ``RUN_DIR/mlflow-run.json`` (:mod:`factornas.cli.loggers.tracked_run`) so that a resumed
search or retraining logs into the same run, at the same tracking URI. The resolved config is
the run's parameters, flattened to dotted names (``weights_optimizer.lr``); each epoch's
numbers are metrics at step ``epoch`` under the tags TensorBoard uses, with each group's mean
softmax per candidate and cell type; the genotype is a text artifact and the cells PNG
artifacts per epoch (``genotype/epoch-0003.txt``, ``cells/normal/epoch-0003.png``); each
progress window's ``train_steps/…`` metrics are at its global step.

MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is true (it would have new
users start on a database); the logger sets it only around its own calls, and only for the
run's own store, which needs nothing but mlflow-skinny. A store the user names is theirs to
configure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from factornas.cli.loggers import record_view
from factornas.cli.loggers.claim import claim
from factornas.cli.loggers.tracked_run import TrackedRun, read_tracked_run, write_tracked_run
from factornas.errors import FactorNASError
from factornas.space.config import SearchSpace

#: Sub-directory of the run directory holding the file store when no tracking URI is set.
STORE_DIR = "mlruns"
#: The file that names the MLflow run, so that a resumed run continues it.
RUN_FILE = "mlflow-run.json"
DEFAULT_EXPERIMENT = "factornas"
INSTALL_HINT = "pip install 'factornas[mlflow]'"
#: MLflow's limits on one parameter's value and on the entries of one ``log_batch`` call.
MAX_PARAM_LENGTH = 6000
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
#: What MLflow refuses in a metric or parameter name (candidate names are the user's).
_NOT_IN_NAMES = re.compile(r"[^\w\-. /]")


class MlflowUnavailable(FactorNASError):
    """The mlflow (or mlflow-skinny) package is not installed."""


class MlflowRunUnreachable(FactorNASError):
    """``mlflow-run.json`` names a run that the tracking URI in use does not hold: another URI
    is set, or the run was deleted."""


def metric_name(tag: str) -> str:
    return _NOT_IN_NAMES.sub("_", tag)


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as MLflow parameters: dotted names, lists and scalars as JSON text."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{metric_name(str(key))}"
        if isinstance(value, Mapping) and value:
            flat.update(flat_params(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            flat[name] = (
                text if len(text) <= MAX_PARAM_LENGTH else text[: MAX_PARAM_LENGTH - 1] + "…"
            )
    return flat


class MlflowLogger:
    """Logs epoch records (call it) and progress windows (:meth:`window`) to one MLflow run,
    started at the first record: only then is the run directory ready (``--overwrite`` has
    cleared it, or a resumed run has found its ``mlflow-run.json``)."""

    def __init__(
        self,
        run_dir: str | Path,
        params: Mapping[str, Any],
        space: SearchSpace | None = None,
    ) -> None:
        try:
            from mlflow.entities import Metric, Param
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MlflowUnavailable(
                f"--log mlflow needs the mlflow package: {INSTALL_HINT}"
            ) from None
        self._client_class = MlflowClient
        self._metric = Metric
        self._param = Param
        self.run_dir = Path(run_dir)
        self.params = flat_params(params)
        self.view = record_view.RecordView(space)
        self._client: Any = None
        self._where: str | None = None
        self._tracked: TrackedRun | None = None

    @contextlib.contextmanager
    def _store(self) -> Iterator[None]:
        """Around every MLflow call: the run's own file store allowed, for this call only."""
        if self._where != STORE_DIR:
            yield
            return
        before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        try:
            yield
        finally:
            if before is None:
                del os.environ["MLFLOW_ALLOW_FILE_STORE"]
            else:
                os.environ["MLFLOW_ALLOW_FILE_STORE"] = before

    def _start(self) -> TrackedRun:
        claim(self.run_dir, RUN_FILE)
        earlier = read_tracked_run(self.run_dir / RUN_FILE)
        asked = os.environ.get("MLFLOW_TRACKING_URI")
        if earlier is not None and asked and asked != earlier.where:
            raise MlflowRunUnreachable(
                f"{self.run_dir / RUN_FILE} says this run logs to {self._uri(earlier.where)}, "
                f"but MLFLOW_TRACKING_URI is {asked}: unset it, or set it to that URI, to resume"
            )
        self._where = earlier.where if earlier else asked or STORE_DIR
        if self._where == STORE_DIR:
            claim(self.run_dir, f"{STORE_DIR}/")
        with self._store():
            self._client = self._client_class(tracking_uri=self._uri(self._where))
            if earlier is None:
                tracked = TrackedRun(id=self._new_run(), where=self._where)
            else:
                self._reopen(earlier)
                tracked = earlier
        self._advance(tracked)
        return tracked

    def _uri(self, where: str) -> str:
        """The tracking URI of a run's ``where``: :data:`STORE_DIR` is the run directory's own
        store, found where the directory is now (it may have moved since the run started)."""
        return (self.run_dir / STORE_DIR).resolve().as_uri() if where == STORE_DIR else where

    def _new_run(self) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
        experiment = self._client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id if experiment else self._client.create_experiment(name)
        )
        run = self._client.create_run(
            experiment_id,
            run_name=self.run_dir.resolve().name,
            tags={"factornas.run_dir": str(self.run_dir.resolve())},
        )
        run_id: str = run.info.run_id
        params = [self._param(k, v) for k, v in self.params.items()]
        for start in range(0, len(params), MAX_PARAMS_PER_BATCH):
            self._client.log_batch(run_id, params=params[start : start + MAX_PARAMS_PER_BATCH])
        return run_id

    def _reopen(self, earlier: TrackedRun) -> None:
        """Mark the run running again; its parameters are already there (a resumed run has the
        config of the run it resumes, and MLflow refuses to log a parameter twice)."""
        from mlflow.exceptions import MlflowException

        try:
            self._client.update_run(earlier.id, status="RUNNING")
        except MlflowException:
            raise MlflowRunUnreachable(
                f"{self.run_dir / RUN_FILE} names MLflow run {earlier.id}, which "
                f"{self._uri(earlier.where)} does not have: delete the file to log the rest "
                "of this run to a new MLflow run"
            ) from None

    def __call__(self, record: Mapping[str, Any]) -> None:
        tracked = self._tracked or self._start()
        epoch = int(record["epoch"])
        if not tracked.takes_epoch(epoch):
            return
        values = {**record_view.epoch_scalars(record), **self.view.arch_means(record)}
        genotype = record_view.record_genotype(record)
        with self._store():
            self._log_metrics(tracked.id, values, epoch)
            if genotype is not None:
                text = record_view.genotype_text(genotype)
                self._client.log_text(tracked.id, text, f"genotype/epoch-{epoch:04d}.txt")
                if record_view.can_draw():
                    for cell_type in record_view.CELL_TYPES:
                        image = record_view.cell_image(genotype, cell_type)
                        name = f"cells/{cell_type}/epoch-{epoch:04d}.png"
                        self._client.log_image(tracked.id, image, artifact_file=name)
        self._advance(tracked.after_epoch(epoch))

    def window(self, record: Mapping[str, Any]) -> None:
        tracked = self._tracked or self._start()
        step = int(record["step"])
        if not tracked.takes_step(step):
            return
        with self._store():
            self._log_metrics(tracked.id, record_view.window_scalars(record), step)
        self._advance(tracked.after_step(step))

    def _log_metrics(self, run_id: str, values: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        metrics = [self._metric(metric_name(k), v, now, step) for k, v in values.items()]
        for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            batch = metrics[start : start + MAX_METRICS_PER_BATCH]
            self._client.log_batch(run_id, metrics=batch)

    def _advance(self, tracked: TrackedRun) -> None:
        write_tracked_run(self.run_dir / RUN_FILE, tracked)
        self._tracked = tracked

    def close(self, failed: bool = False) -> None:
        if self._client is not None and self._tracked is not None:
            with self._store():
                self._client.set_terminated(self._tracked.id, "FAILED" if failed else "FINISHED")
            self._client = None
