"""Architecture weights as registered parameters, keyed by cell type and factor group.

Reference DARTS kept α as bare tensors: never checkpointed, never replicated by DataParallel.
Here every searched group of every cell type is an ``nn.Parameter`` inside this module, so it
lands in ``state_dict`` and is reachable grouped by factor for the N-level optimizer.
A group can be *frozen* to given weights (a fixed one-hot choice, or the softmax of a finished
run's weights — the paper's Config-A); frozen weights are buffers, so they are saved too.
Under PC-DARTS's edge normalization each cell type also has one weight per edge, trained in
the op group's level (as PC-DARTS trains them with α; docs/pc-darts.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import cast

import torch
from torch import nn

from factornas.errors import SpaceError
from factornas.relaxations.groups import GroupRelaxations
from factornas.space.config import CellType, SearchSpace


def _fixed_name(cell_type: str, group: str) -> str:
    return f"fixed__{cell_type}__{group}"


def _mask_name(cell_type: str, group: str) -> str:
    return f"mask__{cell_type}__{group}"


class ArchitectureParameters(nn.Module):
    """All architecture weights of a search network.

    ``params[cell_type][group]`` has shape ``(num_edges, n)`` for edge-scoped groups and
    ``(1, n)`` for cell-scoped ones; single-candidate groups have no parameter at all.
    ``edge_norm[cell_type]`` has shape ``(num_edges,)`` when the space normalizes edges.
    """

    def __init__(
        self,
        space: SearchSpace,
        num_edges: int,
        init_std: float = 1e-3,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.space = space
        self.num_edges = num_edges
        self.params = nn.ModuleDict()
        for cell_type in space.cell_types:
            group_params = nn.ParameterDict()
            for factor in space.cell(cell_type).groups():
                if not factor.searched:
                    continue
                rows = num_edges if factor.group.scope == "edge" else 1
                init = init_std * torch.randn(rows, len(factor.candidates), generator=generator)
                group_params[factor.name] = nn.Parameter(init)
            self.params[cell_type] = group_params
        # Drawn after every α/β, so spaces without edge normalization initialize as before.
        self.edge_norm = nn.ParameterDict()
        if space.edge_normalization:
            for cell_type in space.cell_types:
                init = init_std * torch.randn(num_edges, generator=generator)
                self.edge_norm[cell_type] = nn.Parameter(init)
        self._frozen: set[tuple[str, str]] = set()
        #: Groups whose candidates can be pruned per edge (a progressive search's op group).
        self._prunable: set[str] = set()
        #: How each group's parameters become weights (softmax unless a config says otherwise).
        self.relaxations = GroupRelaxations()

    # -- access ---------------------------------------------------------------------------
    def _group_params(self, cell_type: CellType) -> nn.ParameterDict:
        """``cell_type``'s parameters by group (typed: ``ModuleDict`` indexing yields Module)."""
        return cast(nn.ParameterDict, self.params[cell_type])

    def parameter(self, cell_type: CellType, group: str) -> nn.Parameter:
        try:
            return self._group_params(cell_type)[group]
        except KeyError:
            raise SpaceError(
                f"no architecture weights for group {group!r} in {cell_type} cells; "
                f"searched groups: {', '.join(self.group_names()) or '(none)'}"
            ) from None

    def group_names(self) -> tuple[str, ...]:
        """Searched groups in space order (the union over cell types)."""
        names: list[str] = []
        for cell_type in self.space.cell_types:
            for name in self._group_params(cell_type):
                if name not in names:
                    names.append(name)
        return tuple(names)

    def by_group(self) -> dict[str, list[nn.Parameter]]:
        """Group name → its parameters over all cell types: one optimizer level each.

        Edge-normalization weights join their cell type's op group, so they step with α from
        the same validation pass and optimizer, as in PC-DARTS.
        """
        grouped: dict[str, list[nn.Parameter]] = {name: [] for name in self.group_names()}
        for cell_type in self.space.cell_types:
            for name, param in self._group_params(cell_type).items():
                grouped[name].append(param)
            if cell_type in self.edge_norm:
                grouped[self.space.cell(cell_type).op.name].append(self.edge_norm[cell_type])
        return grouped

    def count(self) -> int:
        """Number of scalar architecture parameters (224 DARTS, 476 A-DARTS, 252 PC-DARTS)."""
        return sum(p.numel() for p in self.parameters())

    # -- weights --------------------------------------------------------------------------
    def weights(self, cell_type: CellType) -> dict[str, torch.Tensor]:
        """The forward pass's (or frozen) weights per searched group, shape ``(num_edges, n)``:
        each group's relaxation of its parameters (a softmax by default; sampled ones draw
        anew on every call in training mode)."""
        return self._relaxed(
            cell_type,
            lambda group, param, training: self.relaxations.weights(
                cell_type, group, param, training
            ),
            self.training,
        )

    def strengths(self, cell_type: CellType) -> dict[str, torch.Tensor]:
        """Deterministic weights per searched group to derive a genotype from and to record
        (the softmax for softmax and gumbel groups, the Dirichlet mean, the sigmoids)."""
        return self._relaxed(
            cell_type, lambda group, param, _: self.relaxations.strengths(group, param), False
        )

    def _relaxed(
        self,
        cell_type: CellType,
        relax: Callable[[str, torch.Tensor, bool], torch.Tensor],
        training: bool,
    ) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, param in self._group_params(cell_type).items():
            if (cell_type, name) in self._frozen:
                w = getattr(self, _fixed_name(cell_type, name))
            else:
                w = relax(name, param, training)
                if name in self._prunable:
                    # DrNAS's process_step_vector: pruned candidates weigh exactly 0 and each
                    # edge's kept weights are renormalized to sum to one.
                    w = w * getattr(self, _mask_name(cell_type, name))
                    w = w / w.sum(dim=-1, keepdim=True)
            out[name] = w.expand(self.num_edges, -1) if w.shape[0] == 1 else w
        return out

    # -- pruning (progressive search) ----------------------------------------------------
    def make_prunable(self, group: str) -> None:
        """Give ``group`` a keep-mask per cell type (all kept), saved with the network: a
        progressive search prunes it between stages (:meth:`prune`)."""
        for cell_type in self.space.cell_types:
            param = self.parameter(cell_type, group)
            self.register_buffer(_mask_name(cell_type, group), torch.ones_like(param.detach()))
        self._prunable.add(group)

    def prune(self, group: str, keep: int) -> None:
        """Keep each edge's ``keep`` candidates of ``group`` with the largest parameters
        (among those still kept), as DrNAS's ``utils.prune``: the kept parameters keep their
        values, the others become 0 and weigh nothing from now on."""
        if group not in self._prunable:
            raise SpaceError(f"group {group!r} was not made prunable before pruning it")
        with torch.no_grad():
            for cell_type in self.space.cell_types:
                param = self.parameter(cell_type, group)
                mask = getattr(self, _mask_name(cell_type, group))
                if keep > param.shape[-1]:
                    raise SpaceError(
                        f"cannot keep {keep} of the {param.shape[-1]} candidates of {group!r}"
                    )
                ranked = torch.where(mask.bool(), param, param - 1e6)  # pruned ones rank last
                index = ranked.topk(keep, dim=-1).indices
                kept = torch.zeros_like(mask).scatter_(-1, index, 1.0)
                param.copy_(param * kept)
                mask.copy_(kept)

    def kept(self, cell_type: CellType, group: str) -> torch.Tensor | None:
        """``group``'s keep-mask in ``cell_type`` cells (None: the group is never pruned)."""
        if group not in self._prunable:
            return None
        return cast(torch.Tensor, getattr(self, _mask_name(cell_type, group)))

    def loss_terms(self, groups: Iterable[str]) -> torch.Tensor | None:
        """The relaxations' and stabilizers' validation-loss terms of ``groups`` (None when
        they have none); each group's term sees its parameters of every cell type at once."""
        total: torch.Tensor | None = None
        for group in groups:
            params = [
                self._group_params(cell_type)[group]
                for cell_type in self.space.cell_types
                if group in self._group_params(cell_type) and (cell_type, group) not in self._frozen
            ]
            term = self.relaxations.loss(group, params)
            if term is not None:
                total = term if total is None else total + term
        return total

    def edge_scales(self) -> dict[CellType, torch.Tensor] | None:
        """Edge-normalization weights per cell type, softmaxed over each node's incoming edges
        (shape ``(num_edges,)``, supernet edge order); ``None`` when the space has none."""
        if not self.edge_norm:
            return None
        sizes = [i + 2 for i in range(self.space.topology.steps)]
        return {
            cell_type: torch.cat(
                [torch.softmax(node, dim=0) for node in self.edge_norm[cell_type].split(sizes)]
            )
            for cell_type in self.space.cell_types
        }

    def freeze(self, group: str, weights: Mapping[CellType, torch.Tensor]) -> None:
        """Fix ``group`` to the given weights per cell type (rows sum to one)."""
        for cell_type, value in weights.items():
            param = self.parameter(cell_type, group)
            value = torch.as_tensor(value, dtype=param.dtype).to(param.device)
            if value.shape != param.shape:
                raise SpaceError(
                    f"frozen weights of {group!r} in {cell_type} cells have shape "
                    f"{tuple(value.shape)}, expected {tuple(param.shape)}"
                )
            if not torch.allclose(value.sum(-1), torch.ones(()), atol=1e-4):
                raise SpaceError(f"frozen weights of {group!r} must sum to one per edge")
            param.requires_grad_(False)
            name = _fixed_name(cell_type, group)
            if hasattr(self, name):
                getattr(self, name).copy_(value)
            else:
                self.register_buffer(name, value.clone())
            self._frozen.add((cell_type, group))

    def freeze_choice(self, group: str, candidate: str) -> None:
        """Fix ``group`` to one candidate on every edge of every cell type (one-hot)."""
        found = False
        for cell_type in self.space.cell_types:
            names = {f.name: f.names for f in self.space.cell(cell_type).groups()}
            if group not in names or group not in self._group_params(cell_type):
                continue
            if candidate not in names[group]:
                raise SpaceError(
                    f"group {group!r} has no candidate {candidate!r}; "
                    f"choose from {', '.join(names[group])}"
                )
            resolved = {f.name: f for f in self.space.cell(cell_type).groups()}[group]
            if resolved.candidates[names[group].index(candidate)].is_zero:
                raise SpaceError(
                    f"{group}={candidate} puts the zero op on every edge, so every cell outputs "
                    "zeros and no architecture is left to search: fix another candidate"
                )
            param = self._group_params(cell_type)[group]
            one_hot = torch.zeros_like(param)
            one_hot[:, names[group].index(candidate)] = 1.0
            self.freeze(group, {cell_type: one_hot})
            found = True
        if not found:
            raise SpaceError(
                f"cannot fix {group!r}: it is not a searched group; searched groups: "
                f"{', '.join(self.group_names())}"
            )

    def frozen_groups(self) -> set[str]:
        return {group for _, group in self._frozen}
