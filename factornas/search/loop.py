"""The search loop: data → supernet → N-level optimizer → genotype, resumable at any moment.

Everything that determines the outcome is checkpointed (weights, every architecture group,
every optimizer, every RNG, the position in the data streams, the epoch and step, and what
each rank holds of its own: the epoch's running training sums and its batch-norm statistics),
atomically, at least every epoch; running the same command on the same directory resumes, and
a search killed at any moment and resumed ends exactly where an uninterrupted one does, with
the same ``metrics.jsonl`` records (wall-clock times aside).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from factornas.data.registry import dataset_spec
from factornas.errors import DerivationError, FactorNASError
from factornas.runtime.checkpoint import (
    CheckpointError,
    is_checkpoint_of,
    load_checkpoint,
    save_checkpoint,
)
from factornas.runtime.device import pick_device
from factornas.runtime.distributed import (
    DistContext,
    average_tensors,
    broadcast_int,
    broadcast_module,
    gather_rows,
    init_distributed,
    leaving_process_group,
    max_divergence,
    sum_scalars,
)
from factornas.runtime.memory import check_fits
from factornas.runtime.meter import DeviceSums
from factornas.runtime.metrics import MetricsLog, read_metrics
from factornas.runtime.precision import forward_fp32_out
from factornas.runtime.progress import (
    REFRESH_EVERY,
    EpochSummary,
    ProgressMode,
    ProgressReporter,
    RunShape,
    make_reporter,
    progress_mode,
)
from factornas.runtime.rng import capture_rng_state, restore_rng_state, seed_everything
from factornas.runtime.rundir import (
    ARCH_WEIGHTS,
    GENOTYPE,
    RunDir,
    RunDirError,
    legacy_adopter,
    prepare_run_dir,
)
from factornas.runtime.step_windows import StepRecord, StepWindows
from factornas.search.config import DerivationConfig, SearchConfig
from factornas.search.data import build_search_data
from factornas.search.freeze import apply_frozen_levels
from factornas.search.graphed import SearchStepper
from factornas.search.guard import FiniteGuard, SearchDivergedError
from factornas.search.optimizer import MultiLevelOptimizer
from factornas.search.progressive import widen_optimizer_state, widen_state
from factornas.search.relax import apply_relaxations
from factornas.search.skips import early_stop
from factornas.space.derive import count_skips, derive_genotype, has_skip_connect
from factornas.space.genotype import Genotype
from factornas.supernet.network import SearchNetwork
from factornas.supernet.skip_dropout import install_skip_dropout, set_skip_dropout

CHECKPOINT_FORMAT = 1
#: Weights, gradients and momentum in fp32; the second-order step also keeps a copy of the
#: weights and their validation gradient.
BYTES_PER_SEARCHED_PARAMETER = {"first": 3 * 4, "second": 5 * 4}
#: Recognises a search run directory of factornas 0.1 (no marker) by its checkpoint.
adopt_search_run = legacy_adopter(lambda path: is_checkpoint_of(path, CHECKPOINT_FORMAT, "network"))
#: Called on rank 0 with each epoch's record, after it is written to metrics.jsonl.
EpochHook = Callable[[dict[str, Any]], None]
#: Called on rank 0 with each progress window's record as it closes (the epoch record's
#: ``steps`` gets the same ones).
WindowHook = Callable[[StepRecord], None]


@dataclass(frozen=True)
class SearchResult:
    """What a finished search produced."""

    genotype: Genotype
    run_dir: Path
    has_skip_connect: bool
    epochs: list[dict[str, Any]]


def build_network(
    config: SearchConfig, *, num_classes: int, in_channels: int, stage: int = 0
) -> SearchNetwork:
    """The supernet a config describes for data of that shape (in its progressive ``stage``),
    with its frozen levels, relaxations and stabilizers applied."""
    network = SearchNetwork(
        config.stage_space(stage),
        channels=config.channels,
        layers=config.layers,
        num_classes=num_classes,
        in_channels=in_channels,
        arch_init_std=config.arch_init_std,
        stem=config.stem,
        cell_execution=config.cell_execution,
    )
    apply_frozen_levels(network, config)
    apply_relaxations(network, config)
    if config.skip_dropout is not None:
        install_skip_dropout(network, config.skip_op)
    if any(stage.keep_ops is not None for stage in config.stages):
        network.arch.make_prunable(config.space.cell("normal").op.name)
    return network


def arch_softmax(network: SearchNetwork) -> dict[str, dict[str, list[list[float]]]]:
    """Every searched group's weights per cell type, one row per edge (one for cell scope):
    the relaxation's deterministic strengths (the softmax unless a group is relaxed otherwise)."""
    out: dict[str, dict[str, list[list[float]]]] = {}
    with torch.no_grad():
        for cell_type in network.space.cell_types:
            rows = {}
            for group, weights in network.arch.strengths(cell_type).items():
                shape = network.arch.parameter(cell_type, group).shape
                rows[group] = weights[: shape[0]].cpu().tolist()
            out[cell_type] = rows
    return out


