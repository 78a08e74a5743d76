"""The search step the loop calls: :meth:`MultiLevelOptimizer.step`, replayed from CUDA graphs
when ``--cuda-graphs`` asks for it and the search allows it (:mod:`factornas.runtime.cuda_graphs`).

One graph holds a whole iteration of Algorithm 1: the weight step with its clipping and every
architecture level that steps, in either schedule. Which levels step is the one decision the
optimizer takes on the host, so it is part of the key (:func:`step_key`) with the batch shapes:
the end of a level's warm-up, a level stepping every ``period`` steps, a last partial batch or
a new epoch's skip dropout rate selects (or captures) another graph. The learning rates live in
device tensors (:func:`factornas.runtime.optim.make_capturable`), so a new epoch's rates need
no re-capture.

The data stay outside the graph: each batch is augmented eagerly by the data stream (with the
search's checkpointed augmentation generator, so resuming stays exact) and copied into the
graph's static inputs.

Some searches cannot be captured and step eagerly, saying why once (:func:`graph_blockers`);
a factor group says so itself (:meth:`~factornas.factors.base.FactorGroup.capture_blocker`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch

from factornas.data.batches import Batch
from factornas.runtime import optim
from factornas.runtime.cuda_graphs import StepGraphs, unavailable_reason
from factornas.search.config import SearchConfig
from factornas.search.optimizer import MultiLevelOptimizer, StepStats
from factornas.supernet.skip_dropout import skip_dropout_rate

Note = Callable[[str], None]


def graph_blockers(config: SearchConfig, device: torch.device, world_size: int) -> list[str]:
    """Why a search of ``config`` cannot replay its steps from CUDA graphs (empty: it can).

    * off CUDA there are no graphs;
    * second order scales its look-ahead by the current learning rate as a Python number,
      which a graph would freeze at its capture, and restores the weights in a ``finally``;
    * several processes average gradients with collectives not captured here;
    * a factor group of the space that says it cannot be captured on ``device``
      (:meth:`FactorGroup.capture_blocker`, e.g. a user's group whose mixture reads a value on
      the host). The built-in groups can: the activation group's fused kernel draws RReLU's
      noise on the device from torch's CUDA generator, which every replay advances, so
      ``adarts`` and every preset with a searched ``rrelu`` are graphed.
    """
    reasons = []
    device_reason = unavailable_reason(device)
    if device_reason is not None:
        reasons.append(device_reason)
    if config.order == "second":
        reasons.append("second order reads the learning rate on the host (first order only)")
    if world_size > 1:
        reasons.append("not captured with several processes (one process only)")
    groups = {
        factor.group.name: factor.group
        for cell_type in config.space.cell_types
        for factor in config.space.cell(cell_type).groups()
    }
    for name, group in groups.items():
        reason = group.capture_blocker(device)
        if reason is not None:
            reasons.append(f"factor group {name!r} cannot be captured: {reason}")
    return reasons


def step_key(
    optimizer: MultiLevelOptimizer, train: Batch, val: Batch, epoch: int, step: int
) -> Hashable:
    """What a captured step froze: the levels that step, the batch shapes, and P-DARTS's skip
    dropout rate (a Python number inside the graph, set once per epoch)."""
    levels = tuple(level.name for level in optimizer.levels if level.active(epoch, step))
    shapes = tuple(tuple(t.shape) for t in (*train, *val))
    return levels, shapes, skip_dropout_rate(optimizer.network)


class SearchStepper:
    """Steps a search: eagerly, or from CUDA graphs when asked and possible."""

    def __init__(
        self,
        optimizer: MultiLevelOptimizer,
        *,
        cuda_graphs: bool,
        device: torch.device,
        world_size: int = 1,
        note: Note = lambda _: None,
    ) -> None:
        self.optimizer = optimizer
        self.graphs: StepGraphs[StepStats] | None = None
        if not cuda_graphs:
            return
        blockers = graph_blockers(optimizer.config, device, world_size)
        if blockers:
            note(f"--cuda-graphs: {'; '.join(blockers)}")
            return
        optim.make_capturable(optimizer.weight_optimizer)
        for level in optimizer.levels:
            optim.make_capturable(level.optimizer)
        self.graphs = StepGraphs()

    @property
    def graphed(self) -> bool:
        return self.graphs is not None

    def step(self, train: Batch, val: Batch, epoch: int, step: int) -> StepStats:
        """One iteration of Algorithm 1; from a graph, its statistics are overwritten by the
        next replay (the loop consumes them first)."""
        if self.graphs is None:
            return self.optimizer.step(train, val, epoch, step)

        def iteration(
            xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor
        ) -> StepStats:
            return self.optimizer.step((xt, yt), (xv, yv), epoch, step)

        key = step_key(self.optimizer, train, val, epoch, step)
        return self.graphs(key, iteration, [*train, *val])
