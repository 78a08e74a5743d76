"""Keep freed heap memory mapped, so that every search step after the first reuses its pages.

A search step allocates and frees gigabytes of activations (about 6 GB at the paper's shape).
glibc's ``malloc`` hands large blocks back to the kernel: blocks above its mmap threshold (at
most 32 MiB) are unmapped on ``free``, and the top of the heap is trimmed once enough of it is
free, so a later step faults those pages in again. A page touched for the first time costs a
fault and a zeroing; on the virtual machines this project runs on that is 2.4 GB/s at best and
about 0.22 GB/s at worst, against 4-20 GB/s for pages already mapped (docs/performance.md).
Turning off ``mmap`` for large blocks and turning off trimming makes freed blocks go back to
malloc's free lists, where the next step finds them.

The cost is that the process keeps its peak resident size until it exits, which a search
reaches again on every step anyway. Set ``FACTORNAS_KEEP_FREED_MEMORY=0`` to leave malloc as
it is (e.g. in a long-lived process that searches once and then does something else).
"""

from __future__ import annotations

import ctypes
import os
import platform

# From glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

_applied = False


def _glibc_serves_malloc(libc: ctypes.CDLL) -> bool:
    """Whether the process's ``malloc`` is glibc's own.

    An allocator preloaded with ``LD_PRELOAD`` (jemalloc, tcmalloc, mimalloc) takes ``malloc``
    from glibc while glibc's ``mallopt`` still answers success, so the switches would be reported
    in effect and change nothing: compare the address the process resolves ``malloc`` to with
    glibc's.
    """
    resolved = ctypes.cast(ctypes.CDLL(None).malloc, ctypes.c_void_p).value
    return resolved == ctypes.cast(libc.malloc, ctypes.c_void_p).value


def keep_freed_memory() -> bool:
    """Configure glibc's malloc to keep freed memory mapped; ``True`` when it is in effect.

    Idempotent and process-wide. A no-op returning ``False`` on other C libraries (macOS,
    Windows, musl), which have no such switches, under a preloaded allocator that has taken
    ``malloc`` from glibc, or when ``FACTORNAS_KEEP_FREED_MEMORY=0``.
    """
    global _applied
    if _applied:
        return True
    if os.environ.get("FACTORNAS_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    if not _glibc_serves_malloc(libc):
        return False
    # mallopt returns 1 on success. A threshold of -1 (SIZE_MAX once converted) never trims;
    # no mmap'd blocks means large blocks come from the heap and return to it on free.
    _applied = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, -1))
    return _applied