def edge_scales_record(network: SearchNetwork) -> dict[str, list[float]] | None:
    """PC-DARTS's softmaxed edge-normalization weights per cell type (one value per edge, in
    supernet edge order), or ``None`` when the space does not normalize edges."""
    with torch.no_grad():
        scales = network.edge_scales()
    if scales is None:
        return None
    return {cell_type: values.cpu().tolist() for cell_type, values in scales.items()}


def current_genotype(
    network: SearchNetwork,
    max_skips: int | None = None,
    derivation: DerivationConfig | None = None,
    skip_op: str = "skip_connect",
) -> Genotype:
    """The architecture the weights derive now by ``derivation``'s rule; edge-normalization
    scales weigh edge strength (PC-DARTS), as they weigh the edge outputs in the forward pass;
    ``max_skips`` caps the normal cell's ``skip_op`` connections (P-DARTS)."""
    derivation = derivation or DerivationConfig()
    with torch.no_grad():
        weights = {ct: network.arch.strengths(ct) for ct in network.space.cell_types}
        return derive_genotype(
            network.space,
            weights,
            network.edge_scales(),
            max_skips,
            skip_op,
            rule=derivation.rule,
            threshold=derivation.threshold,
        )


def loss_terms_record(network: SearchNetwork) -> dict[str, float]:
    """Each group's relaxation and stabilizer loss terms at the current weights (one read per
    group and epoch); empty for plain softmax groups."""
    out: dict[str, float] = {}
    with torch.no_grad():
        for group in network.arch.group_names():
            term = network.arch.loss_terms([group])
            if term is not None:
                out[group] = float(term)
    return out


