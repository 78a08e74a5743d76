"""The malloc switch that keeps freed memory mapped: in effect on glibc, opt-out honoured."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

SNIPPET = "from factornas.kernels.allocator import keep_freed_memory as k; print(k(), k())"
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
pytestmark = pytest.mark.slow  # each test starts Python processes and allocates in them


def _run(env_value: str | None, code: str = SNIPPET) -> str:
    env = {k: v for k, v in os.environ.items() if k != "FACTORNAS_KEEP_FREED_MEMORY"}
    if env_value is not None:
        env["FACTORNAS_KEEP_FREED_MEMORY"] = env_value
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="mallopt switches exist in glibc only")
def test_applies_once_on_glibc_and_can_be_turned_off() -> None:
    assert _run(None) == "True True"
    assert _run("0") == "False False"


HEAP = (
    "import ctypes, json, torch\n"
    "from factornas.kernels.allocator import keep_freed_memory\n"
    "fields = 'arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost'\n"
    "class MallInfo2(ctypes.Structure):\n"
    "    _fields_ = [(name, ctypes.c_size_t) for name in fields.split()]\n"
    "libc = ctypes.CDLL('libc.so.6')\n"
    "libc.mallinfo2.restype = MallInfo2\n"
    "keep_freed_memory()\n"
    "rows = []\n"
    "for _ in range(6):\n"
    "    before = libc.mallinfo2()\n"
    "    block = torch.ones(2**24)  # 64 MiB: glibc would mmap it and unmap it on free\n"
    "    held = libc.mallinfo2()\n"
    "    del block\n"
    "    freed = libc.mallinfo2()\n"
    "    rows.append([held.hblkhd - before.hblkhd, freed.fordblks, freed.arena])\n"
    "print(json.dumps(rows))\n"
)
BLOCK = 2**26


def _has_mallinfo2() -> bool:
    """glibc 2.33 added ``mallinfo2`` (the older ``mallinfo`` wraps its sizes at 2 GiB)."""
    import ctypes

    return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")


@pytest.mark.skipif(not GLIBC or not _has_mallinfo2(), reason="needs glibc 2.33's mallinfo2")
def test_freed_blocks_stay_in_the_heap_and_are_reused() -> None:
    """Asked of malloc's own bookkeeping, not of page-fault counts: whether the kernel faults a
    reused page again is the kernel's business (a CI machine counted every page of every block
    as faulted with the blocks provably reused), what the switch controls is where the block
    lives. With it, no 64 MiB block is mmapped, a freed block stays on the heap's free lists and
    the next blocks reuse it: over the last four blocks the heap grows by at most two blocks
    (without reuse it would grow by four). Not "by nothing": one request of the first few finds
    the freed chunk a few bytes short of its aligned size, and under load (the full suite on a
    busy machine) a later request was seen to miss it too. Without the switch, every block is
    its own mapping, unmapped on free."""
    kept = json.loads(_run(None, HEAP))
    default = json.loads(_run("0", HEAP))
    assert all(mapped == 0 for mapped, _, _ in kept)
    assert all(free >= BLOCK for _, free, _ in kept)
    assert max(arena for _, _, arena in kept[2:]) - kept[1][2] <= 2 * BLOCK + 2**23
    assert all(mapped >= BLOCK for mapped, _, _ in default)
    assert all(free < BLOCK for _, free, _ in default)


@pytest.mark.skipif(not GLIBC, reason="mallopt switches exist in glibc only")
def test_a_preloaded_allocator_is_not_reported_as_switched() -> None:
    """Under ``LD_PRELOAD`` of another allocator glibc's ``mallopt`` still answers success, but
    the process's ``malloc`` is no longer glibc's: the switch must not claim to be in effect.
    The process's ``malloc`` is stood in for by resolving the symbol to another function."""
    code = (
        "import ctypes\n"
        "from factornas.kernels import allocator\n"
        "libc = ctypes.CDLL('libc.so.6')\n"
        "print(allocator._glibc_serves_malloc(libc))\n"
        "class Other:\n"
        "    malloc = libc.free\n"
        "print(allocator._glibc_serves_malloc(Other()))\n"
    )
    assert _run(None, code).split() == ["True", "False"]
