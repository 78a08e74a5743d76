"""One process per run directory: an exclusive ``flock`` on ``RUN_DIR/.lock``.

Two searches on one ``--out`` used to both run and append every epoch twice to
``metrics.jsonl``. ``flock`` is tied to the open file, so the kernel releases it on every exit,
SIGKILL included: a lock file left by a dead process is simply locked again (taken over), with
no PID guessing. The file records the holder's PID and host so a refusal can name it. The
holder deletes the file when it releases the lock (a killed holder leaves it, harmlessly); a
process that locked a file which was deleted or replaced meanwhile sees that its inode is no
longer the one at the path, and tries again on the new file. The file is opened with
``O_NOFOLLOW``: a symbolic link planted at ``.lock`` is refused, never truncated through.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from factornas.errors import FactorNASError
from factornas.files import open_no_follow, read_text_no_follow

LOCK = ".lock"


class RunDirBusyError(FactorNASError):
    """Another live process holds the run directory."""


class RunLock:
    """The held lock of one run directory; :meth:`release` (or process exit) frees it."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK
        while True:
            fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno in (errno.EWOULDBLOCK, errno.EACCES):
                    raise RunDirBusyError(
                        f"{root} is in use by {self._holder()}: wait for it to finish, stop it, "
                        "or choose another --out"
                    ) from None
                raise
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder we waited on deleted it: lock the new one
        self._fd: int | None = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())

    def _holder(self) -> str:
        try:
            pid, host = read_text_no_follow(self.path).split()
        except (OSError, ValueError, FactorNASError):
            return "another process"
        return f"process {pid} on {host}"

    def release(self) -> None:
        """Delete the lock file and free the lock (idempotent)."""
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