class Search:
    """One search run in one process (one rank of a distributed job)."""

    #: Steps between progress windows, each one read of the device
    #: (:mod:`factornas.runtime.step_windows`).
    refresh_every: int = REFRESH_EVERY

    def __init__(
        self,
        config: SearchConfig,
        out: str | Path,
        *,
        overwrite: bool = False,
        device: str | None = None,
        show_progress: bool | ProgressMode = True,
        on_epoch: EpochHook | None = None,
        on_window: WindowHook | None = None,
        cuda_graphs: bool = False,
    ) -> None:
        self.config = config
        self.on_epoch = on_epoch
        self.on_window = on_window
        self.cuda_graphs = cuda_graphs
        self.device = pick_device(device)
        self.dist: DistContext = init_distributed(self.device)
        self.run: RunDir = self._open_run_dir(Path(out), overwrite)
        self.progress: ProgressMode = progress_mode(show_progress) if self.dist.is_main else "off"
        try:
            self._build()
        except BaseException:
            self.run.abandon()  # a run that could not start leaves nothing behind
            raise

    def _check_fits(self) -> None:
        """Refuse a supernet this device cannot hold before any data is downloaded or loaded,
        sized from the dataset's registered shape and classes."""
        config = self.config
        spec = dataset_spec(config.data.dataset)
        in_channels, _ = spec.input_shape(config.data)
        check_fits(
            lambda: build_network(config, num_classes=spec.classes, in_channels=in_channels),
            channels=config.channels,
            layers=config.layers,
            device=self.device,
            bytes_per_parameter=BYTES_PER_SEARCHED_PARAMETER[config.order],
            what="the supernet",
        )

    def _build(self) -> None:
        """Data, supernet, optimizer and guard, then the checkpoint's state when resuming."""
        config = self.config
        seed_everything(config.seed)
        self._check_fits()
        self.data = build_search_data(config, self.dist, self.device, self.run.root)
        state = self._load_checkpoint() if self.run.resuming else None
        #: The progressive stage the supernet is built for (0 without stages).
        self.stage = int(state.get("stage", 0)) if state is not None else 0
        self.network = self._new_network(self.stage)
        broadcast_module(self.network, self.dist)
        self.optimizer = self._new_optimizer(self.network)
        self.augment_rng = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.guard = FiniteGuard(self.device, self.network.buffers)
        self.epoch = 0
        self.step = 0
        self._reset_train_sums()
        self.skip_streak = 0  # consecutive epochs over the skip guard's M (DARTS+)
        self.stop_reason: str | None = None
        if state is not None:
            self._restore(state)
        self.stepper = self._new_stepper()

    def _new_network(self, stage: int) -> SearchNetwork:
        return build_network(
            self.config,
            num_classes=self.data.num_classes,
            in_channels=self.data.in_channels,
            stage=stage,
        ).to(self.device)

    def _new_optimizer(self, network: SearchNetwork) -> MultiLevelOptimizer:
        return MultiLevelOptimizer(
            network, self.config, reduce_grads=lambda g: average_tensors(g, self.dist)
        )

    def _new_stepper(self) -> SearchStepper:
        return SearchStepper(
            self.optimizer,
            cuda_graphs=self.cuda_graphs,
            device=self.device,
            world_size=self.dist.world_size,
            note=self._note,
        )

    def _enter_stage(self, stage: int) -> None:
        """Prune and widen into progressive stage ``stage`` (DrNAS, :mod:`.progressive`): the
        op group keeps its ``keep_ops`` strongest candidates per edge, and a stage with other
        partial channels gets a new supernet and weight optimizer holding the old ones' state,
        widened. Deterministic (no random draw), so a run resumed here continues exactly."""
        settings = self.config.stages[stage]
        if settings.keep_ops is not None:
            op_group = self.config.space.cell("normal").op.name
            self.network.arch.prune(op_group, settings.keep_ops)
        if self.config.stage_space(stage) != self.network.space:
            old_network, old_optimizer = self.network, self.optimizer.state_dict()
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                network = self._new_network(stage)
            network.load_state_dict(widen_state(old_network.state_dict(), network.state_dict()))
            self.network, self.optimizer = network, self._new_optimizer(network)
            old_optimizer["weights"] = widen_optimizer_state(
                old_optimizer["weights"], self.optimizer.weights
            )
            self.optimizer.load_state_dict(old_optimizer)
            self.guard.rebind(self.network.buffers)
            self.stepper = self._new_stepper()
        self.stage = stage

    def _note(self, message: str) -> None:
        """A one-line note on stderr, from rank 0."""
        if self.dist.is_main:
            print(f"note: {message}", file=sys.stderr)

    def _open_run_dir(self, out: Path, overwrite: bool) -> RunDir:
        """Rank 0 alone inspects and prepares ``out`` (clearing it for ``overwrite``), then
        tells the other ranks whether the run resumes; every rank fails if rank 0 refused.
        Rank 0 keeps the prepared directory, and with it the directory's lock."""
        refused = -1
        outcome, error, run = refused, None, None
        if self.dist.is_main:
            try:
                run = prepare_run_dir(
                    out,
                    self.config.model_dump(mode="json"),
                    kind="search",
                    overwrite=overwrite,
                    normalize=lambda saved: _current_config(saved, self.config),
                    adopt=adopt_search_run,
                )
                outcome = int(run.resuming)
            except (FactorNASError, OSError) as refusal:
                error = refusal
        outcome = broadcast_int(outcome, self.dist, self.device)
        if error is not None:
            raise error
        if outcome == refused:
            raise RunDirError(f"rank 0 refused the run directory {out} (its message says why)")
        return run or RunDir(out, resuming=bool(outcome))

    # -- checkpoints ---------------------------------------------------------------------
    def _state(self, by_rank: dict[str, torch.Tensor]) -> dict[str, Any]:
        """What the checkpoint holds, with :meth:`_by_rank`'s rows of what differs by rank."""
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "step": self.step,
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": capture_rng_state(),
            "augment_rng": self.augment_rng.get_state(),
            "val_stream": self.data.val_stream_state(),
            "world_size": self.dist.world_size,
            "skip_streak": self.skip_streak,
            "stop_reason": self.stop_reason,
            "stage": self.stage,
            "step_windows": self.windows.state(),
            **by_rank,
        }

    def _reset_train_sums(self) -> None:
        """Zero the running sums of the epoch's training steps: loss × batch size and correct
        on the device, the batch sizes (known on the host) in ``train_count``. They always sum
        steps ``[0, step)`` of ``epoch``, the steps a checkpoint has behind it; ``windows``
        holds the epoch's closed progress windows (summed over every rank)."""
        self.train_sums = DeviceSums(2, self.device)
        self.train_count = 0
        self.windows = StepWindows()

    def _epoch_totals(self, loss_sum: float, correct: float) -> list[float]:
        """This epoch's (loss × samples, correct, samples) so far over every rank, from this
        rank's sums as just read."""
        return sum_scalars([loss_sum, correct, self.train_count], self.dist, self.device)

    def _float_buffers(self) -> list[torch.Tensor]:
        """The network's floating buffers (batch-norm running statistics among them), in
        state-dict order."""
        return [b for _, b in self.network.named_buffers() if b.is_floating_point()]

    def _by_rank(self) -> dict[str, torch.Tensor]:
        """What each rank holds of its own, one float64 row per rank (exact for any float), for
        rank 0 to checkpoint beside its network; every rank takes part.

        ``train_sums``: this epoch's running sums (loss × batch size, correct, count). Each rank
        sums its shard's steps and resumes its own row, so the epoch's totals add up in the
        order an uninterrupted run adds them, bit for bit. ``rank_buffers`` (several processes
        only): the batch-norm running statistics, which every rank updates from its own shard
        and the evaluation (``val_loss``, ``val_acc``) and eval-mode steps read, while the
        checkpointed network holds rank 0's."""
        sums = [*self.train_sums.read(), float(self.train_count)]
        row = torch.tensor(sums, dtype=torch.float64, device=self.device)
        rows = {"train_sums": gather_rows(row, self.dist).cpu()}
        if self.dist.enabled:
            flat = torch.cat([b.reshape(-1).to(torch.float64) for b in self._float_buffers()])
            rows["rank_buffers"] = gather_rows(flat, self.dist).cpu()
        return rows

    def _restore_by_rank(self, state: dict[str, Any]) -> None:
        """This rank's rows of :meth:`_by_rank`, where the checkpoint has them (older ones do
        not: the interrupted epoch's record then counts the steps after the checkpoint only).
        Resumed on another number of processes, rank 0 carries on the epoch's totals and every
        rank rank 0's statistics (the network's)."""
        rank, world = self.dist.rank, self.dist.world_size
        sums = state.get("train_sums")
        if sums is not None:
            if len(sums) == world:
                mine = sums[rank]
            else:
                mine = sums.sum(0) if self.dist.is_main else torch.zeros_like(sums[0])
            self.train_sums = DeviceSums(2, self.device, mine[:2])
            self.train_count = int(mine[2])
        buffers = state.get("rank_buffers")
        if buffers is not None and len(buffers) == world:
            with torch.no_grad():
                targets = self._float_buffers()
                values = buffers[rank].split([b.numel() for b in targets])
                for target, value in zip(targets, values, strict=True):
                    target.copy_(value.view_as(target))

    def _kept(self) -> str:
        """What a diverged search leaves, for the end of its message."""
        if self.run.checkpoint_path.exists():
            return f"the last good checkpoint is kept in {self.run.checkpoint_path}"
        return "no checkpoint was written"

    def _check_finite(self, val_loss: float = 0.0) -> None:
        """Stop a diverged search before it writes anything from non-finite weights, or an
        epoch record whose evaluation (``val_loss``) is not finite."""
        self.guard.check([*self.network.parameters(), *self.network.buffers()], where=self._kept())
        if not math.isfinite(val_loss):
            raise SearchDivergedError(
                f"the search diverged: the supernet's validation loss became non-finite at the "
                f"end of epoch {self.epoch} (its evaluation; every step and weight was "
                f"finite): lower --lr or --arch-lr; {self._kept()}"
            )

    def _save(self) -> None:
        self._check_finite()
        by_rank = self._by_rank()  # every rank takes part
        if self.dist.is_main:
            save_checkpoint(self.run.checkpoint_path, self._state(by_rank))

    def _load_checkpoint(self) -> dict[str, Any]:
        state = load_checkpoint(self.run.checkpoint_path, map_location=self.device)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{self.run.checkpoint_path} has checkpoint format {state.get('format')}; "
                f"this factornas writes {CHECKPOINT_FORMAT}: use --overwrite to start over"
            )
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"])
        self.augment_rng.set_state(state["augment_rng"])
        self.data.load_val_stream_state(state["val_stream"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.skip_streak = int(state.get("skip_streak", 0))
        self.stop_reason = state.get("stop_reason")
        self._restore_by_rank(state)
        windows = state.get("step_windows")
        if windows is not None:
            self.windows = StepWindows.from_state(windows)
        else:  # an older checkpoint: the epoch's windows start from its sums
            self.windows = StepWindows(start=self._epoch_totals(*self.train_sums.read()))

    # -- the loop ------------------------------------------------------------------------
    def run_search(self) -> SearchResult:
        config = self.config
        metrics = (
            MetricsLog(self.run.metrics_path, keep_epochs_below=self.epoch)
            if (self.dist.is_main)
            else None
        )
        steps = self.data.steps_per_epoch
        shape = RunShape("search", config.epochs, steps, to_percent=100.0)
        with make_reporter(self.progress, shape, self.epoch * steps + self.step) as reporter:
            if self.run.resuming:
                reporter.resuming(self.run.root, self.epoch, self.step)
            while self.epoch < config.epochs and self.stop_reason is None:
                record = self._run_epoch(reporter)
                self.stop_reason = self._early_stop(record["normal_skips"])
                if self.stop_reason is not None:
                    record["stop_reason"] = self.stop_reason
                self._check_finite(record["val_loss"])  # before the record is written
                if metrics is not None:
                    metrics.write(record)
                    if self.on_epoch is not None:
                        self.on_epoch(record)
                reporter.epoch_done(
                    EpochSummary(
                        self.epoch,
                        record["train_loss"],
                        record["train_acc"],
                        "val",
                        record["val_loss"],
                        record["val_acc"],
                    )
                )
                self.epoch, self.step = self.epoch + 1, 0
                self._reset_train_sums()
                self._save()
        return self._finish()

    def _run_epoch(self, reporter: ProgressReporter) -> dict[str, Any]:
        """One epoch of steps. The statistics stay on the device (:class:`DeviceSums`) and are
        read every ``refresh_every`` steps, each read closing a progress window, and once at
        the end (closing the last window, when steps ran since)."""
        config = self.config
        stage, _ = config.stage_at(self.epoch)
        if stage != self.stage:
            self._enter_stage(stage)
        self.network.train()
        self.optimizer.set_epoch(self.epoch)
        skip_dropout = self._skip_dropout_rate()
        if skip_dropout is not None:
            set_skip_dropout(self.network, skip_dropout)
        lr = self.optimizer.weight_lr  # the epoch's: set_epoch set it
        started = time.perf_counter()
        sums = self.train_sums  # resumed mid-epoch: the sums of the steps before
        step_times: list[float] = []
        for x, y in self.data.train_batches(self.epoch, self.step, self.augment_rng):
            t0 = time.perf_counter()
            val = self.data.next_val_batch(self.augment_rng)
            stats = self.stepper.step((x, y), val, self.epoch, self.step)
            self.guard.observe(
                self.epoch, self.step, stats.train_loss, stats.val_loss, stats.grad_norm
            )
            step_times.append(time.perf_counter() - t0)
            sums.add([stats.train_loss * stats.train_count, stats.train_correct])
            self.train_count += stats.train_count
            self.step += 1
            reporter.advance()
            if self.step % self.refresh_every == 0:
                self._close_window(reporter, self._epoch_totals(*sums.read()), lr)
            if config.checkpoint_every and self.step % config.checkpoint_every == 0:
                self._save()
        totals = self._epoch_totals(*sums.read())
        if self.windows.pending(totals[2]):
            self._close_window(reporter, totals, lr)
        loss_sum, correct, total = totals
        val_loss, val_acc = self._evaluate()
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "train_loss": loss_sum / max(total, 1),
            "train_acc": correct / max(total, 1),
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "steps": list(self.windows.records),
            "arch": arch_softmax(self.network),
            "edge_scales": edge_scales_record(self.network),
            **self._genotype_record(),
            "relaxations": self.network.arch.relaxations.record(),
            "loss_terms": loss_terms_record(self.network),
            "step_seconds": statistics.median(step_times) if step_times else None,
            "seconds": time.perf_counter() - started,
        }
        if skip_dropout is not None:
            record["skip_dropout"] = skip_dropout
        if config.stages:
            record["stage"] = self.stage
        return record

    def _genotype_record(self) -> dict[str, Any]:
        """This epoch's genotype and skip counts. A rule that derives nothing yet (FairDARTS's
        threshold before any weight reaches it) records ``null`` and why, and no skips."""
        config = self.config
        cap = self._max_skips()
        try:
            genotype = self._genotype(cap)
            uncapped = genotype if cap is None else self._genotype(None)
        except DerivationError as error:
            return {
                "genotype": None,
                "genotype_error": str(error),
                "skip_connect_in_normal": False,
                "normal_skips": 0,
            }
        return {
            "genotype": genotype.model_dump(mode="json"),
            "skip_connect_in_normal": has_skip_connect(genotype, config.skip_op),
            "normal_skips": count_skips(uncapped.normal, config.skip_op),
        }

    def _genotype(self, max_skips: int | None) -> Genotype:
        return current_genotype(
            self.network, max_skips, self.config.derivation, self.config.skip_op
        )

    def _skip_dropout_rate(self) -> float | None:
        """P-DARTS's drop rate after skip connections this epoch (None: not configured); W is
        the op level's warm-up."""
        dropout = self.config.skip_dropout
        if dropout is None:
            return None
        op_group = self.config.space.cell("normal").op.name
        warmup = self.config.level_configs((op_group,))[0].warmup_epochs
        return dropout.rate_at(self.epoch, self.config.epochs, warmup)

    def _max_skips(self) -> int | None:
        """The P-DARTS cap on the normal cell's skips, when the config asks for it."""
        guard = self.config.skip_guard
        return guard.max_skips if guard is not None and guard.cap_at_derivation else None

    def _early_stop(self, normal_skips: int) -> str | None:
        """DARTS+: why the search stops after this epoch (None: it goes on). The streak of
        epochs over M is checkpointed, so a resumed search stops at the same epoch."""
        guard = self.config.skip_guard
        if guard is None:
            return None
        self.skip_streak, reason = early_stop(guard, self.skip_streak, normal_skips)
        return reason

    def _close_window(self, reporter: ProgressReporter, totals: list[float], lr: float) -> None:
        """Close the progress window ending at the current step, from the epoch's ``totals``
        over every rank: its record goes to the epoch's ``steps``, the reporter and the
        window hook (rank 0's)."""
        step = self.epoch * self.data.steps_per_epoch + self.step - 1
        record = self.windows.close(epoch=self.epoch, step=step, sums=totals, lr=lr)
        reporter.window(record)
        if self.on_window is not None and self.dist.is_main:
            self.on_window(record)

    def _evaluate(self) -> tuple[float, float]:
        """Supernet loss and accuracy on the validation split (or its first batches), summed
        on the device and read once."""
        self.network.eval()
        sums = DeviceSums(2, self.device)  # loss, correct
        count = 0
        with torch.no_grad():
            for x, y in self.data.eval_batches(self.config.eval_batches):
                logits = forward_fp32_out(self.network, x, self.config.precision)
                loss = F.cross_entropy(logits, y, reduction="sum")
                sums.add([loss, (logits.argmax(1) == y).sum()])
                count += y.numel()
        self.network.train()
        loss_sum, correct = sums.read()
        loss_sum, correct, total = sum_scalars([loss_sum, correct, count], self.dist, self.device)
        return loss_sum / max(total, 1), correct / max(total, 1)

    def _finish(self) -> SearchResult:
        self._check_finite()
        genotype = self._genotype(self._max_skips())
        skip = has_skip_connect(genotype, self.config.skip_op)
        # Every rank must hold the same architecture: measured, not assumed.
        divergence = max_divergence(list(self.network.arch.parameters()), self.dist)
        if self.dist.is_main:
            self.run.finish(
                {
                    "genotype": genotype.model_dump(mode="json"),
                    "skip_connect_in_normal": skip,
                    "epochs": self.config.epochs,
                    "world_size": self.dist.world_size,
                    "rank_arch_max_diff": divergence,
                    "edge_scales": edge_scales_record(self.network),
                    "stop_reason": self.stop_reason,
                },
                {
                    GENOTYPE: genotype.to_json(),
                    ARCH_WEIGHTS: json.dumps(arch_softmax(self.network)),
                },
            )
        epochs = read_metrics(self.run.metrics_path) if self.dist.is_main else []
        return SearchResult(genotype, self.run.root, skip, epochs)


def _current_config(saved: dict[str, Any], starting: SearchConfig) -> dict[str, Any]:
    """A saved search config as this version writes it (new settings at their defaults), with
    the derivation of the run being started: the derivation changes no step of a search, so a
    run may be resumed, and finished, under another (a threshold that keeps no edge)."""
    current = SearchConfig.model_validate(saved).model_dump(mode="json")
    current["derivation"] = starting.derivation.model_dump(mode="json")
    return current


def run_search(
    config: SearchConfig,
    out: str | Path,
    *,
    overwrite: bool = False,
    device: str | None = None,
    show_progress: bool | ProgressMode = True,
    on_epoch: EpochHook | None = None,
    on_window: WindowHook | None = None,
    cuda_graphs: bool = False,
) -> SearchResult:
    """Run (or resume) a search into ``out`` and return its genotype; ``on_epoch`` (a
    logger) sees each epoch's record after ``metrics.jsonl`` does, ``on_window`` each
    progress window's as it closes. ``cuda_graphs`` replays the steps from CUDA graphs where
    the search allows it (:mod:`factornas.search.graphed`; a no-op, said once, elsewhere).
    ``show_progress`` (:mod:`factornas.runtime.progress`): ``True`` or ``"auto"`` a bar on a
    terminal and plain lines on stderr elsewhere, ``"lines"`` plain lines, ``False`` or
    ``"off"`` nothing.

    Under ``torchrun`` the search joins the process group and leaves it before returning or
    raising (unless the caller had joined it already).
    """
    with leaving_process_group():
        search = Search(
            config,
            out,
            overwrite=overwrite,
            device=device,
            show_progress=show_progress,
            on_epoch=on_epoch,
            on_window=on_window,
            cuda_graphs=cuda_graphs,
        )
        try:
            return search.run_search()
        except BaseException:
            search.run.abandon()  # a fresh run with no checkpoint yet leaves nothing behind
            raise
        finally:
            search.run.release()
