"""Config files: reading, merging, validating and writing search and retraining configs.

A config file is the :class:`~factornas.search.config.SearchConfig` (or
:class:`~factornas.evaluate.config.RetrainConfig`) as TOML or JSON, complete or partial: it
amends a base (a preset, or the model's defaults), and flags amend the file. Tables merge key
by key; lists (``levels``, a cell's groups) replace the base's whole, because merging them
element-wise would silently combine two different spaces.

TOML has no null: a setting that is ``None`` is left out of a written TOML file, which reads
back as the model's default. The only settings whose default is not ``None`` but that can be
turned off, the ``grad_clip`` s, are written as ``grad_clip = false`` (which the models accept
as "no clipping"). Written TOML therefore reads back to the same config, exactly.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from factornas.errors import FactorNASError, problem_text, reading

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

FORMATS = {".toml": "toml", ".json": "json"}

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(FactorNASError):
    """A config file is missing, unreadable, malformed or invalid."""


def file_format(path: Path) -> str:
    """``toml`` or ``json`` from the suffix; anything else is refused, listing the choices."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ConfigFileError(
            f"{path}: unknown config file type {path.suffix or '(no suffix)'!r}; use "
            f"{' or '.join(FORMATS)}"
        ) from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The table a config file holds; a syntax error names the file, line and column."""
    path = Path(path)
    kind = file_format(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"{path}: cannot read it ({error})") from None
    with reading(path, f"a {kind.upper()} config"):
        try:
            data = tomllib.loads(text) if kind == "toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
            raise ConfigFileError(f"{path}: not valid {kind.upper()}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a table of settings, got {type(data).__name__}")
    return data


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` amended by ``update``: tables merge recursively, everything else replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _field_path(loc: Sequence[int | str], raw: Any) -> str:
    """A pydantic error location as a dotted path, list items named by their ``group``
    (``levels.activation.optimizer.lr`` rather than ``levels.1.optimizer.lr``)."""
    parts, node = [], raw
    for key in loc:
        item = None
        if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
            item = node[key]
        elif isinstance(key, str) and isinstance(node, dict):
            item = node.get(key)
        group = item.get("group") if isinstance(item, dict) and isinstance(key, int) else None
        parts.append(group if isinstance(group, str) else str(key))
        node = item
    return ".".join(parts)


def validate(model: type[M], raw: dict[str, Any], source: str) -> M:
    """``raw`` as a ``model``; the first error is one line naming ``source`` and the field."""
    with reading(source, "config"):
        raw = _nulls_from_toml(raw, model)
        try:
            return model.model_validate(raw)
        except ValidationError as error:
            errors = error.errors()
            first = errors[0]
            where = _field_path(first["loc"], raw) or "config"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ConfigFileError(f"{source}: {where}: {problem_text(first)}{more}") from None


# -- writing -----------------------------------------------------------------------------
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes, plus DEL, which TOML forbids raw and JSON keeps."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    """A TOML scalar or inline array."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(data: dict[str, Any], prefix: str, lines: list[str]) -> None:
    """Plain keys first, then sub-tables and arrays of tables (TOML's required order)."""
    for key, value in data.items():
        if value is not None and not isinstance(value, dict) and not _is_tables(value):
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in data.items():
        name = f"{prefix}{_key(key)}"
        if isinstance(value, dict):
            lines.extend(["", f"[{name}]"])
            _table(value, f"{name}.", lines)
        elif _is_tables(value):
            for item in value:
                lines.extend(["", f"[[{name}]]"])
                _table(item, f"{name}.", lines)


def to_toml(data: dict[str, Any]) -> str:
    """``data`` (JSON-like: tables, lists, scalars; ``None`` left out) as a TOML document."""
    lines: list[str] = []
    _table(data, "", lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def dump_config(config: BaseModel, kind: str, extra: dict[str, Any] | None = None) -> str:
    """``config`` (plus ``extra`` top-level keys such as ``plugins``) as ``kind`` text that
    :func:`read_config_file` and :func:`validate` turn back into an equal config."""
    data = {**(extra or {}), **config.model_dump(mode="json")}
    if kind == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return to_toml(_nulls_for_toml(data, type(config)))


def _switchable(model: type[BaseModel]) -> list[str]:
    """Top-level settings that may be ``None`` but default to something else (``grad_clip``):
    in TOML, ``false`` stands for their ``None``."""
    return [
        name
        for name, field in model.model_fields.items()
        if field.default is not None and type(None) in get_args(field.annotation)
    ]


def _nulls_for_toml(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    return {k: False if v is None and k in _switchable(model) else v for k, v in data.items()}


def _nulls_from_toml(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    return {k: None if v is False and k in _switchable(model) else v for k, v in data.items()}
