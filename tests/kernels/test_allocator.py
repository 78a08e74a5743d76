"""The malloc switch that keeps freed memory mapped: in effect on glibc, opt-out honoured."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

SNIPPET = "from factornas.kernels.allocator import keep_freed_memory as k; print(k(), k())"
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
THP = "/sys/kernel/mm/transparent_hugepage/enabled"
pytestmark = pytest.mark.slow  # each test starts Python processes and allocates in them


def _huge_pages_always() -> bool:
    """With transparent huge pages on for every mapping a 64 MiB block faults in 2 MiB at a time,
    so counting 4 KiB page faults says nothing about reuse."""
    try:
        with open(THP) as setting:
            return "[always]" in setting.read()
    except OSError:
        return False


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


FAULTS = (
    "import resource, torch\n"
    "from factornas.kernels.allocator import keep_freed_memory\n"
    "keep_freed_memory()\n"
    "faults = []\n"
    "for _ in range(6):\n"
    "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "    block = torch.ones(2**24)  # 64 MiB: glibc would mmap it and unmap it on free\n"
    "    del block\n"
    "    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    "print(*faults)\n"
)


@pytest.mark.skipif(not GLIBC, reason="mallopt switches exist in glibc only")
@pytest.mark.skipif(_huge_pages_always(), reason="huge pages make 4 KiB fault counts meaningless")
def test_freed_memory_is_reused_without_page_faults() -> None:
    """With the switch, at most two 64 MiB blocks' pages are ever faulted in (the heap grows to
    two blocks, one request of the first few finding the freed chunk a few bytes short of its
    aligned size, which of them varies from run to run), and once it has, every block reuses
    mapped pages; without the switch every block faults in all of its 16,384 pages again.

    "All of its pages" allows 1%: the first block may land on a few pages the heap had already
    touched (16,380 faults were seen on a CI machine)."""
    kept = [int(n) for n in _run(None, FAULTS).split()]
    default = [int(n) for n in _run("0", FAULTS).split()]
    pages = 2**26 // 4096
    almost_all = pages - pages // 100
    assert kept[0] >= almost_all and default[0] >= almost_all
    assert sum(kept) < 2 * pages + pages // 100
    assert max(kept[3:]) < pages // 100
    assert min(default[1:]) >= almost_all
