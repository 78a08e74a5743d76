"""Optimizer steps with few launches and no host reads: fused updates and sync-free clipping.

A search step on a small supernet spends its time on per-op overhead, not arithmetic. torch's
default update runs about eight ops per parameter tensor (7,112 aten ops for the 889 weight
tensors of a C=8, 5-cell ``darts`` supernet) and ``clip_grad_norm_`` about six more (5,354) on
the CPU, where torch has no multi-tensor path for them; the fused kernels update every tensor in
one op. Plain Adam also reads its step count on the host at every step, which a fused Adam does
not. And clipping here divides the gradients inside the fused update (its ``grad_scale``, the
hook ``torch.amp.GradScaler`` uses), computing the norm from one concatenation: clip and step
together cost 907 ops instead of 12,466, and never wait for the device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

import torch
from torch import nn

#: Devices with fused SGD and Adam kernels (torch ≥ 2.4); elsewhere the multi-tensor path.
FUSED_DEVICES = frozenset({"cpu", "cuda"})
#: ``clip_grad_norm_``'s guard against a zero norm, kept for identical clipping.
_CLIP_EPS = 1e-6
#: The learning-rate tensors of the optimizers :func:`make_capturable` prepared, per group.
_DEVICE_LR: WeakKeyDictionary[torch.optim.Optimizer, list[torch.Tensor]] = WeakKeyDictionary()


def implementation(params: Iterable[nn.Parameter]) -> dict[str, bool | None]:
    """The ``fused``/``foreach`` keywords for an optimizer of ``params``: fused where every
    parameter is a floating-point tensor on a device with fused kernels, foreach otherwise."""
    fused = all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in params)
    return {"fused": True, "foreach": None} if fused else {"fused": None, "foreach": True}


def keep_implementation(optimizer: torch.optim.Optimizer) -> None:
    """Make ``load_state_dict`` keep the optimizer's own ``fused``/``foreach`` choice.

    A saved param group carries the flags of the optimizer that saved it (checkpoints written
    before the fused update have ``fused: None``) and loading replaces the group's flags with
    them. The state itself has the same layout either way (momentum buffers; Adam's moments and
    step count, which loading moves to the parameters' device for a fused optimizer), so
    rewriting the saved flags before the load is all an old checkpoint needs.
    """
    flags = [implementation(group["params"]) for group in optimizer.param_groups]

    def ours(_: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
        groups = [{**saved, **own} for saved, own in zip(state["param_groups"], flags, strict=True)]
        return {**state, "param_groups": groups}

    optimizer.register_load_state_dict_pre_hook(ours)


def is_fused(optimizer: torch.optim.Optimizer) -> bool:
    return all(group.get("fused") for group in optimizer.param_groups)


def total_norm(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """The total 2-norm of ``grads`` as a device tensor, from one concatenation and one norm:
    per-tensor norms would cost two ops per tensor on the CPU, and stacking them two more. It
    is non-finite when a gradient is (or when the norm overflows float32, which makes a
    clipped update zero): the finite guard reads it instead of passing over the gradients
    again (:class:`factornas.search.guard.FiniteGuard`)."""
    flat = torch.cat([g.view(-1) if g.is_contiguous() else g.reshape(-1) for g in grads])
    return torch.linalg.vector_norm(flat)


def clip_divisor(norm: torch.Tensor, max_norm: float) -> torch.Tensor:
    """What ``clip_grad_norm_(max_norm)`` divides gradients of total 2-norm ``norm``
    (:func:`total_norm`) by, as a device tensor: ``norm`` over ``max_norm`` (plus its
    epsilon), at least 1."""
    return norm.add(_CLIP_EPS).div_(max_norm).clamp_(min=1.0)


def step(
    optimizer: torch.optim.Optimizer,
    params: Iterable[nn.Parameter],
    max_norm: float | None = None,
) -> torch.Tensor | None:
    """``optimizer.step()`` on the gradients of ``params``, first clipped to total norm
    ``max_norm`` as ``clip_grad_norm_`` would (to float rounding), without reading a value on
    the host. A fused optimizer divides by the clip divisor inside its update; another gets
    its gradients scaled in place first. Returns the gradients' total 2-norm before clipping
    (a device tensor) when it clips, None otherwise."""
    if max_norm is None:
        optimizer.step()
        return None
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        optimizer.step()
        return None
    norm = total_norm(grads)
    divisor = clip_divisor(norm, max_norm)
    if not is_fused(optimizer) or any(g.dtype != torch.float32 for g in grads):
        # The fused kernels read the scale as float32 (torch.amp's convention): gradients of
        # another precision (float64 tests) are divided in their own, as clip_grad_norm_ does.
        torch._foreach_div_(grads, divisor)
        optimizer.step()
        return norm
    optimizer.grad_scale = divisor.to(torch.float32)  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.grad_scale  # type: ignore[attr-defined]
    return norm


def make_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Prepare a fused optimizer on a CUDA device for CUDA-graph capture of its step.

    Each group's learning rate becomes a float32 device tensor that :func:`set_lr` changes in
    place, so a captured step reads the current rate on every replay (a Python number would be
    frozen into the graph at capture); Adam's groups get ``capturable=True``. Loading a
    checkpoint replaces the groups' entries with the saved ones, so a hook puts both back
    after every load (the rate itself is a function of the epoch, set before each epoch).
    """
    tensors = [
        torch.tensor(float(group["lr"]), dtype=torch.float32, device=group["params"][0].device)
        for group in optimizer.param_groups
    ]
    _DEVICE_LR[optimizer] = tensors

    def restore(opt: torch.optim.Optimizer) -> None:
        for group, lr in zip(opt.param_groups, tensors, strict=True):
            lr.fill_(float(group["lr"]))
            group["lr"] = lr
            if "capturable" in group:
                group["capturable"] = True

    restore(optimizer)
    optimizer.register_load_state_dict_post_hook(restore)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate: in place in the device tensors of a
    :func:`make_capturable` optimizer (a captured step reads them), as a number otherwise."""
    tensors = _DEVICE_LR.get(optimizer)
    for index, group in enumerate(optimizer.param_groups):
        if tensors is None:
            group["lr"] = lr
        else:
            tensors[index].fill_(lr)
            group["lr"] = tensors[index]
