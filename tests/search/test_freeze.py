"""Freezing a group to a finished run's weights (``--fix-from``) takes one distribution per edge:
a run that relaxed the group by independent sigmoids (FairDARTS) is refused, naming why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from factornas.cli import main
from factornas.errors import FactorNASError
from factornas.presets.search import search_preset
from factornas.search.config import FrozenSpec, LevelConfig, RelaxationSpec, SearchConfig
from factornas.search.loop import build_network
from factornas.supernet.network import SearchNetwork
from tests.tiny import TINY_SEARCH_FLAGS

SIGMOID = LevelConfig(group="op", relaxation=RelaxationSpec(name="sigmoid"))


def tiny(config: SearchConfig) -> SearchConfig:
    return config.replace(channels=4, layers=3)


def network(config: SearchConfig) -> SearchNetwork:
    return build_network(config, num_classes=10, in_channels=3)


def finished_run(tmp_path: Path, config: SearchConfig, *, simplex: bool) -> Path:
    """A run directory as ``config``'s search leaves it: its config and its final weights of
    the op group, rows summing to one (a softmax's) or sigmoids of about one half each."""
    run = tmp_path / "prev"
    run.mkdir()
    (run / "config.json").write_text(config.model_dump_json())
    net = network(config.replace(levels=()))  # the shapes of its weights
    weights = {}
    for cell_type in net.space.cell_types:
        shape = net.arch.parameter(cell_type, "op").shape
        rows = torch.rand(shape) + 0.5
        weights[cell_type] = {"op": (rows / rows.sum(-1, keepdim=True) if simplex else rows / 2)}
    data = {c: {g: w.tolist() for g, w in groups.items()} for c, groups in weights.items()}
    (run / "arch_weights.json").write_text(json.dumps(data))
    return run


def frozen_from(run: Path) -> SearchConfig:
    level = LevelConfig(group="op", frozen=FrozenSpec(from_run=run))
    return tiny(search_preset("darts")).replace(levels=(level,))


def test_a_sigmoid_run_is_refused_naming_its_relaxation(tmp_path: Path) -> None:
    run = finished_run(
        tmp_path, tiny(search_preset("darts")).replace(levels=(SIGMOID,)), simplex=False
    )
    with pytest.raises(FactorNASError) as caught:
        network(frozen_from(run))
    assert str(caught.value) == (
        f"{run} searched 'op' with the sigmoid relaxation, whose weights need not sum to one per "
        "edge as a frozen group's must: take 'op' from a search with the dirichlet, gumbel or "
        "softmax relaxation, or fix one candidate (--fix op=NAME)"
    )


def test_a_softmax_run_freezes_the_group_to_its_weights(tmp_path: Path) -> None:
    run = finished_run(tmp_path, tiny(search_preset("darts")), simplex=True)
    net = network(frozen_from(run))
    saved = json.loads((run / "arch_weights.json").read_text())
    for cell_type in net.space.cell_types:
        assert not net.arch.parameter(cell_type, "op").requires_grad
        weights = net.arch.weights(cell_type)["op"]
        torch.testing.assert_close(weights, torch.tensor(saved[cell_type]["op"]))


def test_a_group_the_sigmoid_run_froze_itself_is_taken(tmp_path: Path) -> None:
    """Its weights came from elsewhere (here a softmax run's), not from its sigmoids."""
    frozen_there = SIGMOID.model_copy(update={"frozen": FrozenSpec(from_run=tmp_path / "first")})
    config = tiny(search_preset("darts")).replace(levels=(frozen_there,))
    run = finished_run(tmp_path, config, simplex=True)
    assert not network(frozen_from(run)).arch.parameter("normal", "op").requires_grad


def test_fix_from_a_fair_darts_run_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """FairDARTS's own space (no ``none``) differs from A-DARTS's too; the relaxation is named
    first, since no choice of space would make its weights freezable."""
    run = finished_run(tmp_path, tiny(search_preset("fair_darts")), simplex=False)
    argv = ["search", "--preset", "adarts", *TINY_SEARCH_FLAGS, "--fix-from", f"{run}:op"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {run} searched 'op' with the sigmoid")
