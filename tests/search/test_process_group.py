"""A search leaves the process group it joined, on success and on error, and only that one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch.distributed as dist

from factornas.runtime.distributed import leaving_process_group


def _join(tmp_path: Path) -> None:
    store = tmp_path / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)


def test_a_group_created_in_the_block_is_destroyed(tmp_path: Path) -> None:
    with leaving_process_group():
        _join(tmp_path)
        assert dist.is_initialized()
    assert not dist.is_initialized()


def test_it_is_destroyed_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="refused"), leaving_process_group():
        _join(tmp_path)
        raise RuntimeError("rank 0 refused the run directory")
    assert not dist.is_initialized()


def test_a_group_the_caller_joined_is_left_alone(tmp_path: Path) -> None:
    _join(tmp_path)
    try:
        with leaving_process_group():
            pass
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()
