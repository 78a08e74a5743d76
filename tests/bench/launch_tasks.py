"""Launcher tasks that cost nothing (no torch): what the launcher tests submit to Ray and to
submitit's local cluster, importable by their worker processes (the tests put the repository
on their PYTHONPATH)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Square:
    """``n * n``, recorded in ``folder`` so that a later invocation finds it done; a negative
    ``n`` fails as a pair's run does, with a message."""

    n: int
    folder: Path

    @property
    def key(self) -> str:
        return f"square/{self.n}"

    def _record(self) -> Path:
        return self.folder / f"square{self.n}"

    def __call__(self) -> int:
        if self.n < 0:
            raise ValueError(f"no square for {self.n}")
        self._record().write_text(str(self.n * self.n))
        return self.n * self.n

    def is_done(self) -> bool:
        return self._record().exists()


@dataclass(frozen=True)
class DiesOnce:
    """Its process dies (as if SIGKILLed) on the first ``lives`` attempts, then returns
    ``"survived"``: a Ray worker lost mid-task."""

    folder: Path
    lives: int = 1

    @property
    def key(self) -> str:
        return f"dies/{self.lives}"

    def __call__(self) -> str:
        attempts = self.folder / f"attempts{self.lives}"
        count = len(attempts.read_text()) if attempts.exists() else 0
        attempts.write_text("x" * (count + 1))
        if count < self.lives:
            os._exit(9)
        return "survived"

    def is_done(self) -> bool:
        return False
