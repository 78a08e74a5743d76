"""Direct ImageNet search (A-PC-DARTS, paper §4.3): subset file lists, resume, errors, DDP."""

from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from factornas.data import (
    DataError,
    EpochBatches,
    ImageFolderDataset,
    make_fake_imagenet,
    read_file_list,
    sample_imagenet_subset,
    write_file_list,
)
from factornas.presets import space_preset
from factornas.presets.search import search_preset
from factornas.runtime.distributed import DistContext
from factornas.runtime.optimizers import scheduled_lr
from factornas.search import imagenet_data
from factornas.search.config import DataConfig, SearchConfig
from factornas.search.imagenet_data import TRAIN_FILES, VAL_FILES, ImageNetSearchData
from factornas.space.genotype import Genotype

CLASSES = 4
PER_CLASS = 40  # 10% → 4 search-train and 2.5% → 1 search-val image per class
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_imagenet(
        tmp_path_factory.mktemp("ilsvrc"), classes=CLASSES, images_per_class=PER_CLASS, size=40
    )


def _config(root: Path, *, workers: int = 0, batch_size: int = 4, **data: Any) -> SearchConfig:
    return SearchConfig(
        space=space_preset("darts"),
        data=DataConfig(
            dataset="imagenet",
            root=root,
            imagenet_image=32,
            imagenet_resize=36,
            workers=workers,
            **data,
        ),
        batch_size=batch_size,
        seed=3,
    )


def _data(config: SearchConfig, run: Path, dist: DistContext | None = None) -> ImageNetSearchData:
    return ImageNetSearchData(config, dist or DistContext(), CPU, run)


