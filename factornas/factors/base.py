"""The factor-group abstraction: one independent axis of an operator choice.

The paper writes the candidate operator set of an edge as a Cartesian product of small sets,
each with its own architecture weights. A :class:`FactorGroup` is one such set. Exactly one
group per space has the role ``"op"`` (the working operators, weights α); every other group
*attaches* to some of those operators at a :class:`Placement`:

* ``INPUT``   – a transform of the edge input in front of the op (the activation, Eq. 3).
  The input is the same for every op on the edge, so its mixture is computed once per edge
  and shared, exactly as in Figure 2 of the paper.
* ``OUTPUT``  – a transform of each attached op's output (e.g. the normalization after it);
  one module per (edge, op), since every op's output differs.
* ``VARIANT`` – a construction argument of the op (e.g. kernel size); the op is built once per
  combination of variant candidates and their outputs are mixed by the product of weights.

The weights of every group are one vector per edge (``scope="edge"``, Eq. 3) or one vector per
cell type shared by all its edges (``scope="cell"``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from factornas.errors import RegistryError


class Placement(str, enum.Enum):
    """Where a non-op factor group acts on the ops it attaches to."""

    INPUT = "input"
    OUTPUT = "output"
    VARIANT = "variant"


Scope = Literal["edge", "cell"]


@dataclass(frozen=True)
class OpContext:
    """Everything an op factory needs to build one working operator.

    Attributes:
        channels: input and output channel count of the op.
        stride: 1 in normal cells, 2 on reduction edges leaving the cell inputs.
        affine: whether batch norms learn scale/shift (False during search, as DARTS).
        searching: built for the supernet; pools then get a non-affine BN (reference DARTS).
        variants: construction values chosen by ``VARIANT`` groups, keyed by group name.
        inner_activation: factory of the activation used *inside* the op after its first
            convolution (DARTS's sep_conv applies ReLU twice); ``None`` means ReLU.
    """

    channels: int
    stride: int
    affine: bool
    searching: bool = False
    variants: Mapping[str, Any] = field(default_factory=dict)
    inner_activation: Callable[[], nn.Module] | None = None

    def make_inner_activation(self) -> nn.Module:
        """Build the inner activation, defaulting to ReLU as in DARTS."""
        if self.inner_activation is None:
            return nn.ReLU(inplace=False)
        return self.inner_activation()


OpFactory = Callable[[OpContext], nn.Module]
ModuleFactory = Callable[[int], nn.Module]


@dataclass(frozen=True)
class Candidate:
    """One named choice of a factor group.

    For the op group, ``factory`` takes an :class:`OpContext`; for ``INPUT``/``OUTPUT`` groups it
    takes the channel count; ``VARIANT`` groups carry a plain ``value`` instead of a factory.

    Attributes:
        name: unique within its group; the name stored in genotypes.
        factory: builds the candidate's module (``None`` for variant candidates).
        value: the construction value handed to ops by a ``VARIANT`` group.
        tags: free-form labels other groups can attach to (e.g. ``"conv"``).
        is_zero: the ``none`` op: contributes nothing, never chosen when deriving.
        parts: for a candidate of a flat twin, the factor choices it fuses, as
            ``(group, candidate)`` pairs; empty for ordinary candidates.
    """

    name: str
    factory: Callable[..., nn.Module] | None = None
    value: Any = None
    tags: frozenset[str] = frozenset()
    is_zero: bool = False
    parts: tuple[tuple[str, str], ...] = ()


class FactorGroup:
    """An ordered set of candidates with its own architecture weights.

    Subclass it or instantiate it directly; register it with
    :func:`factornas.factors.registry.register_group`. Candidates may be added later with
    :meth:`add` (or the :meth:`candidate` decorator) until the group is first used in a space.
    """

    def __init__(
        self,
        name: str,
        *,
        role: Literal["op", "factor"] = "factor",
        placement: Placement | None = None,
        attach_to: Iterable[str] = (),
        scope: Scope = "edge",
        candidates: Iterable[Candidate] = (),
        description: str = "",
    ) -> None:
        if not name or not name.replace("_", "").isalnum():
            raise RegistryError(
                f"factor group name {name!r} is invalid: use letters, digits and underscores"
            )
        if role == "op" and placement is not None:
            raise RegistryError(f"factor group {name!r}: the op group takes no placement")
        if role == "factor" and placement is None:
            raise RegistryError(
                f"factor group {name!r}: give a placement (input, output or variant)"
            )
        if scope not in ("edge", "cell"):
            raise RegistryError(f"factor group {name!r}: scope must be 'edge' or 'cell'")
        self.name = name
        self.role = role
        self.placement = placement
        self.attach_to = frozenset(attach_to)
        if role == "factor" and not self.attach_to:
            raise RegistryError(
                f"factor group {name!r}: say which ops it attaches to (op names or tags)"
            )
        self.scope: Scope = scope
        self.description = description
        self._candidates: dict[str, Candidate] = {}
        for candidate in candidates:
            self.add(candidate)

    # -- candidates -----------------------------------------------------------------------
    def add(self, candidate: Candidate) -> Candidate:
        """Append a candidate; a duplicate name is refused loudly (Archai ignored them)."""
        if candidate.name in self._candidates:
            raise RegistryError(
                f"factor group {self.name!r} already has a candidate {candidate.name!r}: "
                "pick another name or remove the old one first"
            )
        if self.placement is Placement.VARIANT:
            if candidate.factory is not None:
                raise RegistryError(
                    f"candidate {candidate.name!r} of variant group {self.name!r} takes a "
                    "value, not a factory"
                )
        elif candidate.factory is None:
            raise RegistryError(
                f"candidate {candidate.name!r} of group {self.name!r} needs a module factory"
            )
        self._candidates[candidate.name] = candidate
        return candidate

    def candidate(
        self, name: str, *, tags: Iterable[str] = (), is_zero: bool = False
    ) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
        """Decorator form of :meth:`add` for module factories."""

        def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
            self.add(Candidate(name, factory=factory, tags=frozenset(tags), is_zero=is_zero))
            return factory

        return decorate

    @property
    def names(self) -> tuple[str, ...]:
        """Candidate names in their canonical order (the order of the weight vector)."""
        return tuple(self._candidates)

    def __getitem__(self, name: str) -> Candidate:
        try:
            return self._candidates[name]
        except KeyError:
            raise RegistryError(
                f"factor group {self.name!r} has no candidate {name!r}; "
                f"choose from {', '.join(self.names)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._candidates

    def __len__(self) -> int:
        return len(self._candidates)

    def select(self, names: Sequence[str] | None) -> tuple[Candidate, ...]:
        """The candidates named (in the given order), or all of them for ``None``."""
        if names is None:
            chosen = tuple(self._candidates.values())
        else:
            if len(set(names)) != len(names):
                raise RegistryError(f"factor group {self.name!r}: a candidate is listed twice")
            chosen = tuple(self[n] for n in names)
        if not chosen:
            raise RegistryError(
                f"factor group {self.name!r} has no candidates: add at least one "
                "(group.add(...) or @group.candidate(...))"
            )
        return chosen

    # -- attachment -----------------------------------------------------------------------
    def attaches_to(self, op: Candidate) -> bool:
        """Whether this factor acts on ``op`` (matched by op name or by one of its tags)."""
        if self.role == "op" or op.is_zero:
            return False
        return op.name in self.attach_to or bool(op.tags & self.attach_to)

    def mix(self, x: Any, weights: Any, modules: Sequence[nn.Module]) -> Any:
        """Weighted sum of the candidates' outputs for ``INPUT``/``OUTPUT`` groups.

        Groups with a faster exact formulation (the built-in activation group) override this;
        it is the one extension point the supernet calls, so a fused kernel plugs in here.
        """
        out = weights[0] * modules[0](x)
        for w, module in zip(weights[1:], modules[1:], strict=True):
            out = out + w * module(x)
        return out

    def mix_shared(
        self, x: Any, weights: Any, modules: Sequence[Sequence[nn.Module]]
    ) -> Any | None:
        """Optional batched form of :meth:`mix` for k edges that share the input ``x``.

        ``weights`` is ``(k, n)`` (row e: edge e's weights) and ``modules[e]`` edge e's
        candidates. Return the ``(N, k·C, ...)`` tensor whose channel block e is edge e's
        mixture, or None to let the supernet batch the candidates itself (the default: it
        runs each candidate once for all k edges and sums them, which equals :meth:`mix`).
        """
        return None

    def capture_blocker(self, device: torch.device) -> str | None:
        """Why a search step that mixes this group on ``device`` cannot be captured in a CUDA
        graph, or None when it can (the default).

        A capture records the step's kernels once and replays them with every host-side value
        frozen: a group whose :meth:`mix` (or candidates) reads a tensor on the host, takes a
        Python number that changes from step to step, or draws random numbers from anything
        but the device's default generator must say so here, in a phrase that completes
        "cannot be captured: …". The search then steps eagerly and names the group
        (:func:`factornas.search.graphed.graph_blockers`). The built-in groups return None:
        the activation group's fused kernel draws RReLU's noise on a CUDA device itself.
        """
        return None

    def __repr__(self) -> str:
        where = (
            self.role if self.role == "op" else f"{self.placement.value if self.placement else ''}"
        )
        return f"FactorGroup({self.name!r}, {where}, candidates={list(self.names)})"
