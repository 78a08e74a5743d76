"""``--config``, ``--print-config`` and ``--plugin`` for ``factornas search`` and ``train``.

Precedence, lowest first: the preset (or recipe), the config file, the flags. The subcommand
modules build their base here and apply their flags on top, as they always did.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from factornas.configfile import (
    KINDS,
    ConfigFileError,
    dump_config,
    file_format,
    merge,
    read_config_file,
    validate,
)
from factornas.errors import FactorNASError
from factornas.evaluate.config import RetrainConfig
from factornas.plugins import is_file_spec, load_plugins
from factornas.presets.retrain import retrain_recipe
from factornas.presets.search import search_preset
from factornas.search.config import SearchConfig

M = TypeVar("M", bound=BaseModel)

#: Top-level keys of a config file that are not settings of the config itself.
PRESET_KEY, RECIPE_KEY, PLUGINS_KEY = "preset", "recipe", "plugins"


def add_arguments(parser: argparse.ArgumentParser, base: str) -> None:
    """Add ``--config``, ``--print-config`` and ``--plugin`` to a subcommand's parser."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"a .toml, .json or .yaml config amending the {base} (YAML needs PyYAML); flags "
        "amend the file (default: none)",
    )
    parser.add_argument(
        "--print-config",
        nargs="?",
        const="auto",
        choices=["auto", *KINDS],
        metavar="FORMAT",
        help=f"print the resolved config ({', '.join(KINDS)}; default: the --config file's "
        "format, else toml) and exit; feed it back with --config",
    )
    parser.add_argument(
        "--allow-plugins",
        action="store_true",
        help="import the plug-ins the --config file lists (they run code; without this flag a "
        "file that lists any is refused; default: off)",
    )
    add_plugin_argument(parser)


def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
    """``--plugin``: a module or file imported before anything is validated."""
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE",
        help="import a module or .py file first (to register factor groups, relaxations, "
        "stabilizers, datasets or presets); repeatable (default: none)",
    )


class FileSettings:
    """A ``--config`` file split into its settings and its plug-ins, plug-ins imported.

    Plug-ins (the file's and ``--plugin`` s) load before anything is validated: a config names
    factor groups that only exist once a plug-in registered them. Importing one runs its code,
    so it takes an explicit act (docs/config-files.md, "Plug-ins and trust"): ``--plugin`` on
    the command line, or ``--allow-plugins`` for those a file lists; a file listing plug-ins
    without that flag is refused, ``--print-config`` included, before anything is imported.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.path: Path | None = args.config
        self.raw: dict[str, Any] = read_config_file(self.path) if self.path else {}
        file_plugins = self.raw.pop(PLUGINS_KEY, [])
        if not isinstance(file_plugins, list) or not all(isinstance(p, str) for p in file_plugins):
            raise ConfigFileError(f"{self.path}: {PLUGINS_KEY}: expected a list of strings")
        if file_plugins and not args.allow_plugins:
            raise ConfigFileError(
                f"{self.path} lists plug-ins ({', '.join(file_plugins)}), which run code when "
                "imported: pass --allow-plugins to import them, or give each with --plugin"
            )
        base_dir = self.path.parent if self.path else None
        load_plugins(file_plugins, base_dir)
        load_plugins(args.plugin)
        # As printed: file paths made absolute, so the printed config loads from anywhere.
        self.plugins = [_absolute(p, base_dir) for p in file_plugins] + [
            _absolute(p, None) for p in args.plugin
        ]

    def pop_str(self, key: str) -> str | None:
        value = self.raw.pop(key, None)
        if value is not None and not isinstance(value, str):
            raise ConfigFileError(f"{self.path}: {key}: expected a name, got {value!r}")
        return value

    def amend(self, model: type[M], base: M | None, origin: str) -> M:
        """``base`` (or the model's defaults) amended by the file, validated; errors name the
        file, else ``origin``."""
        raw = merge(base.model_dump(mode="json") if base else {}, self.raw)
        return validate(model, raw, str(self.path) if self.path else origin)


def _absolute(spec: str, base_dir: Path | None) -> str:
    if not is_file_spec(spec):
        return spec
    path = Path(spec).expanduser()
    return str((base_dir / path if base_dir and not path.is_absolute() else path).resolve())


def search_base(args: argparse.Namespace) -> tuple[SearchConfig, FileSettings]:
    """The preset (``--preset``, else the file's ``preset``) amended by ``--config``."""
    settings = FileSettings(args)
    file_preset = settings.pop_str(PRESET_KEY)
    preset = args.preset or file_preset  # --preset wins over the file's
    if settings.path is None and preset is None:
        raise FactorNASError("give --preset NAME, --config FILE, or both")
    base = search_preset(preset) if preset else None
    return settings.amend(SearchConfig, base, f"preset {preset}"), settings


def retrain_base(args: argparse.Namespace) -> tuple[RetrainConfig, FileSettings]:
    """The recipe (``--recipe``, else the file's ``recipe``, else by dataset) amended by
    ``--config``."""
    settings = FileSettings(args)
    if set(settings.raw) == {"config", "genotype"}:
        # A retraining's RUN_DIR/config.json, which also records the genotype it trained.
        settings.raw = settings.raw["config"]
    file_recipe = settings.pop_str(RECIPE_KEY)
    recipe = args.recipe or file_recipe  # --recipe wins over the file's
    if recipe is None:
        data = settings.raw.get("data")
        dataset = args.dataset or (data.get("dataset") if isinstance(data, dict) else None)
        recipe = "imagenet" if dataset == "imagenet" else "cifar10"
    return settings.amend(RetrainConfig, retrain_recipe(recipe), f"recipe {recipe}"), settings


def print_config(args: argparse.Namespace, config: BaseModel, settings: FileSettings) -> int:
    """Print ``config`` in the asked format, with the plug-ins it needs."""
    kind = args.print_config
    if kind == "auto":
        kind = file_format(args.config) if args.config else "toml"
    extra = {PLUGINS_KEY: settings.plugins} if settings.plugins else None
    print(dump_config(config, kind, extra), end="")
    return 0
