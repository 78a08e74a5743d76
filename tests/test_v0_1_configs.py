"""Configs and run directories written by factornas 0.1 (main at 9db6411, in
``tests/fixtures/v0_1``) still load, mean what they meant, and their runs resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from factornas.evaluate.config import RetrainConfig
from factornas.runtime.optimizers import scheduled_lr
from factornas.runtime.owned import read_marker
from factornas.runtime.rundir import prepare_run_dir
from factornas.search.config import SearchConfig
from factornas.search.loop import _current_config, adopt_search_run

FIXTURES = Path(__file__).parent / "fixtures" / "v0_1"


def _saved(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    "name",
    ["search_apc_darts.json", "search_smoothed_beta.json", "search_darts_run.json",
     "search_drnas_run.json"],
)  # fmt: skip
def test_a_search_run_of_factornas_0_1_resumes(tmp_path: Path, name: str) -> None:
    """Its config.json beside a checkpoint is read as this version would write it, so the same
    settings resume it instead of being refused as another configuration."""
    saved = _saved(name)
    config = SearchConfig.model_validate(saved)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(saved))
    torch.save({"format": 1, "network": {}}, run / "checkpoint.pt")
    (run / "metrics.jsonl").write_text("")
    (run / "notes.txt").write_text("the user's own")
    again = prepare_run_dir(
        run,
        config.model_dump(mode="json"),
        kind="search",
        normalize=lambda s: _current_config(s, config),
        adopt=adopt_search_run,
    )
    assert again.resuming
    again.release()
    # Adopted: its files are recorded as the run's, the user's file is not.
    assert read_marker(run)["files"] == ["metrics.jsonl", "checkpoint.pt", "config.json"]


def test_old_search_settings_keep_their_meaning() -> None:
    apc = SearchConfig.model_validate(_saved("search_apc_darts.json"))
    # The flat data options are nested now, with the same values.
    old = _saved("search_apc_darts.json")["data"]
    assert apc.data.imagenet.train_fraction == old["imagenet_train_fraction"] == 0.1
    assert apc.data.imagenet.image_size == old["imagenet_image"] == 224
    assert apc.data.imagenet.workers == old["workers"]
    # The warm-up replaced the schedule's rate in 0.1: that is its mode now.
    assert apc.weights_optimizer.lr_warmup_mode == "replace"
    assert scheduled_lr(apc.weights_optimizer, 2, 50) == pytest.approx(0.5 * 3 / 5)
    assert apc.step_order == "weights_first"  # what every 0.1 search ran

    smoothed = SearchConfig.model_validate(_saved("search_smoothed_beta.json"))
    (level,) = smoothed.levels
    stabilizers = {s.name: s.options for s in level.stabilizers}
    # 0.1's PGD step was a fraction of ε (0.25 over 7 steps): the same step size.
    assert stabilizers["smoothing"]["attack_step_scale"] == pytest.approx(0.25 * 7)
    beta = stabilizers["beta"]
    assert (beta["weight_start"], beta["weight_end"]) == (0.0, 50.0)  # 0.1's linear ramp
    assert smoothed.data.synthetic.size == 40 and smoothed.data.synthetic.image == 16


@pytest.mark.parametrize("name", ["retrain_cifar10.json", "retrain_imagenet.json"])
def test_a_retraining_config_of_factornas_0_1_keeps_its_schedule(name: str) -> None:
    saved = _saved(name)
    config = RetrainConfig.model_validate(saved)
    schedule, optimizer = saved["schedule"], saved["optimizer"]
    assert config.optimizer.kind == "sgd" and config.optimizer.lr == optimizer["lr"]
    assert config.data.imagenet.image_size == saved["data"]["image_size"]
    epochs = saved["epochs"]
    for epoch in (0, 1, 4, 5, epochs // 2, epochs - 1):
        # 0.1's learning_rate: cosine from lr to lr_min, times (e + 1)/W during the warm-up.
        cosine = (1 + math.cos(math.pi * epoch / epochs)) / 2
        expected = schedule["lr_min"] + (optimizer["lr"] - schedule["lr_min"]) * cosine
        if epoch < schedule["warmup_epochs"]:
            expected *= (epoch + 1) / schedule["warmup_epochs"]
        assert scheduled_lr(config.optimizer, epoch, epochs) == pytest.approx(expected)
