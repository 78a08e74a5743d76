"""Loss and accuracy curves: read from a search's and a retraining's records, per epoch or per
step, with whole-number ticks and panel titles apart."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from factornas.figures.curves import curves_figure, curves_from_records, save_curve_figures
from factornas.figures.history import history_from_records, trajectory_figure

from .conftest import arch_record, assert_png, needs_matplotlib, search_numbers, step_entries


def _search(epochs: int, *, steps: bool) -> list[dict[str, Any]]:
    return [
        {"epoch": e, **search_numbers(e), **({"steps": step_entries(e)} if steps else {})}
        for e in range(epochs)
    ]


RETRAINING = {
    "epoch": 0,
    "lr": 0.025,
    "drop_path": 0.0,
    "train_loss": 2.0,
    "train_top1": 30.0,
    "train_top5": 80.0,
    "test_loss": 1.9,
    "test_top1": 35.0,
    "test_top5": 85.0,
    "seconds": 3.0,
}


def test_a_search_s_fractions_are_drawn_in_percent_per_split() -> None:
    curves = curves_from_records(list(reversed(_search(2, steps=False))))
    assert curves.epochs == [0, 1]
    assert curves.points["loss"]["train"] == [(0, 2.2), (1, pytest.approx(1.9))]
    assert curves.points["accuracy"]["train"] == [(0, 15.0), (1, 25.0)]
    assert curves.points["accuracy"]["val"] == [(0, 12.0), (1, pytest.approx(22.0))]
    assert curves.points["lr"]["train"] == [(0, 0.025), (1, 0.02)]
    assert curves.steps is None  # records of an older factornas: per epoch only


def test_a_retraining_s_records_are_read_in_their_percent() -> None:
    curves = curves_from_records([RETRAINING])
    assert curves.points["accuracy"] == {"train": [(0, 30.0)], "test": [(0, 35.0)]}
    assert curves.points["loss"] == {"train": [(0, 2.0)], "test": [(0, 1.9)]}


def test_step_entries_are_read_in_step_order_with_each_epoch_s_last_window() -> None:
    records = _search(2, steps=True)
    records[1]["steps"].reverse()  # the order in the file does not matter
    steps = curves_from_records(records).steps
    assert steps is not None
    assert steps.steps == [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]
    assert steps.epoch_end == {0: 49, 1: 99}
    assert steps.values["accuracy"][:2] == [10.0, pytest.approx(12.0)]  # fractions, in percent
    assert steps.values["loss"][0] == 2.3 and steps.values["lr"][0] == 0.025


def test_a_run_with_epochs_without_steps_is_drawn_per_epoch() -> None:
    """Resumed across an upgrade: the older epochs have no place on a step axis."""
    records = _search(2, steps=True)
    del records[0]["steps"]
    assert curves_from_records(records).steps is None
    records = _search(2, steps=True)
    records[1]["steps"] = []
    assert curves_from_records(records).steps is None
    # A record with a learning rate alone is no epoch of the curves, nor one without steps.
    with_lr_only = [{"epoch": 0, "lr": 0.1}, *_search(2, steps=True)[1:]]
    curves = curves_from_records(with_lr_only)
    assert curves.epochs == [1] and curves.points["lr"] == {"train": [(1, 0.02)]}
    assert curves.steps is not None and curves.steps.epoch_end == {1: 99}


def test_a_retraining_s_step_accuracy_is_already_percent() -> None:
    """``factornas train`` writes each window's ``acc`` in percent, as its ``train_top1``."""
    window = {"step": 9, "epoch": 0, "loss": 2.1, "acc": 31.25, "lr": 0.025}
    steps = curves_from_records([{**RETRAINING, "steps": [window]}]).steps
    assert steps is not None and steps.values["accuracy"] == [31.25]


def test_records_without_a_loss_or_an_accuracy_draw_nothing(tmp_path: Path) -> None:
    records: list[dict[str, Any]] = [{"epoch": 0, "lr": 0.1, "arch": {}}, {"train_loss": 1.0}]
    assert not curves_from_records(records)
    assert save_curve_figures(records, tmp_path / "none", "nothing") == []
    assert not (tmp_path / "none").exists()


def visible_ticks(ax: Any) -> list[float]:
    low, high = ax.get_xlim()
    return [float(t) for t in ax.get_xticks() if low <= t <= high]


