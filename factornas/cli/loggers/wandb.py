"""A Weights & Biases view of a run, logged from the records that ``metrics.jsonl`` gets.

The run's files live in ``RUN_DIR/wandb`` (``wandb.init(dir=RUN_DIR)``), its id in
``RUN_DIR/wandb-run.json`` (:mod:`factornas.cli.loggers.tracked_run`): a resumed search or
retraining passes that id with ``resume="allow"`` and logs into the same run. Each epoch is one
row: the record's numbers under the tags TensorBoard uses (``train/loss``), each group's mean
softmax per candidate and cell type (``arch/normal/activation/selu``), the genotype as text
(an HTML ``<pre>`` panel) and the cells as images; those charts are drawn against ``epoch``.
Each progress window is one row of ``train_steps/…`` drawn against ``global_step``.

Rows are logged with an explicit step that counts the rows of the whole run, kept in
``wandb-run.json``: an offline run resumed is a second ``offline-run-*`` folder with the same
id, and its steps continue where the first folder's stopped, so ``wandb sync`` puts them one
after the other.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from factornas.cli.loggers import record_view
from factornas.cli.loggers.claim import claim
from factornas.cli.loggers.tracked_run import TrackedRun, read_tracked_run, write_tracked_run
from factornas.errors import FactorNASError
from factornas.space.config import SearchSpace

#: Sub-directory of the run directory that wandb writes (``dir=`` makes it ``wandb/``).
LOG_DIR = "wandb"
#: The file that names the W&B run, so that a resumed run continues it.
RUN_FILE = "wandb-run.json"
#: The project of a run when ``WANDB_PROJECT`` does not name one.
DEFAULT_PROJECT = "factornas"
INSTALL_HINT = "pip install 'factornas[wandb]'"


class WandbUnavailable(FactorNASError):
    """The wandb package is not installed."""


class WandbLogger:
    """Logs epoch records (call it) and progress windows (:meth:`window`) to one W&B run,
    started at the first record: only then is the run directory ready (``--overwrite`` has
    cleared it, or a resumed run has found its ``wandb-run.json``)."""

    def __init__(
        self,
        run_dir: str | Path,
        params: Mapping[str, Any],
        space: SearchSpace | None = None,
    ) -> None:
        try:
            import wandb
        except ImportError:
            raise WandbUnavailable(f"--log wandb needs the wandb package: {INSTALL_HINT}") from None
        self._wandb = wandb
        self.run_dir = Path(run_dir)
        self.params = dict(params)
        self.view = record_view.RecordView(space)
        self._run: Any = None
        self._tracked: TrackedRun | None = None

    def _start(self) -> TrackedRun:
        claim(self.run_dir, f"{LOG_DIR}/")
        claim(self.run_dir, RUN_FILE)
        earlier = read_tracked_run(self.run_dir / RUN_FILE)
        project = earlier.where if earlier else os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT)
        self._run = self._wandb.init(
            dir=str(self.run_dir),
            project=project,
            name=self.run_dir.resolve().name,
            id=earlier.id if earlier else None,
            resume="allow" if earlier else None,
            config=self.params,
        )
        self._run.define_metric("epoch")
        self._run.define_metric("global_step")
        for section in record_view.EPOCH_SECTIONS:
            self._run.define_metric(f"{section}/*", step_metric="epoch")
        self._run.define_metric("train_steps/*", step_metric="global_step")
        self._tracked = earlier or TrackedRun(id=self._run.id, where=project)
        write_tracked_run(self.run_dir / RUN_FILE, self._tracked)
        return self._tracked

    def __call__(self, record: Mapping[str, Any]) -> None:
        tracked = self._tracked or self._start()
        epoch = int(record["epoch"])
        if not tracked.takes_epoch(epoch):
            return
        row: dict[str, Any] = {
            "epoch": epoch,
            **record_view.epoch_scalars(record),
            **self.view.arch_means(record),
        }
        genotype = record_view.record_genotype(record)
        if genotype is not None:
            text = html.escape(record_view.genotype_text(genotype))
            row["genotype/text"] = self._wandb.Html(f"<pre>{text}</pre>", inject=False)
            if record_view.can_draw():
                for cell_type in record_view.CELL_TYPES:
                    image = record_view.cell_image(genotype, cell_type)
                    row[f"cells/{cell_type}"] = self._wandb.Image(image, caption=f"epoch {epoch}")
        self._log(row, tracked.after_epoch(epoch))

    def window(self, record: Mapping[str, Any]) -> None:
        tracked = self._tracked or self._start()
        step = int(record["step"])
        if not tracked.takes_step(step):
            return
        self._log(
            {"global_step": step, **record_view.window_scalars(record)}, tracked.after_step(step)
        )

    def _log(self, row: dict[str, Any], tracked: TrackedRun) -> None:
        self._run.log(row, step=tracked.rows - 1)
        write_tracked_run(self.run_dir / RUN_FILE, tracked)
        self._tracked = tracked

    def close(self, failed: bool = False) -> None:
        if self._run is not None:
            self._run.finish(exit_code=1 if failed else 0)
            self._run = None
