"""DARTS+'s early stop on a constructed weight trajectory; P-DARTS's skip cap on a genotype."""

from __future__ import annotations

import torch

from factornas.search.config import SkipGuardConfig
from factornas.search.skips import early_stop
from factornas.space.config import SearchSpace
from factornas.space.derive import count_skips, derive_genotype


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
    guard = SkipGuardConfig(max_skips=2, patience=2, early_stop=True)
    streak, reasons = 0, []
    for skips in counts:
        streak, reason = early_stop(guard, streak, skips)
        reasons.append(reason)
    assert reasons[:5] == [None] * 5  # epoch 2 over M, then back under: the streak resets
    assert reasons[5] == (
        "early stop (DARTS+): the normal cell held 4 > 2 skip_connect for 2 epoch(s) in a row"
    )
    off = SkipGuardConfig(max_skips=2, patience=1, early_stop=False)
    assert early_stop(off, 0, 4) == (1, None)


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
