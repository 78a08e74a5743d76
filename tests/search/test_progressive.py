"""DrNAS's progressive search: pruning between stages, widening partial channels, a stage's own
warm-up, all in one resumable loop."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.distributions import Dirichlet

from factornas.errors import FactorNASError
from factornas.presets.search import search_preset
from factornas.search.config import SearchConfig, StageConfig
from factornas.search.loop import Search, build_network, run_search
from factornas.search.progressive import widen
from factornas.supernet.partial import PartialChannelEdge


def _reference_prune(x: torch.Tensor, keep: int, mask: torch.Tensor | None) -> tuple:
    """DrNAS ``utils.prune``: pruned entries pushed down by 1e6, the top ``keep`` kept with
    their values, the rest set to 0; the new mask marks the kept entries."""
    x = x.clone()
    if mask is not None:
        x[~mask] -= 1000000
    src, index = x.topk(k=keep, dim=-1)
    pruned = torch.zeros_like(x).scatter(dim=1, index=index, src=src)
    new_mask = torch.zeros_like(x, dtype=torch.bool).scatter(
        dim=1, index=index, src=torch.ones_like(src, dtype=torch.bool)
    )
    return pruned, new_mask


def _staged(**changes: object) -> SearchConfig:
    """DrNAS's progressive protocol shrunk: 2 + 2 epochs, K = 6 then 4, 4 ops kept."""
    settings = {
        "channels": 12,
        "layers": 3,
        "epochs": 4,
        "batch_size": 8,
        "data": {"dataset": "synthetic", "synthetic_size": 32, "synthetic_image": 8},
        "stages": (
            StageConfig(epochs=2, partial_channels=6, warmup_epochs=1),
            StageConfig(epochs=2, partial_channels=4, keep_ops=4, warmup_epochs=1),
        ),
        **changes,
    }
    return search_preset("drnas_progressive").replace(**settings)


def test_widen_copies_old_channels_cyclically_and_refuses_to_narrow() -> None:
    old = torch.arange(6.0).reshape(2, 3)
    grown = widen(old, torch.Size((3, 5)))
    assert grown.tolist() == [[0, 1, 2, 0, 1], [3, 4, 5, 3, 4], [0, 1, 2, 0, 1]]
    with pytest.raises(FactorNASError, match="cannot narrow"):
        widen(old, torch.Size((1, 3)))


def test_pruning_is_drnas_prune_twice_over() -> None:
    config = _staged()
    network = build_network(config, num_classes=10, in_channels=3)
    arch = network.arch
    torch.manual_seed(4)
    for cell_type in ("normal", "reduce"):
        arch.parameter(cell_type, "op").data.normal_()
    before = {ct: arch.parameter(ct, "op").detach().clone() for ct in ("normal", "reduce")}
    arch.prune("op", 5)
    arch.prune("op", 3)
    for cell_type, theta in before.items():
        expected, mask = _reference_prune(theta, 5, None)
        expected, mask = _reference_prune(expected, 3, mask)
        assert torch.equal(arch.parameter(cell_type, "op"), expected)
        kept = arch.kept(cell_type, "op")
        assert kept is not None and torch.equal(kept.bool(), mask)


def test_pruned_weights_are_drnas_masked_renormalized_samples() -> None:
    """``process_step_vector``: the Dirichlet sample over every op, pruned ones zeroed, the row
    divided by what is left; the genotype's softmax the same way."""
    config = _staged()
    network = build_network(config, num_classes=10, in_channels=3)
    arch = network.arch
    arch.prune("op", 4)
    theta = arch.parameter("normal", "op")
    mask = arch.kept("normal", "op")
    assert mask is not None
    torch.manual_seed(9)
    ours = arch.weights("normal")["op"]
    torch.manual_seed(9)
    sample = Dirichlet(torch.nn.functional.elu(theta) + 1).rsample() * mask
    torch.testing.assert_close(ours, sample / sample.sum(-1, keepdim=True))
    soft = torch.softmax(theta, -1) * mask
    torch.testing.assert_close(arch.strengths("normal")["op"], soft / soft.sum(-1, keepdim=True))
    assert ((ours > 0).sum(-1) == 4).all()


@pytest.mark.slow
def test_a_staged_search_prunes_widens_and_warms_up_per_stage(tmp_path: Path) -> None:
    config = _staged()
    search = Search(config, tmp_path / "run", show_progress=False)
    try:
        result = search.run_search()
    finally:
        search.run.release()
    records = result.epochs
    assert [r["stage"] for r in records] == [0, 0, 1, 1]
    for record in records[2:]:  # after pruning: 4 of 7 ops weigh anything on every edge
        for rows in record["arch"]["normal"]["op"]:
            assert sum(w > 0 for w in rows) == 4
    edges = [m for m in search.network.modules() if isinstance(m, PartialChannelEdge)]
    assert edges and {e.partial_channels for e in edges} == {4}
    assert {e.sampled for e in edges} == {3, 6, 12}  # C/4 at 12, 24 and 48 channels
    momentum = search.optimizer.weight_optimizer.state
    assert all(
        state["momentum_buffer"].shape == p.shape
        for p, state in momentum.items()
        if "momentum_buffer" in state
    )
    # The stage's warm-up holds the architecture: the first epoch of each stage leaves θ alone.
    assert config.architecture_open(0) is False and config.architecture_open(1) is True
    assert config.architecture_open(2) is False and config.architecture_open(3) is True


class _Interrupt(Exception):
    pass


@pytest.mark.slow
def test_a_run_interrupted_at_the_stage_boundary_resumes_exactly(tmp_path: Path) -> None:
    config = _staged()
    reference = run_search(config, tmp_path / "reference", show_progress=False)

    def stop_in_stage_two(record: dict) -> None:
        if record["epoch"] == 2:  # the checkpoint on disk is the end of stage one
            raise _Interrupt

    with pytest.raises(_Interrupt):
        run_search(config, tmp_path / "resumed", show_progress=False, on_epoch=stop_in_stage_two)
    resumed = run_search(config, tmp_path / "resumed", show_progress=False)
    assert resumed.genotype == reference.genotype
    a = torch.load(tmp_path / "reference" / "checkpoint.pt", weights_only=True)["network"]
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["network"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_stage_settings_are_checked() -> None:
    with pytest.raises(ValueError, match=r"the stages last 2 \+ 2 = 4 epochs but epochs is 5"):
        _staged(epochs=5)
    with pytest.raises(ValueError, match="stage 2 warms up for 2 of its 2 epochs"):
        _staged(
            stages=(
                StageConfig(epochs=2, partial_channels=6),
                StageConfig(epochs=2, partial_channels=4, warmup_epochs=2),
            )
        )
    with pytest.raises(ValueError, match="every stage searches partial channels"):
        _staged(
            stages=(
                StageConfig(epochs=2, partial_channels=1),
                StageConfig(epochs=2, partial_channels=4),
            )
        )
