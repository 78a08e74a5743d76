"""Where a genotype to retrain comes from: a published name, a genotype file or a search run.

Users hand ``--genotype`` whatever they have: ``darts_v2``, ``runs/s1/genotype.json`` or just
``runs/s1``. A search run directory also records whether its space switched the activation
inside ``sep_conv`` to the searched one (``space.inner_group`` in its ``config.json``); the
retrained network must make the same switch, or it is not the architecture that was searched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from factornas.errors import GenotypeError
from factornas.presets.published import PUBLISHED, published_genotype
from factornas.space.genotype import Genotype

GENOTYPE_FILE = "genotype.json"
SEARCH_CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class GenotypeSource:
    """A loaded genotype, where it came from, and the run's inner-activation switch."""

    genotype: Genotype
    origin: str
    inner_group: str | None = None


def _run_inner_group(run_dir: Path) -> str | None:
    """``space.inner_group`` of the search whose run directory holds the genotype, if any."""
    path = run_dir / SEARCH_CONFIG_FILE
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, RecursionError, ValueError):  # not a run's config: no switch to make
        return None
    space = config.get("space") if isinstance(config, dict) else None
    inner = space.get("inner_group") if isinstance(space, dict) else None
    return inner if isinstance(inner, str) else None


def load_genotype(spec: str) -> GenotypeSource:
    """Resolve ``spec``: a published name, a genotype JSON file, or a run directory.

    Raises:
        GenotypeError: nothing by that name or path, or a malformed file (one line, naming it).
    """
    if spec in PUBLISHED:
        return GenotypeSource(published_genotype(spec), origin=spec)
    path = Path(spec)
    if path.is_dir():
        path = path / GENOTYPE_FILE
        if not path.is_file():
            raise GenotypeError(f"{spec} is a directory without a {GENOTYPE_FILE}")
    elif not path.exists():
        raise GenotypeError(
            f"no genotype file {spec!r} and no published genotype of that name; published: "
            f"{', '.join(PUBLISHED)}"
        )
    genotype = Genotype.load(path)
    return GenotypeSource(genotype, origin=str(path), inner_group=_run_inner_group(path.parent))