def assert_apart(figure: Any, texts: list[Any]) -> None:
    """The texts are drawn, inside the figure, and no two of them overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)  # a bare Figure has no renderer of its own
    canvas.draw()  # lays the figure out as saving does
    renderer = canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in texts if text.get_text()]
    assert len(boxes) == len([t for t in texts if t.get_text()]) >= 2
    page = figure.bbox
    for box in boxes:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)


@needs_matplotlib
def test_a_one_epoch_run_shows_one_whole_epoch_tick() -> None:
    figure = curves_figure(curves_from_records(_search(1, steps=False)), "one epoch")
    titles = [ax.title for ax in figure.axes]
    assert [t.get_text() for t in titles] == ["loss", "top-1 accuracy (%)", "learning rate"]
    for ax in figure.axes:
        assert visible_ticks(ax) == [0.0]  # not 0.0, 0.2, … nor -0.06, -0.04, …
        assert ax.get_xlim() == (-0.5, 0.5)  # the single points sit inside
    assert_apart(figure, [*titles, *figure.texts])  # the figure's one text: its title
    history = history_from_records([{"epoch": 0, "arch": arch_record(0)}])
    trajectories = trajectory_figure(history, "normal", "op_bare", {})
    assert all(visible_ticks(ax) == [0.0] for ax in trajectories.axes if ax.lines)


@needs_matplotlib
def test_a_long_run_gets_whole_epoch_ticks_too() -> None:
    figure = curves_figure(curves_from_records(_search(30, steps=False)), "thirty epochs")
    ticks = visible_ticks(figure.axes[0])
    assert len(ticks) >= 3 and all(t.is_integer() and 0 <= t <= 29 for t in ticks)


@needs_matplotlib
def test_per_step_curves_name_the_epochs_on_a_second_axis(tmp_path: Path) -> None:
    records = _search(3, steps=True)
    curves = curves_from_records(records)
    figure = curves_figure(curves, "by step")
    loss = figure.axes[0]
    assert loss.get_xlabel() == "step"
    assert all(t.is_integer() for t in visible_ticks(loss))
    per_window, train_means, val_means = loss.lines[:3]
    assert list(per_window.get_xdata()) == [9 + 10 * i for i in range(15)]
    assert list(val_means.get_xdata()) == [49, 99, 149]  # each epoch's mean at its last window
    assert list(val_means.get_ydata()) == [2.25, 2.0, 1.75]
    assert train_means.get_linewidth() == 0  # epoch means of the training split: points
    legend = [t.get_text() for t in loss.get_legend().get_texts()]
    assert legend == ["train, per window", "train, epoch mean", "search-val, epoch mean"]
    (top,) = loss.child_axes  # the epochs, on the top edge
    assert list(top.get_xticks()) == [49, 99, 149]
    assert [t.get_text() for t in top.get_xticklabels()] == ["0", "1", "2"]
    lr = figure.axes[2]
    assert len(lr.lines) == 1 + 3  # the per-window rates, and the three epochs' end markers
    assert_apart(figure, [ax.title for ax in figure.axes])
    (path,) = save_curve_figures(records, tmp_path, "by step", formats=("png",))
    assert path.name == "curves.png"
    assert_png(path, min_width=1000)


@needs_matplotlib
def test_near_uniform_weights_keep_their_tick_labels_on_the_page() -> None:
    """After one epoch the weights differ from 1/3 in the fourth decimal (a real run's, drawn
    with ticks 0.33250, 0.33275, …): the labels must not be cut at the figure's left edge."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rows = [[a, 0.3333, 0.6667 - a] for a in (0.3326 + 0.0013 * (e % 2) for e in range(14))]
    history = history_from_records([{"epoch": 0, "arch": {"normal": {"gate": rows}}}])
    figure = trajectory_figure(history, "normal", "gate", {})
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    labels = [t for t in figure.axes[0].get_yticklabels() if t.get_text()]
    assert max(len(t.get_text()) for t in labels) == 7  # e.g. 0.33275
    room = 0.1 * figure.dpi  # a tenth of an inch: the measured extent is a glyph's estimate
    for label in labels:
        assert label.get_window_extent(canvas.get_renderer()).x0 >= figure.bbox.x0 + room
