"""What ``docs/presets.md`` must say about a preset, and how to read what it says.

Every preset's table lists a fixed set of settings (the protocol a reference script fixes)
plus every setting of its levels, stages and stabilizers, each with its value in a canonical
text form (:func:`render`) and a non-empty source. The test compares the tables with the code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from factornas.relaxations import build_relaxation, build_stabilizer
from factornas.search.config import LevelConfig, SearchConfig

#: Settings every table lists, in this order.
ALWAYS = (
    "space.name",
    "ops",
    "factors",
    "space.partial_channels",
    "space.edge_normalization",
    "stem",
    "channels",
    "layers",
    "data.dataset",
    "data.train_portion",
    "batch_size",
    "epochs",
    "seed",
    "weights_optimizer.kind",
    "weights_optimizer.lr",
    "weights_optimizer.lr_min",
    "weights_optimizer.schedule",
    "weights_optimizer.scheduler_step",
    "weights_optimizer.lr_warmup_epochs",
    "weights_optimizer.lr_warmup_mode",
    "weights_optimizer.momentum",
    "weights_optimizer.nesterov",
    "weights_optimizer.weight_decay",
    "grad_clip",
    "arch_optimizer.kind",
    "arch_optimizer.lr",
    "arch_optimizer.betas",
    "arch_optimizer.weight_decay",
    "arch_init_std",
    "arch_warmup_epochs",
    "schedule",
    "step_order",
    "order",
    "derivation.rule",
)
_LEVEL_DEFAULTS = LevelConfig(group="_").model_dump(mode="json")


def render(value: Any) -> str:
    """The canonical text of a setting's value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, list | tuple):
        return "(" + ", ".join(render(v) for v in value) + ")"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {render(v)}" for k, v in value.items())
    return str(value)


def _leaves(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(f"{prefix}.{key}", item)
    else:
        yield prefix, value


def _path(dump: dict[str, Any], key: str) -> Any:
    value: Any = dump
    for part in key.split("."):
        value = value[part]
    return value


def documented_settings(config: SearchConfig) -> dict[str, Any]:
    """Every setting a preset's table must list, with its value."""
    dump = config.model_dump(mode="json")
    cell = config.space.cell("normal")
    out: dict[str, Any] = {}
    for key in ALWAYS:
        if key == "ops":
            out[key] = cell.op.names
        elif key == "factors":
            out[key] = {f.name: f.names for f in cell.factors}
        else:
            out[key] = _path(dump, key)
    if config.derivation.rule == "threshold":
        out["derivation.threshold"] = config.derivation.threshold
    for level in dump["levels"]:
        group = level["group"]
        relaxation = build_relaxation(level["relaxation"]["name"], level["relaxation"]["options"])
        out[f"levels.{group}.relaxation.name"] = relaxation.name
        for name, value in relaxation.options.model_dump(mode="json").items():
            out[f"levels.{group}.relaxation.options.{name}"] = value
        for spec in level["stabilizers"]:
            stabilizer = build_stabilizer(spec["name"], spec["options"])
            for name, value in stabilizer.options.model_dump(mode="json").items():
                out[f"levels.{group}.stabilizers.{spec['name']}.{name}"] = value
        for field in ("warmup_epochs", "period", "optimizer", "frozen"):
            if level[field] != _LEVEL_DEFAULTS[field]:
                out.update(_leaves(f"levels.{group}.{field}", level[field]))
    for index, stage in enumerate(dump["stages"]):
        out.update(_leaves(f"stages.{index}", stage))
    for field in ("skip_guard", "skip_dropout"):
        if dump[field] is not None:
            out.update(_leaves(field, dump[field]))
    return out


_SECTION = re.compile(r"^## `(?P<name>[a-z0-9_]+)`\s*$")
_ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| `(?P<value>[^`]*)` \| (?P<source>.*?) \|\s*$")


def parse_tables(markdown: str) -> dict[str, dict[str, tuple[str, str]]]:
    """Preset name → setting → (value text, source), from the ``## `name``` sections."""
    tables: dict[str, dict[str, tuple[str, str]]] = {}
    current: dict[str, tuple[str, str]] | None = None
    for line in markdown.splitlines():
        section = _SECTION.match(line)
        if section:
            current = tables.setdefault(section["name"], {})
            continue
        if line.startswith("## "):
            current = None
            continue
        row = _ROW.match(line)
        if row and current is not None:
            current[row["key"]] = (row["value"], row["source"].strip())
    return tables
