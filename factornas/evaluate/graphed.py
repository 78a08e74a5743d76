"""CUDA graphs for the retraining step (:mod:`factornas.runtime.cuda_graphs`).

A retraining step (forward with drop path and the auxiliary head, loss, backward, clipping,
fused SGD) reads nothing on the host and draws its drop-path masks from torch's default CUDA
generator, which a capture registers, so every replay draws fresh masks. What a captured step
freezes is the drop-path probability (a Python number, ramped every epoch) and the batch
shapes: :func:`step_key` names them, so each epoch with drop path captures its own graph (once
per epoch; without drop path one graph serves the whole run), and a last partial batch gets
one too. The learning rate lives in a device tensor (:func:`factornas.runtime.optim.
make_capturable`).
"""

from __future__ import annotations

import sys
from collections.abc import Hashable

import torch

from factornas.evaluate.network import EvalNetwork
from factornas.runtime import optim
from factornas.runtime.cuda_graphs import StepGraphs, unavailable_reason

Outputs = tuple[torch.Tensor, torch.Tensor]


def retrain_graphs(
    requested: bool, device: torch.device, optimizer: torch.optim.Optimizer
) -> StepGraphs[Outputs] | None:
    """The graphs of a retraining that asked for them, its optimizer made capturable; ``None``
    when not asked, or off CUDA (saying once that the option is then a no-op)."""
    if not requested:
        return None
    reason = unavailable_reason(device)
    if reason is not None:
        print(f"note: --cuda-graphs: {reason}", file=sys.stderr)
        return None
    optim.make_capturable(optimizer)
    return StepGraphs()


def step_key(model: EvalNetwork, images: torch.Tensor, labels: torch.Tensor) -> Hashable:
    """What a captured retraining step froze: the drop-path probability and the shapes."""
    return model.drop_path_prob, tuple(images.shape), tuple(labels.shape)
