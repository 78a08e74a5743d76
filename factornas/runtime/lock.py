"""One process per run directory: an exclusive ``flock`` on ``RUN_DIR/.lock``.

Two searches on one ``--out`` used to both run and append every epoch twice to
``metrics.jsonl``. ``flock`` is tied to the open file, so the kernel releases it on every exit,
SIGKILL included: a lock left by a dead process is simply taken over, with no PID guessing. The
file records the holder's PID and host so the refusal can name it. The file itself is never
deleted: unlinking a lock file lets a third process lock a fresh inode while a second still
waits on the old one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from factornas.errors import FactorNASError

LOCK = ".lock"


class RunDirBusyError(FactorNASError):
    """Another live process holds the run directory."""


class RunLock:
    """The held lock of one run directory; :meth:`release` (or process exit) frees it."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = self._holder()
            self.release()
            if error.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise RunDirBusyError(
                    f"{root} is in use by {holder}: wait for it to finish, stop it, or choose "
                    "another --out"
                ) from None
            raise
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()} {socket.gethostname()}\n".encode())

    def _holder(self) -> str:
        try:
            pid, host = self.path.read_text().split()
        except (OSError, ValueError):
            return "another process"
        return f"process {pid} on {host}"

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
