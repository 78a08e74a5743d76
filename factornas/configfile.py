"""Config files: reading, merging, validating and writing search and retraining configs.

A config file is the :class:`~factornas.search.config.SearchConfig` (or
:class:`~factornas.evaluate.config.RetrainConfig`) as TOML, JSON or YAML, complete or partial: it
amends a base (a preset, or the model's defaults), and flags amend the file. Tables merge key
by key; lists (``levels``, a cell's groups) replace the base's whole, because merging them
element-wise would silently combine two different spaces.

TOML has no null: a setting that is ``None`` is left out of a written TOML file, which reads
back as the model's default. The only settings whose default is not ``None`` but that can be
turned off, the ``grad_clip`` s, are written as ``grad_clip = false`` (which the models accept
as "no clipping"). Written TOML therefore reads back to the same config, exactly.

YAML needs the optional PyYAML (``pip install 'factornas[yaml]'``) and is read with its safe
loader only: a config is plain data, so a tag that would construct a Python object
(``!!python/object``) is refused, as is a key given twice (which PyYAML alone would let the
last one win, where TOML refuses it).
"""

from __future__ import annotations

import difflib
import io
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from factornas.errors import FactorNASError, problem_text, reading

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

FORMATS = {".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
#: What ``--print-config`` can write.
KINDS = ("toml", "json", "yaml")
YAML_INSTALL_HINT = "pip install 'factornas[yaml]'"
#: Tags of PyYAML's unsafe loaders, which build Python objects (and can run code).
_PYTHON_TAG = "tag:yaml.org,2002:python/"
#: Long enough that PyYAML never folds a setting's string over lines.
_YAML_WIDTH = 10_000

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(FactorNASError):
    """A config file is missing, unreadable, malformed or invalid."""


def file_format(path: Path) -> str:
    """``toml``, ``json`` or ``yaml`` from the suffix; anything else is refused, listing the
    choices."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        *first, last = FORMATS
        raise ConfigFileError(
            f"{path}: unknown config file type {path.suffix or '(no suffix)'!r}; use "
            f"{', '.join(first)} or {last}"
        ) from None


def _yaml(doing: str, path: Path | None = None) -> Any:
    """PyYAML, or one line saying how to install it (it is an optional extra)."""
    try:
        import yaml
    except ImportError:
        where = f"{path}: " if path is not None else ""
        raise ConfigFileError(
            f"{where}{doing} YAML configs needs PyYAML: {YAML_INSTALL_HINT}"
        ) from None
    return yaml


def _at(mark: Any) -> str:
    """A YAML mark (0-based) as TOML's error position reads (1-based)."""
    return f"at line {mark.line + 1}, column {mark.column + 1}"


def _check_yaml_nodes(root: Any, yaml: Any, path: Path) -> None:
    """Refuse what a safe load would let through silently (a repeated key) or word poorly
    (a Python tag), walking the composed document once (shared aliases once too)."""
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag.startswith(_PYTHON_TAG):
            tag = "!!" + node.tag.removeprefix("tag:yaml.org,2002:")
            raise ConfigFileError(
                f"{path}: the YAML tag {tag} ({_at(node.start_mark)}) builds a Python object; "
                "a config file holds plain settings only"
            )
        if isinstance(node, yaml.MappingNode):
            keys: set[tuple[str, str]] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if (key.tag, key.value) in keys:
                        raise ConfigFileError(
                            f"{path}: not valid YAML: key {key.value!r} given twice "
                            f"({_at(key.start_mark)})"
                        )
                    keys.add((key.tag, key.value))
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _load_yaml(text: str, path: Path) -> Any:
    """The data of a YAML document, through PyYAML's safe loader only; an empty file is an
    empty table, as in TOML."""
    yaml = _yaml("reading", path)
    try:
        _check_yaml_nodes(yaml.compose(text, Loader=yaml.SafeLoader), yaml, path)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        where = f" ({_at(error.problem_mark)})" if error.problem_mark is not None else ""
        problem = error.problem or error.context or type(error).__name__
        if error.context and problem.startswith("but "):  # "expected one document but found…"
            problem = f"{error.context} {problem}"
        raise ConfigFileError(f"{path}: not valid YAML: {problem}{where}") from None
    except yaml.YAMLError as error:  # a character YAML does not allow, at a position
        first = str(error).strip().splitlines()[0]
        raise ConfigFileError(f"{path}: not valid YAML: {first}") from None
    return {} if data is None else data


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
            if kind == "yaml":
                data = _load_yaml(text, path)
            else:
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
        parts.append(_path_part(group if isinstance(group, str) else str(key)))
        node = item
    return ".".join(parts)


def _path_part(name: str) -> str:
    """A key as it reads in a dotted path: a user's odd key (``"a.b"``, one with a line
    break) quoted and escaped, so the path stays one unambiguous line."""
    return name if _BARE_KEY.fullmatch(name) else repr(name)


def _models(annotations: Iterable[Any]) -> list[type[BaseModel]]:
    """The pydantic models in type annotations (``LevelConfig`` in ``tuple[LevelConfig, ...]``
    or ``OptimizerConfig | None``)."""
    found: list[type[BaseModel]] = []
    for annotation in annotations:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.append(annotation)
        else:
            found.extend(_models(get_args(annotation)))
    return found


def _settings_at(model: type[BaseModel], loc: Sequence[int | str]) -> set[str]:
    """The setting names of the table at ``loc`` (a list's items share their type)."""
    annotations: list[Any] = [model]
    for key in loc:
        if isinstance(key, str):
            annotations = [
                field.annotation
                for found in _models(annotations)
                for name, field in found.model_fields.items()
                if key in (name, field.alias)
            ]
    return {name for found in _models(annotations) for name in found.model_fields}


def _problem(model: type[BaseModel], problem: Mapping[str, Any]) -> str:
    """:func:`problem_text`, with the closest known setting for a mistyped one."""
    *parent, key = problem["loc"] or ("",)
    if problem["type"] == "extra_forbidden" and isinstance(key, str):
        close = difflib.get_close_matches(key, sorted(_settings_at(model, parent)), n=1)
        if close:
            return (
                f"unknown setting; did you mean {close[0]!r}? (`--print-config` lists every "
                "setting)"
            )
    return problem_text(problem)


def validate(model: type[M], raw: dict[str, Any], source: str) -> M:
    """``raw`` as a ``model``; the first error is one line naming ``source`` and the field.

    An unknown key is reported before anything else: a mistyped setting (``epochz``) also
    leaves the setting it meant unset, and a complaint about that (or about a missing
    ``space``) would hide the typo that caused it."""
    with reading(source, "config"):
        raw = _nulls_from_toml(raw, model)
        try:
            return model.model_validate(raw)
        except ValidationError as error:
            errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
            first = errors[0]
            where = _field_path(first["loc"], raw) or "config"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ConfigFileError(f"{source}: {where}: {_problem(model, first)}{more}") from None


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


def _yaml_dumper(yaml: Any) -> Any:
    """PyYAML's safe dumper, amended where its output would not read back or read badly."""

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # a setting written twice is written out twice, never as &id001

        def represent_str(self, data: str) -> Any:
            # PyYAML writes NEL and the Unicode line separators raw inside single quotes,
            # where reading folds them into a space: double quotes escape them.
            style = '"' if any(c in data for c in "\x85\u2028\u2029") else None
            return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, Dumper.represent_str)
    return Dumper


def to_yaml(data: dict[str, Any]) -> str:
    """``data`` (JSON-like) as a YAML document that PyYAML's safe loader reads back equal:
    the top level in blocks, tables and lists of plain values inline (``betas: [0.5,
    0.999]``), keys in their order."""
    yaml = _yaml("writing")
    stream = io.StringIO()
    dumper = _yaml_dumper(yaml)(
        stream, default_flow_style=None, sort_keys=False, allow_unicode=True, width=_YAML_WIDTH
    )
    try:
        dumper.open()
        root = dumper.represent_data(data)
        root.flow_style = False  # one setting a line, even when every one is plain
        dumper.serialize(root)
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue()


def dump_config(config: BaseModel, kind: str, extra: dict[str, Any] | None = None) -> str:
    """``config`` (plus ``extra`` top-level keys such as ``plugins``) as ``kind`` text that
    :func:`read_config_file` and :func:`validate` turn back into an equal config."""
    data = {**(extra or {}), **config.model_dump(mode="json")}
    if kind == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if kind == "yaml":
        return to_yaml(data)  # YAML has null: written as such, like JSON
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
