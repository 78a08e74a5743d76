"""Applying frozen levels: a fixed choice (``--fix activation=selu``) or a finished run's
weights (``--fix-from RUN_DIR:activation``, the paper's Config-A).

A frozen group mixes its candidates by the saved weights as a softmax would, so they must be
one distribution per edge. A run that relaxed the group otherwise (FairDARTS's independent
sigmoids) saved weights that are not: such a run is refused naming its relaxation, before its
weights are compared with this space's.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from factornas.errors import FactorNASError, reading
from factornas.relaxations.registry import RELAXATIONS
from factornas.runtime.rundir import ARCH_WEIGHTS, CONFIG
from factornas.search.config import RelaxationSpec, SearchConfig
from factornas.supernet.network import SearchNetwork


def read_arch_weights(run_dir: Path) -> dict[str, dict[str, list[list[float]]]]:
    """The final softmaxed weights a finished search wrote (``arch_weights.json``)."""
    path = Path(run_dir) / ARCH_WEIGHTS
    try:
        data = path.read_bytes()
    except OSError:
        raise FactorNASError(
            f"{path} not found: --fix-from needs the directory of a finished factornas search"
        ) from None
    with reading(path, "architecture weights"):
        try:
            return json.loads(data)
        except json.JSONDecodeError as error:
            raise FactorNASError(
                f"{path} is not valid JSON ({error.msg}): rerun that search"
            ) from None


def apply_frozen_levels(network: SearchNetwork, config: SearchConfig) -> None:
    """Freeze every level the config marks frozen, before optimizers are built."""
    for level in config.levels:
        if level.frozen is None:
            continue
        if level.frozen.choice is not None:
            network.arch.freeze_choice(level.group, level.frozen.choice)
            continue
        assert level.frozen.from_run is not None
        saved = read_arch_weights(level.frozen.from_run)
        _check_distributions(level.frozen.from_run, level.group)
        weights = {
            cell_type: _saved_rows(saved, level.frozen.from_run, cell_type, level.group)
            for cell_type in network.space.cell_types
        }
        network.arch.freeze(level.group, weights)


def _saved_relaxation(run_dir: Path, group: str) -> str | None:
    """The relaxation the search in ``run_dir`` learned ``group`` with (its config's level, or
    the default), or None when its config does not say (unreadable, or the group frozen
    there: its weights then came from elsewhere)."""
    try:
        config = json.loads((Path(run_dir) / CONFIG).read_text())
    except (OSError, RecursionError, ValueError):
        return None
    levels = config.get("levels", []) if isinstance(config, dict) else None
    if not isinstance(levels, list):
        return None
    for level in levels:
        if isinstance(level, dict) and level.get("group") == group:
            relaxation = level.get("relaxation")
            name = relaxation.get("name") if isinstance(relaxation, dict) else None
            return name if isinstance(name, str) and not level.get("frozen") else None
    return RelaxationSpec().name


def _check_distributions(run_dir: Path, group: str) -> None:
    """Refuse a run whose relaxation of ``group`` saved weights that need not sum to one."""
    name = _saved_relaxation(run_dir, group)
    if name is None or name not in RELAXATIONS or RELAXATIONS.get(name).simplex:
        return
    *others, last = sorted(n for n, cls in RELAXATIONS.items() if cls.simplex)
    simplex = f"{', '.join(others)} or {last}" if others else last
    raise FactorNASError(
        f"{run_dir} searched {group!r} with the {name} relaxation, whose weights need not sum "
        f"to one per edge as a frozen group's must: take {group!r} from a search with the "
        f"{simplex} relaxation, or fix one candidate (--fix {group}=NAME)"
    )


def _saved_rows(saved: object, run_dir: Path, cell_type: str, group: str) -> torch.Tensor:
    """``saved[cell_type][group]`` as an edges × candidates tensor, or a one-line error."""
    path = Path(run_dir) / ARCH_WEIGHTS
    cell = saved.get(cell_type) if isinstance(saved, dict) else None
    rows = cell.get(group) if isinstance(cell, dict) else None
    if rows is None:
        if isinstance(saved, dict) and (cell is None or isinstance(cell, dict)):
            raise FactorNASError(
                f"{run_dir} has no weights for group {group!r} in {cell_type} cells: it "
                "searched a different space"
            )
    else:
        try:
            tensor = torch.tensor(rows, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            tensor = None
        if tensor is not None and tensor.ndim == 2:
            return tensor
    raise FactorNASError(
        f"{path} is malformed at {cell_type}.{group} (expected {{cell type: {{group: one row of "
        "weights per edge}}): rerun that search"
    )
