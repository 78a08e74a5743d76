"""Where a genotype to retrain comes from: a published name, a genotype file or a search run.

Users hand ``--genotype`` whatever they have: ``darts_v2``, ``runs/s1/genotype.json`` or just
``runs/s1``. A search run directory also records whether its space switched the activation
inside ``sep_conv`` to the searched one (``space.inner_group`` in its ``config.json``); the
retrained network must make the same switch, or it is not the architecture that was searched.
Its data config says which images the genotype was searched on: ``build_model`` sizes the
network's stem to their channels (one for Fashion-MNIST) unless told otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from factornas.data.config import DataConfig
from factornas.data.registry import dataset_spec
from factornas.errors import GenotypeError, first_problem
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
    #: The search run directory that holds the genotype beside its ``config.json``, if any.
    run_dir: Path | None = None


def _run_config(run_dir: Path) -> dict[str, Any]:
    """The search config a run directory records, as raw data; ``{}`` without a readable one
    (a genotype file alone has no run to take settings from)."""
    path = run_dir / SEARCH_CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, RecursionError, ValueError):  # not a run's config: nothing to take
        return {}
    return config if isinstance(config, dict) else {}


def _run_inner_group(run_dir: Path) -> str | None:
    """``space.inner_group`` of the search whose run directory holds the genotype, if any."""
    space = _run_config(run_dir).get("space")
    inner = space.get("inner_group") if isinstance(space, dict) else None
    return inner if isinstance(inner, str) else None


@dataclass(frozen=True)
class RunImages:
    """What the images a search read were: the shape and classes a network built from its
    genotype takes by default (a Fashion-MNIST search's network reads 1×28×28 images)."""

    channels: int
    side: int
    classes: int
    #: The network kind the search's supernet stood for (its stem): ``cifar`` or ``imagenet``.
    network: str


def run_images(run_dir: Path) -> RunImages | None:
    """The images the search in ``run_dir`` read, or None when it records no data config.

    Raises:
        GenotypeError: the recorded data config does not validate here, e.g. a plug-in's
            dataset whose plug-in is not imported (one line, saying to pass the shape).
    """
    data = _run_config(run_dir).get("data")
    if not isinstance(data, dict):
        return None
    try:
        config = DataConfig.model_validate(data)
    except ValidationError as error:
        where, message = first_problem(error, "data")
        raise GenotypeError(
            f"{run_dir / SEARCH_CONFIG_FILE}: data.{where}: {message}; give in_channels to "
            "build the network anyway"
        ) from None
    spec = dataset_spec(config.dataset)
    channels, side = spec.input_shape(config)
    stem = _run_config(run_dir).get("stem", "cifar")
    return RunImages(channels, side, spec.classes, stem if isinstance(stem, str) else "cifar")


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
    run_dir = path.parent if (path.parent / SEARCH_CONFIG_FILE).is_file() else None
    return GenotypeSource(
        genotype, origin=str(path), inner_group=_run_inner_group(path.parent), run_dir=run_dir
    )
