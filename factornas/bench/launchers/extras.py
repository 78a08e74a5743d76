"""The optional packages of the cluster launchers, refused in one line when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from factornas.errors import FactorNASError


class MissingExtraError(FactorNASError):
    """A launcher's package is not installed."""


def require(module: str, launcher: str, extra: str) -> ModuleType:
    """Import ``module`` or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"--launcher {launcher} needs {module}: pip install 'factornas[{extra}]'"
        ) from None
