"""Batch orders: pure functions of (seed, epoch), resumable streams, DDP shards."""

from __future__ import annotations

import pytest
import torch

from factornas.data import CyclingBatches, DataError, EpochBatches


def _epoch(order: EpochBatches, epoch: int, start: int = 0) -> list[list[int]]:
    return [b.tolist() for b in order.iter_epoch(epoch, start)]


def test_epoch_is_a_permutation_and_pure_function_of_seed_and_epoch() -> None:
    a, b = EpochBatches(103, 10, seed=5), EpochBatches(103, 10, seed=5)
    assert a.batches_per_epoch == 11
    batches = _epoch(a, 3)
    assert sorted(i for batch in batches for i in batch) == list(range(103))
    assert [len(batch) for batch in batches] == [10] * 10 + [3]
    assert _epoch(b, 3) == batches
    assert _epoch(a, 4) != batches
    assert _epoch(EpochBatches(103, 10, seed=6), 3) != batches


def test_drop_last_and_start_batch() -> None:
    order = EpochBatches(103, 10, seed=1, drop_last=True)
    assert order.batches_per_epoch == 10
    full = _epoch(order, 2)
    assert len(full) == 10 and all(len(batch) == 10 for batch in full)
    assert _epoch(order, 2, start=7) == full[7:]
    assert _epoch(order, 2, start=10) == []
    with pytest.raises(ValueError, match="start_batch 11"):
        _epoch(order, 2, start=11)


def test_invalid_configurations() -> None:
    with pytest.raises(DataError, match="5 items make no batch of 8"):
        EpochBatches(5, 8, drop_last=True)
    with pytest.raises(ValueError, match="does not split over 3"):
        EpochBatches(100, 8, world_size=3)
    with pytest.raises(ValueError, match="rank 2 outside"):
        EpochBatches(100, 8, rank=2, world_size=2)


@pytest.mark.parametrize("world_size", [2, 4])
def test_ddp_shards_are_disjoint_and_cover_the_global_batch(world_size: int) -> None:
    single = _epoch(EpochBatches(90, 8, seed=3), 1)
    shards = [
        _epoch(EpochBatches(90, 8, seed=3, rank=r, world_size=world_size), 1)
        for r in range(world_size)
    ]
    for step, global_batch in enumerate(single):
        parts = [shard[step] for shard in shards]
        assert [i for part in parts for i in part] == global_batch  # disjoint, ordered, complete
        if len(global_batch) == 8:
            assert all(len(p) == 8 // world_size for p in parts)


def test_cycling_stream_resumes_exactly_across_epochs() -> None:
    stream = CyclingBatches(50, 8, seed=9)  # 6 batches per epoch with drop_last
    for _ in range(10):
        stream.next()
    state = stream.state_dict()
    assert (state["epoch"], state["position"]) == (1, 4)
    expected = [stream.next().tolist() for _ in range(9)]

    resumed = CyclingBatches(50, 8, seed=9)
    resumed.load_state_dict(state)
    assert [resumed.next().tolist() for _ in range(9)] == expected


def test_cycling_stream_walks_the_epoch_orders() -> None:
    stream = CyclingBatches(20, 5, seed=2, drop_last=False)
    order = EpochBatches(20, 5, seed=2)
    seen = [batch.tolist() for batch, _ in zip(stream, range(12), strict=False)]
    assert seen == _epoch(order, 0) + _epoch(order, 1) + _epoch(order, 2)


def test_cycling_stream_state_survives_a_change_of_process_count() -> None:
    whole = CyclingBatches(64, 8, seed=4)
    for _ in range(11):
        whole.next()
    state = whole.state_dict()
    target = whole.next().tolist()
    halves = [CyclingBatches(64, 8, seed=4, rank=r, world_size=2) for r in range(2)]
    for half in halves:
        half.load_state_dict(state)
    assert halves[0].next().tolist() + halves[1].next().tolist() == target


def test_cycling_stream_rejects_a_foreign_state() -> None:
    state = CyclingBatches(64, 8, seed=4).state_dict()
    with pytest.raises(DataError, match="same data, seed and batch size"):
        CyclingBatches(64, 8, seed=5).load_state_dict(state)
    with pytest.raises(DataError, match="invalid"):
        CyclingBatches(64, 8, seed=4).load_state_dict({**state, "position": 99})


def test_orders_are_cpu_int64() -> None:
    batch = next(EpochBatches(10, 4).iter_epoch(0))
    assert batch.dtype == torch.int64 and batch.device.type == "cpu"
