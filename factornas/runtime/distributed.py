"""Multi-process search and training under ``torchrun``, without DistributedDataParallel.

The search asks autograd for exactly the gradients each level needs
(``torch.autograd.grad``), which DDP's backward hooks never see. So gradients are averaged
explicitly, one flattened all-reduce per optimizer step, for the weights *and* every
architecture level — otherwise ranks drift to different architectures. Parameters and buffers
start identical by a broadcast from rank 0; only rank 0 writes files.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


# Modules whose functions take ``group=dist.group.WORLD`` as a default argument. Python
# evaluates a default once, at import, so one first imported after the group exists keeps a
# reference to it for the life of the process.
_MODULES_THAT_BIND_THE_DEFAULT_GROUP = (
    "torch.distributed.nn",
    "torch.distributed.optim",
    "torch.distributed.fsdp",
)


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    if not dist.is_initialized():
        # Import them while the default group is still None. Left alone, the first optimizer
        # imports them (through torch._dynamo) after the group exists; their defaults then pin
        # it, destroy_process_group cannot free it, and its gloo threads run on into
        # interpreter teardown, where one that releases the last tensor of a collective aborts
        # the rank ("terminate called without an active exception").
        for module in _MODULES_THAT_BIND_THE_DEFAULT_GROUP:
            importlib.import_module(module)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank)


def average_tensors(tensors: list[torch.Tensor], context: DistContext) -> list[torch.Tensor]:
    """Average ``tensors`` over all ranks with one flattened all-reduce."""
    if not context.enabled or not tensors:
        return tensors
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= context.world_size
    out, offset = [], 0
    for t in tensors:
        out.append(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()
    return out


def sum_scalars(values: list[float], context: DistContext, device: torch.device) -> list[float]:
    """Sum plain numbers (losses, counts) over all ranks."""
    if not context.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def gather_rows(tensor: torch.Tensor, context: DistContext) -> torch.Tensor:
    """Every rank's 1-d ``tensor`` (the same size and dtype on each) as the rows of one, in rank
    order, on every rank: what differs between ranks, for rank 0 to checkpoint."""
    if not context.enabled:
        return tensor.unsqueeze(0)
    rows = [torch.empty_like(tensor) for _ in range(context.world_size)]
    dist.all_gather(rows, tensor.contiguous())
    return torch.stack(rows)


def broadcast_int(value: int, context: DistContext, device: torch.device) -> int:
    """Rank 0's ``value`` on every rank (a decision only rank 0 may take)."""
    if not context.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(tensor, src=0)
    return int(tensor.item())


def broadcast_module(module: nn.Module, context: DistContext) -> None:
    """Make every rank's parameters and buffers equal to rank 0's."""
    if not context.enabled:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor, src=0)


def max_divergence(tensors: list[torch.Tensor], context: DistContext) -> float:
    """Largest absolute difference between any rank's ``tensors`` and rank 0's (0 alone)."""
    if not context.enabled:
        return 0.0
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    gap = (flat - reference).abs().max()
    dist.all_reduce(gap, op=dist.ReduceOp.MAX)
    return float(gap)


@contextmanager
def leaving_process_group() -> Iterator[None]:
    """Destroy, on every way out of the block, a process group that the block created.

    Destroying the group joins its gloo worker threads while the interpreter still runs. A
    thread left to interpreter teardown that drops the last reference to a collective's
    tensor needs the GIL, which teardown no longer grants, and the rank aborts ("terminate
    called without an active exception") some of the time, after a search that had finished
    or one that a rank refused. A group that existed before the block belongs to the caller
    and is left alone.
    """
    existed = dist.is_available() and dist.is_initialized()
    try:
        yield
    finally:
        if not existed and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
