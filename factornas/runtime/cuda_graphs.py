"""CUDA graphs for whole training steps: capture a step once, then replay it for one launch.

A search step on the paper's small supernet launches thousands of tiny kernels; the host, not
the GPU, sets its pace. A CUDA graph records every kernel of one step once and replays them
all with a single launch. :class:`StepGraphs` does that for any step function whose inputs are
tensors and whose work reads nothing on the host:

* **keys.** A captured graph replays exactly the kernels it recorded, with every Python-side
  decision of its capture frozen in. The caller names those decisions in a *key* (the search:
  the set of architecture levels that step, and the batch shapes); one graph is captured per
  key and replayed whenever the key comes back, so the end of a level's warm-up or a level
  stepping every ``period`` steps selects another graph instead of replaying a wrong one.
* **warm-up.** A key's first :data:`WARMUP_STEPS` occurrences run eagerly (on a side stream,
  as torch requires before a capture): they create the optimizer states and let cuDNN pick its
  algorithms. They are real steps of the run, not extra ones.
* **capture.** The next occurrence is captured; capturing records but executes nothing, so the
  graph is replayed at once for that step. Each key's graph gets its own memory pool.
* **static inputs.** A graph reads its inputs from the addresses it was captured with: each
  batch is copied into the key's :class:`StaticInputs` before a replay. A batch of another
  shape (a last partial batch) has another key; the caller may as well step it eagerly.
* **outputs.** A replay overwrites the tensors the capture returned: the caller must consume
  them (queue whatever reads them) before the next step, which the loops do.

What the step itself must do to be capturable (the search and retraining steps do it when
graphs are on): learning rates as device tensors the optimizers read (changed in place, so a new
epoch's rate needs no re-capture), capturable optimizers (fused SGD; Adam with
``capturable=True``), clipping on the device (``factornas.runtime.optim``), random numbers
only from torch's default CUDA generator (which a capture registers: every replay draws fresh
numbers), and no host reads at all (``.item()``, ``.tolist()``, ``float(tensor)``).

On the CPU there are no graphs: the option is a no-op there, and the loops say so once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import torch

#: Eager steps of a key before its capture.
WARMUP_STEPS = 2
#: What the help texts say until a GPU has measured the option.
UNMEASURED = "not yet measured on a GPU; off by default"

Action = Literal["eager", "capture", "replay"]
Out = TypeVar("Out")


def unavailable_reason(device: torch.device) -> str | None:
    """Why CUDA graphs cannot run on ``device`` (``None`` when they can)."""
    if device.type != "cuda":
        return f"a no-op on {device.type} (CUDA graphs need a CUDA device); stepping eagerly"
    return None


def next_action(seen: int, captured: bool, warmup: int = WARMUP_STEPS) -> Action:
    """What to do with a key's next step, given how often the key has stepped (``seen``,
    this step excluded) and whether its graph exists: a pure function, so the whole
    capture schedule is testable without a GPU."""
    if captured:
        return "replay"
    return "eager" if seen < warmup else "capture"


class StaticInputs:
    """The tensors a captured graph reads its inputs from; each step's batch is copied in."""

    def __init__(self, like: Sequence[torch.Tensor]) -> None:
        self.tensors = [torch.empty_like(t) for t in like]

    def matches(self, inputs: Sequence[torch.Tensor]) -> bool:
        """Whether ``inputs`` fit (same count, shapes, dtypes and devices)."""
        return len(inputs) == len(self.tensors) and all(
            (a.shape, a.dtype, a.device) == (b.shape, b.dtype, b.device)
            for a, b in zip(inputs, self.tensors, strict=True)
        )

    def copy_in(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Copy ``inputs`` into the static tensors (refusing any that do not fit) and return
        those."""
        if not self.matches(inputs):
            raise ValueError("inputs do not fit the captured graph's static tensors")
        for static, value in zip(self.tensors, inputs, strict=True):
            static.copy_(value, non_blocking=True)
        return self.tensors


@dataclass
class _Captured(Generic[Out]):
    graph: torch.cuda.CUDAGraph
    inputs: StaticInputs
    outputs: Out


class StepGraphs(Generic[Out]):
    """One captured graph per key of a step function ``fn(*inputs) -> outputs``."""

    def __init__(self, warmup: int = WARMUP_STEPS) -> None:
        self.warmup = warmup
        self.seen: Counter[Hashable] = Counter()
        self.graphs: dict[Hashable, _Captured[Out]] = {}

    def __call__(
        self, key: Hashable, fn: Callable[..., Out], inputs: Sequence[torch.Tensor]
    ) -> Out:
        action = next_action(self.seen[key], key in self.graphs, self.warmup)
        self.seen[key] += 1
        if action == "replay":
            captured = self.graphs[key]
            captured.inputs.copy_in(inputs)
            captured.graph.replay()
            return captured.outputs
        if action == "eager":
            return self._warm_up(fn, inputs)
        return self._capture(key, fn, inputs)

    @staticmethod
    def _warm_up(fn: Callable[..., Out], inputs: Sequence[torch.Tensor]) -> Out:
        """One eager step on a side stream (torch's rule for the steps before a capture)."""
        current = torch.cuda.current_stream()
        side = torch.cuda.Stream()
        side.wait_stream(current)
        with torch.cuda.stream(side):
            outputs = fn(*inputs)
        current.wait_stream(side)
        return outputs

    def _capture(
        self, key: Hashable, fn: Callable[..., Out], inputs: Sequence[torch.Tensor]
    ) -> Out:
        static = StaticInputs(inputs)
        static.copy_in(inputs)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = fn(*static.tensors)
        graph.replay()  # the capture only recorded this step: now it runs
        self.graphs[key] = _Captured(graph, static, outputs)
        return outputs
