"""``bench cost``'s GPU options on the CPU: the job fields reach the step (bf16 forward,
channels-last supernet), and ``--cuda-graphs`` is a no-op said on stderr."""

from __future__ import annotations

from typing import Any

import pytest

from factornas.bench.cost_worker import measure

pytestmark = pytest.mark.slow  # each test measures a supernet step


def _job(**options: Any) -> dict[str, Any]:
    return {
        "preset": "darts", "channels": 2, "layers": 3, "batch_size": 4, "schedule": "joint",
        "warmup": 0, "steps": 1, "threads": 1, "device": "cpu", **options,
    }  # fmt: skip


def test_graphs_bf16_and_channels_last_reach_the_worker(capsys: pytest.CaptureFixture[str]) -> None:
    run = measure(_job(cuda_graphs=True, precision="bf16", channels_last=True))
    assert (run["graphed"], run["precision"], run["channels_last"]) == (False, "bf16", True)
    assert run["step_s"][0] > 0 and run["ops_per_step"] is None  # not profiled: see measure
    assert "no-op on cpu" in capsys.readouterr().err


def test_jobs_without_the_options_step_as_before() -> None:
    run = measure(_job())
    assert (run["graphed"], run["precision"], run["channels_last"]) == (False, "fp32", False)
    assert run["ops_per_step"] > 0
