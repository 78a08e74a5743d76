"""How a run trained: its loss, accuracy and learning rate, read from ``metrics.jsonl``.

Both kinds of run directory are read. A search's epoch records hold ``train_loss`` and
``train_acc`` (a fraction) and the search-validation split's ``val_loss`` and ``val_acc``; a
retraining's (``factornas train``) hold ``train_loss``, ``train_top1`` and the test split's
``test_loss`` and ``test_top1`` (percent). Accuracies are drawn in percent either way.

An epoch record may also carry ``steps``: one entry per progress window of the training split,
``{"step": global step from 0, "epoch": e, "loss": ..., "acc": ..., "lr": ...}``, each
value that window's mean and ``acc`` in the unit of the record's own training accuracy (a
fraction beside ``train_acc``, percent beside ``train_top1``). When every epoch has them,
the curves are drawn against the step, the per-step training values as a line and each
epoch's means as points at the epoch's last window, with the epochs marked on a second axis.
A run of an older factornas, or one resumed across the upgrade (some epochs without steps), is
drawn per epoch only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factornas.figures.axes import whole_number_axis
from factornas.figures.backend import require_matplotlib, save

#: (panel, split, record field, factor to the drawn unit) of the epoch records' numbers.
EPOCH_FIELDS = (
    ("loss", "train", "train_loss", 1.0),
    ("loss", "val", "val_loss", 1.0),
    ("loss", "test", "test_loss", 1.0),
    ("accuracy", "train", "train_acc", 100.0),
    ("accuracy", "train", "train_top1", 1.0),
    ("accuracy", "val", "val_acc", 100.0),
    ("accuracy", "test", "test_top1", 1.0),
    ("lr", "train", "lr", 1.0),
)
#: What each split is, in the legend.
SPLIT_LABELS = {"train": "train", "val": "search-val", "test": "test"}
_SPLIT_COLORS = {"train": "#1f77b4", "val": "#d62728", "test": "#d62728"}
#: The step entries' fields per panel, with their factor to the drawn unit.
STEP_FIELDS = {"loss": ("loss", 1.0), "accuracy": ("acc", 100.0), "lr": ("lr", 1.0)}
#: A retraining's step ``acc`` is already percent, as its ``train_top1``.
PERCENT_RECORD_KEY = "train_top1"
PANEL_TITLES = {"loss": "loss", "accuracy": "top-1 accuracy (%)", "lr": "learning rate"}
PANELS = ("loss", "accuracy", "lr")
#: Epochs named on a step axis's top edge, at most: more would run into each other.
MAX_EPOCH_LABELS = 10


@dataclass
class StepCurves:
    """The per-window training values, in step order, and each epoch's last window."""

    steps: list[int] = field(default_factory=list)
    values: dict[str, list[float | None]] = field(default_factory=dict)
    epoch_end: dict[int, int] = field(default_factory=dict)


@dataclass
class TrainingCurves:
    """Per panel and split, the (epoch, value) points of the epoch records; the step curves
    when every epoch with numbers has them."""

    epochs: list[int]
    points: dict[str, dict[str, list[tuple[int, float]]]]
    steps: StepCurves | None

    def __bool__(self) -> bool:
        """Whether some epoch has a loss or an accuracy (a learning rate alone is no curve)."""
        return bool(self.epochs)


def _number(value: Any) -> float | None:
    """A finite number, else None (a field a record lacks, or a non-finite value)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def curves_from_records(records: Iterable[Mapping[str, Any]]) -> TrainingCurves:
    """The curves of a run's epoch records (records without an epoch are skipped)."""
    rows = sorted((r for r in records if _number(r.get("epoch")) is not None), key=_epoch)
    points: dict[str, dict[str, list[tuple[int, float]]]] = {}
    epochs: list[int] = []
    for record in rows:
        found = [
            (panel, split, value * scale)
            for panel, split, key, scale in EPOCH_FIELDS
            if (value := _number(record.get(key))) is not None
        ]
        if all(panel == "lr" for panel, _, _ in found):
            continue  # nothing to draw a curve of (a learning rate alone is no curve)
        epochs.append(_epoch(record))
        for panel, split, value in found:
            points.setdefault(panel, {}).setdefault(split, []).append((epochs[-1], value))
    with_numbers = [r for r in rows if _epoch(r) in epochs]
    return TrainingCurves(epochs, points, _step_curves(with_numbers))


def _epoch(record: Mapping[str, Any]) -> int:
    return int(record["epoch"])


