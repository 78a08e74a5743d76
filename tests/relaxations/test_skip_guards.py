"""DARTS+'s early stop on a constructed weight trajectory; P-DARTS's skip cap on a genotype
and its dropout after skip connections."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from factornas.presets.search import search_preset
from factornas.search.config import SkipDropoutConfig, SkipGuardConfig
from factornas.search.loop import build_network, run_search
from factornas.search.skips import early_stop
from factornas.space.config import SearchSpace
from factornas.space.derive import count_skips, derive_genotype
from factornas.supernet.edge import MixedEdge
from factornas.supernet.skip_dropout import SkipDropout, set_skip_dropout, skip_dropout_rate


def _weights(
    space: SearchSpace, skip_edges: dict[int, float]
) -> dict[str, dict[str, torch.Tensor]]:
    """Op weights favouring sep_conv_3x3 everywhere except on ``skip_edges`` (edge → skip
    weight), where skip_connect wins with that weight."""
    names = list(space.cell("normal").op.names)
    edges = space.topology.num_edges
    rows = torch.full((edges, len(names)), 0.05)
    rows[:, names.index("sep_conv_3x3")] = 0.3
    for edge, weight in skip_edges.items():
        rows[edge, names.index("skip_connect")] = weight
    return {ct: {"op": rows.clone()} for ct in space.cell_types}


# Supernet edge order: node 0 ← inputs 0,1 (edges 0,1); node 1 ← 0,1,2 (2..4); node 2 (5..8);
# node 3 (9..13). Skips on both edges of node 0 and node 1's first two: four skips.
COLLAPSED = {0: 0.9, 1: 0.8, 2: 0.7, 3: 0.6}


def test_early_stop_fires_once_the_normal_cell_holds_too_many_skips_for_k_epochs(
    darts: SearchSpace,
) -> None:
    trajectory = [{}, {0: 0.9}, {0: 0.9, 1: 0.8, 2: 0.7}, {0: 0.9}, COLLAPSED, COLLAPSED]
    counts = [count_skips(derive_genotype(darts, _weights(darts, t)).normal) for t in trajectory]
    assert counts == [0, 1, 3, 1, 4, 4]
    guard = SkipGuardConfig(early_stop_skips=2, patience=2, early_stop=True)
    streak, reasons = 0, []
    for skips in counts:
        streak, reason = early_stop(guard, streak, skips)
        reasons.append(reason)
    assert reasons[:5] == [None] * 5  # epoch 2 at the threshold, then under: the streak resets
    assert reasons[5] == (
        "early stop (DARTS+): the normal cell held 4 ≥ 2 skip_connect for 2 epoch(s) in a row"
    )
    off = SkipGuardConfig(patience=1, early_stop=False)
    assert early_stop(off, 0, 4) == (1, None)
    three = SkipGuardConfig(early_stop_skips=3, early_stop=True)
    assert [early_stop(three, 0, n)[1] is None for n in (2, 3)] == [True, False]


def test_the_skip_cap_keeps_the_strongest_skips(darts: SearchSpace) -> None:
    weights = _weights(darts, COLLAPSED)
    free = derive_genotype(darts, weights)
    capped = derive_genotype(darts, weights, max_skips=2)
    assert count_skips(free.normal) == 4 and count_skips(capped.normal) == 2
    node0, node1 = capped.normal.nodes[0], capped.normal.nodes[1]
    assert [e.op for e in node0] == ["skip_connect", "skip_connect"]  # 0.9 and 0.8 kept
    # node 1: its two skips (0.7, 0.6) are struck; its strongest other edges take sep_conv
    assert all(e.op == "sep_conv_3x3" for e in node1)
    assert capped.reduce == free.reduce
    assert derive_genotype(darts, weights, max_skips=0).normal.edges() != free.normal.edges()
    assert count_skips(derive_genotype(darts, weights, max_skips=0).normal) == 0


def test_pdarts_skip_dropout_follows_every_stride_one_skip_and_only_in_training() -> None:
    config = search_preset("darts").replace(
        channels=4, layers=3, skip_dropout=SkipDropoutConfig(rate=0.5)
    )
    network = build_network(config, num_classes=10, in_channels=3)
    dropouts = [m for m in network.modules() if isinstance(m, SkipDropout)]
    edges = [m for m in network.modules() if isinstance(m, MixedEdge)]
    # Cells: normal (14 stride-1 edges), then two reductions (6 stride-1 edges each).
    assert len(dropouts) == sum(edge.stride == 1 for edge in edges) == 14 + 6 + 6
    assert skip_dropout_rate(network) == 0.0
    set_skip_dropout(network, 0.5)
    x = torch.ones(64, 4, 4, 4)
    dropout = dropouts[0]
    dropout.train()
    out = dropout(x)
    assert set(out.unique().tolist()) <= {0.0, 2.0} and 0 < (out == 0).float().mean() < 1
    dropout.eval()
    assert torch.equal(dropout(x), x)
    state = network.state_dict()  # parameter-free: checkpoints are unchanged
    plain = build_network(config.replace(skip_dropout=None), num_classes=10, in_channels=3)
    assert state.keys() == plain.state_dict().keys()


@pytest.mark.slow
def test_a_search_records_the_skip_dropout_rate_of_every_epoch(tmp_path: Path) -> None:
    config = search_preset("darts").replace(
        channels=4,
        layers=3,
        epochs=3,
        batch_size=8,
        arch_warmup_epochs=1,
        data={"dataset": "synthetic", "synthetic_size": 16, "synthetic_image": 8},
        skip_dropout=SkipDropoutConfig(rate=0.3),
    )
    result = run_search(config, tmp_path / "run", show_progress=False)
    rates = [record["skip_dropout"] for record in result.epochs]
    assert rates == [0.3 * 2 / 3, 0.3, 0.3 * math.exp(-0.2)]
