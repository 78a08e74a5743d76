"""Recording what a logger writes into a run directory as the run's (see
:mod:`factornas.runtime.owned`), so ``--overwrite`` deletes it and nothing else."""

from __future__ import annotations

from pathlib import Path

from factornas.runtime.owned import NotOursError, owner


def claim(run_dir: Path, name: str) -> None:
    """Record ``name`` (a file, or a folder when it ends in ``/``) as the run's before a
    logger writes it. A file or folder of that name the run did not make is refused rather
    than written into (``--overwrite`` would delete a recorded folder whole)."""
    run = owner(run_dir)
    if run is None:
        return
    path = run_dir / name.rstrip("/")
    if (path.exists() or path.is_symlink()) and name not in run.recorded():
        raise NotOursError(
            f"{path} exists but is not this run's: move it away, or choose another --out"
        )
    run.record([name])
