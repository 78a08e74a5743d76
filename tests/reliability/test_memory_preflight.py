"""A network that cannot fit is refused in one line before anything is built, downloaded or
written (issue #20: ``--channels 100000`` used to build cells until the out-of-memory killer
ended the process without a word)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from factornas import search_preset
from factornas.runtime import memory
from factornas.runtime.memory import CHECKED_ABOVE, DoesNotFitError, check_fits
from factornas.search.loop import build_network
from tests.reliability.conftest import TINY_SEARCH, one_line_error, snapshot

#: C=64, 12 cells: past CHECKED_ABOVE, so the check builds the supernet on the meta device.
WIDE = ["--channels", "64", "--layers", "12"]


def _free_bytes(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda device: free)


def test_published_sizes_are_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    _free_bytes(monkeypatch, 0)
    assert CHECKED_ABOVE >= 48 * 48 * 20

    def never_built() -> torch.nn.Module:
        raise AssertionError("a network of a published size was built for the check")

    check_fits(
        never_built,
        channels=48,
        layers=20,
        device=torch.device("cpu"),
        bytes_per_parameter=16,
        what="the supernet",
    )


@pytest.mark.slow
def test_the_count_is_the_real_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal's parameter count is the supernet's own, counted without allocating."""
    config = search_preset("darts").model_copy(update={"channels": 64, "layers": 12})
    with torch.device("meta"):
        network = build_network(config, num_classes=10, in_channels=3)
    parameters = sum(p.numel() for p in network.parameters())
    _free_bytes(monkeypatch, parameters * 4 - 1)
    with pytest.raises(DoesNotFitError, match=r"has \d+\.\d M parameters, which need at least"):
        check_fits(
            lambda: build_network(config, num_classes=10, in_channels=3),
            channels=64,
            layers=12,
            device=torch.device("cpu"),
            bytes_per_parameter=4,
            what="the supernet",
        )
    _free_bytes(monkeypatch, parameters * 4)
    check_fits(
        lambda: build_network(config, num_classes=10, in_channels=3),
        channels=64,
        layers=12,
        device=torch.device("cpu"),
        bytes_per_parameter=4,
        what="the supernet",
    )


def test_search_refuses_before_touching_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check runs before the data is loaded: an empty --data folder is not downloaded into
    (CIFAR-10 would be fetched first otherwise) and no run directory is left."""
    _free_bytes(monkeypatch, 1 << 20)
    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "runs" / "wide"
    argv = ["search", "--preset", "darts", "--data", str(data), *WIDE, "--out", str(out)]
    line = one_line_error(capsys, argv)
    assert line.startswith("error: the supernet with C=64 and 12 cells has ")
    assert line.endswith("cpu has 1.0 MB free: lower --channels or --layers")
    assert snapshot(tmp_path) == {} and not (tmp_path / "runs").exists()


def test_train_refuses_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _free_bytes(monkeypatch, 1 << 20)
    out = tmp_path / "wide"
    argv = [
        "train", "--dataset", "synthetic", "--genotype", "darts_v2", "--epochs", "1",
        "--subset", "16", "--test-subset", "8", "--no-progress", *WIDE, "--out", str(out),
    ]  # fmt: skip
    line = one_line_error(capsys, argv)
    assert line.startswith("error: the evaluation network with C=64 and 12 cells has ")
    assert not out.exists()


@pytest.mark.parametrize(
    "exhausted",
    [MemoryError(), RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate")],
    ids=["MemoryError", "torch-cpu-allocator"],
)
def test_running_out_of_memory_anyway_is_one_line(
    exhausted: Exception,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Past the preflight (activations, another process's memory), exhaustion is still one
    line and exit 2, not a traceback or the internal-error line."""
    from factornas.search import loop

    def exhaust(*args: object, **kwargs: object) -> None:
        raise exhausted

    monkeypatch.setattr(loop, "build_search_data", exhaust)
    line = one_line_error(capsys, [*TINY_SEARCH, "--out", str(tmp_path / "run")])
    assert line.startswith("error: out of memory: lower --batch-size, --channels or --layers")
    assert not (tmp_path / "run").exists()
