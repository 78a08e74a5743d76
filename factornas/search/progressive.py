"""Moving a progressive search (DrNAS) from one stage to the next.

DrNAS (``DARTS-space/train_search.py`` L147-158) ends a stage by pruning every edge's ops to the
strongest few (``model.pruning``), then *widens* the partial-channel ops from ``C/6`` to
``C/4`` channels (``model.wider``, ``net2wider.py``): each op's convolutions and batch norms
grow by copies of existing channels, and the weight optimizer's momentum buffers grow the same
way (``configure_optimizer``), so the second stage starts from the first one's training.

Here the next stage's supernet is built anew and every tensor of the old one's state (weights,
batch-norm statistics, architecture weights and masks) is copied into it; a tensor that grew
takes, in every grown dimension, old channel ``j mod old_size`` as its channel ``j``
(:func:`widen`). DrNAS picks the copied channels at random and passes the picks from one layer
to the next so that an op's layers agree; the same cyclic map in every tensor agrees across
layers by construction and needs no random draw, so resuming at a stage boundary is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from factornas.errors import FactorNASError


def widen(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``tensor`` grown to ``shape``: in every dimension that grew, old index ``j mod n``
    fills new index ``j`` (a dimension may not shrink)."""
    if tensor.dim() != len(shape):
        raise FactorNASError(
            f"cannot widen a tensor of shape {tuple(tensor.shape)} to {tuple(shape)}"
        )
    out = tensor
    for dim, (old, new) in enumerate(zip(tensor.shape, shape, strict=True)):
        if new == old:
            continue
        if new < old:
            raise FactorNASError(
                f"a stage cannot narrow the supernet ({tuple(tensor.shape)} → {tuple(shape)}): "
                "give later stages fewer partial-channel groups K, never more"
            )
        index = torch.arange(new, device=tensor.device) % old
        out = out.index_select(dim, index)
    return out


def widen_state(old: Mapping[str, torch.Tensor], new: Mapping[str, torch.Tensor]) -> dict:
    """The next stage's state dict: every entry of ``new`` filled from ``old`` (same key),
    widened to its shape."""
    missing = sorted(set(new) - set(old))
    if missing:
        raise FactorNASError(
            f"the next stage's supernet has entries the last one lacks ({', '.join(missing[:3])}"
            "…): its stages must search the same space"
        )
    return {key: widen(old[key], target.shape).to(target.dtype) for key, target in new.items()}


def widen_optimizer_state(state: dict[str, Any], params: list[torch.nn.Parameter]) -> dict:
    """A torch optimizer's state dict with every per-parameter tensor state (SGD's momentum
    buffer) widened to the shape of ``params``, the next stage's parameters in the same order."""

    def grown(index: int, value: Any) -> Any:
        if torch.is_tensor(value) and value.dim():
            return widen(value, params[index].shape)
        return value  # a step count

    widened = {
        index: {name: grown(index, value) for name, value in entry.items()}
        for index, entry in state["state"].items()
    }
    return {**state, "state": widened}
