"""Full-state checkpoints, written atomically and read with ``weights_only=True``.

A checkpoint is written to a temporary file in the same directory, flushed to disk, then
renamed over the old one (:mod:`factornas.files`): a process killed at any moment leaves either
the previous complete checkpoint or the new complete one, never a torn file. Loading uses
``weights_only=True`` so a checkpoint cannot execute code; everything saved is tensors and plain
Python data. A checkpoint that cannot be read for its permissions is said to be so: the advice
to delete it is kept for files that were read and are damaged.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from factornas.errors import HOSTILE_INPUT, FactorNASError
from factornas.files import atomic_writer

#: How torch.load fails on a damaged file: a bad zip, a truncated or bit-flipped pickle inside
#: it (which fails in any of :data:`HOSTILE_INPUT`'s ways), an unreadable disk.
_UNREADABLE: tuple[type[BaseException], ...] = (
    RuntimeError,
    EOFError,
    zipfile.BadZipFile,
    pickle.UnpicklingError,
    OSError,
    *HOSTILE_INPUT,
)


class CheckpointError(FactorNASError):
    """A checkpoint is missing, corrupt or incompatible."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` to ``path`` (:func:`factornas.files.atomic_writer`: a unique
    temporary, fsync, rename; the temporary of a killed write is removed by the next run)."""
    path = Path(path)
    try:
        with atomic_writer(path, "wb") as handle:
            torch.save(state, handle)
    except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(path)) from None
    except RuntimeError as error:
        raise CheckpointError(
            f"cannot write checkpoint {path} ({_reason(error)}): check that its disk has "
            "space, then rerun to resume"
        ) from None
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
    if not os.access(path, os.R_OK):
        raise CheckpointError(
            f"checkpoint {path} cannot be read (permission denied): give this user read access "
            "to it (chmod u+r), or run as its owner"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError as error:
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({error.strerror}): give this user read access "
            "to it, or run as its owner"
        ) from None
    except _UNREADABLE as error:
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


def is_checkpoint_of(path: Path, fmt: int, key: str) -> bool:
    """Whether ``path`` is a checkpoint factornas wrote (format ``fmt``, holding ``key``), read
    memory-mapped so that recognising a multi-GB file costs nothing; any failure is a no."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return False
    return isinstance(state, dict) and state.get("format") == fmt and key in state