def _step_curves(records: Sequence[Mapping[str, Any]]) -> StepCurves | None:
    """The step entries of every record, or None when some record has none: mixing a step
    axis with epochs that have no place on it would misplace them."""
    if not records:
        return None
    curves = StepCurves(values={panel: [] for panel in STEP_FIELDS})
    for record in records:
        entries = record.get("steps")
        if not isinstance(entries, list):
            return None
        kept = [e for e in entries if isinstance(e, dict) and _number(e.get("step")) is not None]
        if not kept:
            return None
        percent = PERCENT_RECORD_KEY in record
        for entry in kept:
            curves.steps.append(int(entry["step"]))
            for panel, (key, scale) in STEP_FIELDS.items():
                value = _number(entry.get(key))
                if panel == "accuracy" and percent:
                    scale = 1.0
                curves.values[panel].append(None if value is None else value * scale)
        curves.epoch_end[_epoch(record)] = max(int(e["step"]) for e in kept)
    order = sorted(range(len(curves.steps)), key=curves.steps.__getitem__)
    curves.steps = [curves.steps[i] for i in order]
    curves.values = {p: [v[i] for i in order] for p, v in curves.values.items()}
    return curves


def _panels(curves: TrainingCurves) -> list[str]:
    """The panels with something to draw, in order (no learning-rate panel without rates)."""
    steps = curves.steps
    return [
        panel
        for panel in PANELS
        if curves.points.get(panel)
        or (steps is not None and any(v is not None for v in steps.values[panel]))
    ]


def curves_figure(curves: TrainingCurves, title: str) -> Any:
    """Loss, accuracy and learning rate side by side, against the step when the records have
    step entries and against the epoch otherwise."""
    figure_module = require_matplotlib()
    panels = _panels(curves)
    figure = figure_module.Figure(figsize=(0.6 + 3.6 * len(panels), 3.6), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        if curves.steps is None:
            _draw_per_epoch(ax, curves, panel)
        else:
            _draw_per_step(ax, curves, curves.steps, panel)
        ax.set_title(PANEL_TITLES[panel], fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    return figure


def _draw_per_epoch(ax: Any, curves: TrainingCurves, panel: str) -> None:
    for split, series in curves.points.get(panel, {}).items():
        ax.plot(
            [e for e, _ in series],
            [v for _, v in series],
            marker="o",
            markersize=3.5,
            linewidth=1.4,
            color=_SPLIT_COLORS[split],
            label=SPLIT_LABELS[split] if panel != "lr" else None,
        )
    whole_number_axis(ax, curves.epochs)
    ax.set_xlabel("epoch", fontsize=8)


def _draw_per_step(ax: Any, curves: TrainingCurves, steps: StepCurves, panel: str) -> None:
    values = steps.values[panel]
    drawn = [(s, v) for s, v in zip(steps.steps, values, strict=True) if v is not None]
    if drawn:
        ax.plot(
            [s for s, _ in drawn],
            [v for _, v in drawn],
            linewidth=0.9,
            alpha=0.6,
            color=_SPLIT_COLORS["train"],
            label="train, per window" if panel != "lr" else None,
        )
    for split, series in curves.points.get(panel, {}).items():
        if panel == "lr" and drawn:
            continue  # the per-window rates already show the schedule
        ax.plot(
            [steps.epoch_end[e] for e, _ in series],
            [v for _, v in series],
            marker="o",
            markersize=3.5,
            linewidth=1.4 if split != "train" else 0.0,
            color=_SPLIT_COLORS[split],
            label=f"{SPLIT_LABELS[split]}, epoch mean" if panel != "lr" else None,
        )
    epochs = sorted(steps.epoch_end)
    for epoch in epochs:
        ax.axvline(steps.epoch_end[epoch], color="#999999", linewidth=0.6, linestyle=":")
    whole_number_axis(ax, [min(steps.steps), max(steps.steps)])
    ax.set_xlabel("step", fontsize=8)
    top = ax.secondary_xaxis("top")
    labelled = epochs[:: math.ceil(len(epochs) / MAX_EPOCH_LABELS)]  # at most that many labels
    top.set_xticks([steps.epoch_end[e] for e in labelled], [str(e) for e in labelled])
    top.tick_params(labelsize=7)
    top.set_xlabel("end of epoch", fontsize=7)


def save_curve_figures(
    records: Iterable[Mapping[str, Any]],
    out_dir: str | Path,
    title: str,
    formats: Iterable[str] = ("png", "svg"),
) -> list[Path]:
    """``curves.<format>`` into ``out_dir`` from a run's metrics records; nothing when they
    hold no loss or accuracy."""
    curves = curves_from_records(records)
    if not curves:
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return save(curves_figure(curves, title), out / "curves", tuple(formats))
