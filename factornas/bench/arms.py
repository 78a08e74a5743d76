"""The arms of a comparison: a factorized space, its flat twin, and fixed-factor baselines.

Every arm is derived from the one space named on the command line, never written by hand, so
all arms hold comparable architectures (docs/design-decisions.md, "Flat twin"):

* the **space** itself (e.g. ``adarts``: α over ops, β over activations);
* ``flat``: its flat twin, one α over every (op × factor choices) combination;
* ``GROUP=CANDIDATE`` (or just ``CANDIDATE`` when one factor group has it, e.g. ``relu``): the
  space with that factor restricted to one candidate, as a search "with a fixed activation"
  (paper, Table 2), under the same (A-DARTS's) settings as every arm. For ``adarts``, ``relu``
  is the ``adarts_relu`` preset: DARTS's space searched the A-DARTS way, not DARTS's protocol.

A fixed-factor arm *restricts* the group instead of freezing it one-hot (``--fix
activation=selu``): both search the same architectures with the same forward function (a
one-hot mixture of activations is that activation), but a frozen level still evaluates all
nine activations on every edge, so its step would cost what the factorized space costs. The
restricted space costs what a fixed-activation DARTS costs, which is what the cost column is
meant to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from factornas.errors import FactorNASError, first_problem
from factornas.presets.spaces import space_preset
from factornas.space.config import GroupSpec, SearchSpace

ArmKind = Literal["factorized", "flat", "fixed"]
FLAT = "flat"


@dataclass(frozen=True)
class Arm:
    """One arm: its key (directory name and table row), its space, and what it searches."""

    key: str
    kind: ArmKind
    space: SearchSpace
    description: str
    searched_factors: tuple[str, ...]
    """Factor groups (besides the op) whose choice this arm searches; the others are fixed."""


def _searched_factors(space: SearchSpace) -> tuple[str, ...]:
    """Non-op groups with more than one candidate in some cell type, in space order."""
    names: list[str] = []
    for cell_type in space.cell_types:
        for factor in space.cell(cell_type).factors:
            if factor.searched and factor.name not in names:
                names.append(factor.name)
    return tuple(names)


def factor_groups(space: SearchSpace) -> tuple[str, ...]:
    """Every non-op group of the space, searched or not, in space order."""
    names: list[str] = []
    for cell_type in space.cell_types:
        for factor in space.cell(cell_type).factors:
            if factor.name not in names:
                names.append(factor.name)
    return tuple(names)


def _fixed_target(space: SearchSpace, token: str) -> tuple[str, str]:
    """(group, candidate) named by ``GROUP=CANDIDATE`` or by a candidate of one searched group."""
    searched = {
        f.name: f.names for ct in space.cell_types for f in space.cell(ct).factors if f.searched
    }
    choices = ", ".join(f"{g}={c}" for g, names in searched.items() for c in names)
    group, sep, candidate = token.partition("=")
    if sep:
        if group not in searched or candidate not in searched[group]:
            raise FactorNASError(
                f"baseline {token!r} does not name a searched factor group and one of its "
                f"candidates in space {space.name!r}; choose from: flat, {choices}"
            )
        return group, candidate
    owners = [g for g, names in searched.items() if token in names]
    if len(owners) != 1:
        why = "no searched factor group has it" if not owners else "several groups have it"
        raise FactorNASError(
            f"baseline {token!r}: {why} in space {space.name!r}; use flat or GROUP=CANDIDATE, "
            f"one of: {choices}"
        )
    return owners[0], token


def _restricted(space: SearchSpace, group: str, candidate: str) -> SearchSpace:
    """``space`` with ``group`` offering only ``candidate`` in every cell type."""

    def specs(groups: tuple[GroupSpec, ...]) -> tuple[GroupSpec, ...]:
        return tuple(
            GroupSpec(group=g.group, candidates=(candidate,)) if g.group == group else g
            for g in groups
        )

    raw = space.model_dump()
    raw["normal"] = specs(space.normal)
    raw["reduce"] = None if space.reduce is None else specs(space.reduce)
    raw["name"] = f"{space.name}[{group}={candidate}]"
    try:
        return SearchSpace.model_validate(raw)
    except ValidationError as error:
        _, message = first_problem(error, "space")
        raise FactorNASError(
            f"cannot fix {group}={candidate} in space {space.name!r}: {message}"
        ) from None


def build_arms(space_name: str, baselines: tuple[str, ...]) -> list[Arm]:
    """The space's arm followed by one arm per baseline token, in the order given."""
    space = space_preset(space_name)
    if space.flat:
        raise FactorNASError(
            f"space {space_name!r} is already flat: compare the factorized space it twins"
        )
    if not _searched_factors(space):
        raise FactorNASError(
            f"space {space_name!r} is not factorized (it searches the op alone), so it has no "
            "flat twin or fixed-factor baseline to compare with: use e.g. --space adarts"
        )
    arms = [
        Arm(
            space_name,
            "factorized",
            space,
            "factorized: " + " × ".join(g.name for g in space.cell("normal").groups()),
            _searched_factors(space),
        )
    ]
    for token in baselines:
        if token == FLAT:
            twin = space.flat_twin()
            count = len(twin.cell("normal").op.candidates)
            arms.append(
                Arm(
                    FLAT,
                    "flat",
                    twin,
                    f"flat twin: {count} ops under one α",
                    _searched_factors(space),
                )
            )
            continue
        group, candidate = _fixed_target(space, token)
        fixed = _restricted(space, group, candidate)
        arms.append(
            Arm(
                f"{group}={candidate}",
                "fixed",
                fixed,
                f"{space_name}'s search with {group} fixed to {candidate}",
                _searched_factors(fixed),
            )
        )
    keys = [arm.key for arm in arms]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise FactorNASError(f"baseline listed twice: {', '.join(duplicates)}")
    return arms