def _first(batches: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return next(iter(batches))


def test_file_lists_are_class_balanced_disjoint_and_written(imagenet: Path, tmp_path: Path) -> None:
    data = _data(_config(imagenet), tmp_path)
    train = read_file_list(tmp_path / TRAIN_FILES)
    val = read_file_list(tmp_path / VAL_FILES)
    assert train.root == imagenet / "train"
    assert Counter(label for _, label in train.files) == {k: 4 for k in range(CLASSES)}
    assert Counter(label for _, label in val.files) == {k: 1 for k in range(CLASSES)}
    assert not {f for f, _ in train.files} & {f for f, _ in val.files}
    assert (data.num_classes, data.in_channels, data.steps_per_epoch) == (CLASSES, 3, 4)
    x, y = _first(data.train_batches(0, 0, torch.Generator()))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.long
    # Normalized on the device with the config's ImageNet statistics.
    assert -2.2 < float(x.min()) < 0 < float(x.max()) < 2.7


def test_resume_reads_the_lists_and_never_samples_again(
    imagenet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(imagenet)
    _data(config, tmp_path)
    train = read_file_list(tmp_path / TRAIN_FILES)
    # A run whose lists differ from what sampling would give now: resume must use them.
    kept = type(train)(train.root, train.classes, train.files[:8])
    write_file_list(tmp_path / TRAIN_FILES, kept)
    (tmp_path / "checkpoint.pt").write_bytes(b"")

    def no_sampling(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a resumed search sampled its subset again")

    monkeypatch.setattr(imagenet_data, "sample_imagenet_subset", no_sampling)
    assert _data(config, tmp_path).steps_per_epoch == 2
    assert read_file_list(tmp_path / TRAIN_FILES) == kept

    (tmp_path / VAL_FILES).unlink()
    with pytest.raises(DataError, match=f"{tmp_path / VAL_FILES} is missing but"):
        _data(config, tmp_path)


def test_a_fresh_run_samples_anew_over_stale_lists(imagenet: Path, tmp_path: Path) -> None:
    _data(_config(imagenet), tmp_path)
    other = _config(imagenet).replace(seed=4)
    _data(other, tmp_path)  # no checkpoint: e.g. --overwrite with another seed
    expected = sample_imagenet_subset(imagenet, 0.1, 0.025, seed=4)[0]
    assert read_file_list(tmp_path / TRAIN_FILES) == expected


def test_mid_epoch_resume_skips_batches_without_decoding_them(
    imagenet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data(_config(imagenet), tmp_path)
    full = list(data.train_batches(1, 0, torch.Generator()))
    decoded: list[Path] = []
    real_open = ImageFolderDataset._open

    def counting_open(path: Path) -> Any:
        decoded.append(path)
        return real_open(path)

    monkeypatch.setattr(ImageFolderDataset, "_open", staticmethod(counting_open))
    resumed = list(data.train_batches(1, 3, torch.Generator()))
    assert len(decoded) == 4  # one batch of four, not four batches
    assert len(resumed) == 1
    assert torch.equal(resumed[0][0], full[3][0]) and torch.equal(resumed[0][1], full[3][1])


def test_validation_stream_resumes_exactly_despite_worker_prefetch(
    imagenet: Path, tmp_path: Path
) -> None:
    config = _config(imagenet, workers=1)
    rng = torch.Generator()
    first = _data(config, tmp_path)
    first.next_val_batch(rng)
    state = first.val_stream_state()
    expected = [first.next_val_batch(rng) for _ in range(2)]
    second = _data(config, tmp_path)
    second.load_val_stream_state(state)
    for ex, ey in expected:
        x, y = second.next_val_batch(rng)
        assert torch.equal(x, ex) and torch.equal(y, ey)
    # Each pass over the split draws new augmentations (the stream's epoch keys them).
    assert not torch.equal(expected[0][0], expected[1][0])
    # No reference cycle through the live stream: dropping the data object stops its workers
    # at once, instead of leaving them to the collector (a 5 s timeout per loader at exit).
    probe = weakref.ref(second)
    gc.disable()
    try:
        del second
        assert probe() is None
    finally:
        gc.enable()


def test_ranks_decode_disjoint_slices_of_each_global_batch(
    imagenet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(imagenet, batch_size=8, imagenet_val_fraction=0.05)
    whole = _first(_data(config, tmp_path).train_batches(0, 0, torch.Generator()))
    monkeypatch.setattr(torch.distributed, "barrier", lambda: None)  # one process plays both
    shards = [
        _first(_data(config, tmp_path, DistContext(rank, 2)).train_batches(0, 0, torch.Generator()))
        for rank in range(2)
    ]
    assert [len(y) for _, y in shards] == [4, 4]
    assert torch.equal(torch.cat([x for x, _ in shards]), whole[0])
    assert torch.equal(torch.cat([y for _, y in shards]), whole[1])
    scored = [
        sum(len(y) for _, y in _data(config, tmp_path, DistContext(rank, 2)).eval_batches(None))
        for rank in range(2)
    ]
    assert scored == [4, 4]


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_bad_image_is_one_line_naming_it(tmp_path: Path, workers: int, damage: str) -> None:
    root = make_fake_imagenet(tmp_path / "ilsvrc", classes=2, images_per_class=8, size=16)
    config = _config(root, workers=workers, batch_size=2, imagenet_train_fraction=0.5)
    data = _data(config, tmp_path / "run")
    train = read_file_list(tmp_path / "run" / TRAIN_FILES)
    index = int(EpochBatches(len(train), 2, seed=3).permutation(0)[0])
    bad = root / "train" / train.files[index][0]
    if damage == "corrupt":
        bad.write_bytes(b"\xff\xd8 not a jpeg")
    else:
        bad.unlink()
    with pytest.raises(DataError) as error:
        _first(data.train_batches(0, 0, torch.Generator()))
    message = str(error.value)
    assert message.startswith(f"cannot read image {bad} (") and "\n" not in message


@pytest.mark.slow
def test_cli_reports_a_corrupt_jpeg_in_one_line_with_status_2(tmp_path: Path) -> None:
    root = make_fake_imagenet(tmp_path / "ilsvrc", classes=4, images_per_class=40, size=16)
    train, _ = sample_imagenet_subset(root, 0.1, 0.025, seed=search_preset("apc_darts").seed)
    index = int(EpochBatches(len(train), 4, seed=search_preset("apc_darts").seed).permutation(0)[0])
    bad = root / "train" / train.files[index][0]
    bad.write_bytes(b"\xff\xd8 truncated")
    command = [
        sys.executable, "-m", "factornas", "search", "--preset", "apc_darts",
        "--dataset", "imagenet", "--data", str(root), "--out", str(tmp_path / "run"),
        "--channels", "4", "--layers", "3", "--batch-size", "4", "--epochs", "1",
        "--warmup", "0", "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, env=ENV, timeout=120, check=False
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot read image {bad} ("), lines


def test_search_presets_carry_the_papers_constants() -> None:
    pc = search_preset("pc_darts")
    assert (pc.space.partial_channels, pc.space.edge_normalization) == (4, True)
    assert (pc.data.dataset, pc.stem, pc.batch_size, pc.epochs) == ("cifar10", "cifar", 256, 50)
    assert (pc.weights_optimizer.lr, pc.weights_optimizer.lr_min) == (0.1, 0.0)
    assert pc.weights_optimizer.weight_decay == 3e-4
    assert (pc.arch_optimizer.lr, pc.arch_optimizer.weight_decay) == (6e-4, 1e-3)

    apc = search_preset("apc_darts")
    assert (apc.space.partial_channels, apc.space.edge_normalization) == (2, True)
    assert (apc.data.dataset, apc.stem, apc.batch_size, apc.epochs) == (
        "imagenet",
        "imagenet",
        1024,
        50,
    )
    assert (apc.data.imagenet.train_fraction, apc.data.imagenet.val_fraction) == (0.1, 0.025)
    w = apc.weights_optimizer
    assert (w.kind, w.lr, w.lr_min, w.momentum, w.weight_decay, w.schedule) == (
        "sgd",
        0.5,
        0.0,
        0.9,
        3e-5,
        "cosine",
    )
    # PC-DARTS's ImageNet search: lr·(e+1)/5 for the first 5 epochs, then the cosine's value.
    lrs = [scheduled_lr(w, epoch, apc.epochs) for epoch in range(7)]
    assert lrs[:5] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert lrs[5:] == pytest.approx([0.25 * (1 + math.cos(math.pi * e / 50)) for e in (5, 6)])
    assert pc.weights_optimizer.lr_warmup_epochs == 0
    a = apc.arch_optimizer
    assert (a.kind, a.lr, a.betas, a.weight_decay, a.schedule) == (
        "adam",
        6e-3,
        (0.5, 0.999),
        1e-3,
        "constant",
    )
    groups = ("op", "activation")
    for preset in (pc, apc):
        levels = preset.level_configs(groups)
        assert [lv.warmup_epochs for lv in levels] == [15, 15]


@pytest.mark.slow
def test_two_processes_search_imagenet_with_identical_architecture(tmp_path: Path) -> None:
    root = make_fake_imagenet(tmp_path / "ilsvrc", classes=4, images_per_class=40, size=48)
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "factornas", "search", "--preset", "apc_darts", "--dataset", "imagenet",
        "--data", str(root), "--out", str(out), "--channels", "4", "--layers", "5",
        "--batch-size", "4", "--epochs", "2", "--warmup", "1", "--eval-batches", "1",
        "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, env=ENV, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["rank_arch_max_diff"] == 0.0
    scales = summary["edge_scales"]
    assert set(scales) == {"normal", "reduce"} and all(len(v) == 14 for v in scales.values())
    assert sum(scales["normal"][:2]) == pytest.approx(1.0)
    Genotype.load(out / "genotype.json")
    assert read_file_list(out / TRAIN_FILES).classes == tuple(f"n{k:08d}" for k in range(4))
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert epochs[-1]["edge_scales"] == scales
