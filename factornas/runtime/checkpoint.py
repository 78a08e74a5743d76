"""Full-state checkpoints, written atomically and read with ``weights_only=True``.

A checkpoint is written to a temporary file in the same directory, flushed to disk, then
renamed over the old one: a process killed at any moment leaves either the previous complete
checkpoint or the new complete one, never a torn file. Loading uses ``weights_only=True`` so a
checkpoint cannot execute code; everything saved is tensors and plain Python data.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from factornas.errors import FactorNASError


class CheckpointError(FactorNASError):
    """A checkpoint is missing, corrupt or incompatible."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` to ``path`` (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        # A full disk must not be filled further by the half-written copy.
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(error.errno, error.strerror or str(error), str(path)) from None
        if isinstance(error, RuntimeError):
            raise CheckpointError(
                f"cannot write checkpoint {path} ({_reason(error)}): check that its disk has "
                "space, then rerun to resume"
            ) from None
        raise
    return path


def first_non_finite(value: Any, where: str = "") -> str | None:
    """The key path of the first floating tensor in ``value`` holding NaN or ±inf, if any."""
    if isinstance(value, torch.Tensor):
        finite = not value.is_floating_point() or bool(torch.isfinite(value).all())
        return None if finite else where or "the state"
    items: Any = (
        value.items() if isinstance(value, dict)
        else enumerate(value) if isinstance(value, (list, tuple))
        else ()
    )  # fmt: skip
    for key, item in items:
        found = first_non_finite(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely; a damaged file gives a one-line error naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError) as error:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({_reason(error)}): delete it to start "
            "over"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a state dictionary")
    bad = first_non_finite(state)
    if bad is not None:
        raise CheckpointError(
            f"checkpoint {path} holds non-finite values ({bad}), saved from a diverged run: "
            "delete it, or pass --overwrite to start over"
        )
    return state


def _reason(error: BaseException) -> str:
    """Why torch could not read a file, in a few words; torch's own advice to load with
    ``weights_only=False`` (which would run the file's code) is never passed on."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    if "weights_only" in text or "Weights only" in text:
        return "it holds objects a factornas checkpoint never holds"
    return text.splitlines()[0]
