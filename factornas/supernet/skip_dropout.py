"""P-DARTS's dropout after the supernet's skip connections.

P-DARTS (chenxin061/pdarts, ``model_search.py``) follows every stride-1 ``skip_connect`` of the
search network with an ``nn.Dropout``: a parameter-free skip learns fastest early in a search
and would otherwise crowd out the convolutions. Its rate is set once per epoch from the search
config (:class:`~factornas.search.config.SkipDropoutConfig`). Each edge keeps its own module,
so under grouped cell execution the edges still draw independent masks (the module has no
batched rule and runs edge by edge), as P-DARTS's one ``nn.Dropout`` per edge does.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from factornas.supernet.edge import MixedEdge, module_key


class SkipDropout(nn.Module):
    """Identity followed by dropout at rate ``p`` (training mode only)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def install_skip_dropout(network: nn.Module, skip_op: str = "skip_connect") -> int:
    """Put a :class:`SkipDropout` in place of every stride-1 ``skip_op`` of ``network``'s mixed
    edges; returns how many (0: the space has no such op). Parameter-free, so state dicts and
    checkpoints are unchanged."""
    count, key = 0, module_key(skip_op)
    for edge in network.modules():
        if not isinstance(edge, MixedEdge) or edge.stride != 1 or key not in edge.ops:
            continue
        modules = edge.ops[key]
        assert isinstance(modules, nn.ModuleList)
        for i, module in enumerate(modules):
            if type(module) is nn.Identity:
                modules[i] = SkipDropout()
                count += 1
    return count


def set_skip_dropout(network: nn.Module, p: float) -> None:
    """The drop rate of every :class:`SkipDropout` of ``network``."""
    for module in network.modules():
        if isinstance(module, SkipDropout):
            module.p = p


def skip_dropout_rate(network: nn.Module) -> float | None:
    """The current drop rate (None: no skip dropout installed)."""
    return next((m.p for m in network.modules() if isinstance(m, SkipDropout)), None)
