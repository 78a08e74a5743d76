"""User plug-ins: modules imported for their side effects, such as registering factor groups.

A config names factor groups by string, and a name resolves only once its group is registered,
so plug-ins are imported before any config is validated. A plug-in is a module name importable
from ``sys.path`` (``my_package.factors``) or a Python file (``my_factors.py``). Importing the
same plug-in twice in one process runs it once: a second ``register_group`` of the same group
would be refused as a duplicate.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from factornas.errors import FactorNASError


class PluginError(FactorNASError):
    """A plug-in cannot be found or fails while being imported."""


def is_file_spec(spec: str) -> bool:
    """A path to a Python file rather than a module name."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _module_name(path: Path) -> str:
    """A stable module name unique to the file, so two ``factors.py`` do not collide."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    return f"factornas_plugin_{path.stem}_{digest}"


def _import_file(path: Path) -> ModuleType:
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # a fixed file can be retried in the same process
        raise
    return module


def load_plugin(spec: str, base_dir: Path | None = None) -> ModuleType:
    """Import one plug-in; a relative file path is taken from ``base_dir`` (default: cwd).

    Raises:
        PluginError: no such file or module, the import raised, or the plug-in called
            ``sys.exit`` (one line naming the plug-in and what happened).
    """
    try:
        if is_file_spec(spec):
            path = Path(spec).expanduser()
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            path = path.resolve()
            if not path.is_file():
                raise PluginError(f"plugin {spec}: no such file {path}")
            return _import_file(path)
        return importlib.import_module(spec)
    except PluginError:
        raise
    except SystemExit as error:  # an exit at import would end the command with its status
        raise PluginError(
            f"plugin {spec} exited while being imported (SystemExit({error.code!r})): a plug-in "
            "must only define and register things"
        ) from None
    except Exception as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        raise PluginError(f"plugin {spec} failed to import ({reason})") from error


def load_plugins(specs: Iterable[str], base_dir: Path | None = None) -> list[ModuleType]:
    """Import every plug-in in order."""
    return [load_plugin(spec, base_dir) for spec in specs]
