"""Generated hostile input for every reader of a user's input (issue #20).

Each command's readers — flags, config files, genotype files, metrics files, run-directory
markers, checkpoints, data files — are fed values and files that hypothesis draws: extreme
numbers, deep nesting, wrong shapes, random bytes, and valid inputs with one part replaced.
Whatever they get, they either work or end in one ``error:`` line with exit status 2 (or the
reader's own :class:`FactorNASError`): never a traceback, never the internal-error line that
marks a bug, never a change to a file that was there. Examples are derandomized (the same on
every run) and few per reader, so the whole file stays within seconds per reader.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factornas.cli import main
from factornas.data import (
    DataConfig,
    load_image_arrays,
    make_fake_cifar10,
    make_fake_fashion_mnist,
)
from factornas.errors import FactorNASError
from factornas.presets.published import published_genotype
from factornas.runtime.checkpoint import load_checkpoint
from factornas.runtime.metrics import read_metrics
from factornas.runtime.owned import MARKER, claim
from factornas.space.genotype import Genotype, parse_darts_genotype
from tests.reliability.conftest import snapshot

FEW = settings(
    max_examples=int(os.environ.get("FACTORNAS_HOSTILE_EXAMPLES", "25")),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Numbers at and past every edge a reader has: signs, zero, int64 and float limits, NaN.
HOSTILE_NUMBERS = st.one_of(
    st.sampled_from([0, -1, 1, 2, 3, 2**31, 2**63, 2**64, 10**22, -(10**22), 10**400]),
    st.integers(),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, 1e-320, -0.0, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
)
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["", " ", "nan", "-inf", "1e999", "0x10", "1_000", "٣", "\0", "-", "--"]),
    st.text(max_size=12),
)
#: Any JSON value, nested a few levels.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | HOSTILE_NUMBERS | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=12,
)
DEEP = ["[" * 100_000, '{"a":' * 100_000, "1" * 5_000, "[" * 50 + "]" * 50]


def _outcome(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, list[str]]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own exit (--help cannot come up here)
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip().splitlines()


def assert_works_or_one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, lines = _outcome(capsys, argv)
    if code == 0:
        return
    assert code == 2, (argv, lines)
    assert len(lines) == 1 and lines[0].startswith("error: "), (argv, lines)
    assert "internal error" not in lines[0], (argv, lines)


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in _leaf_paths(v, (*prefix, k))]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, (*prefix, i))]
    return [prefix]


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replaced(copy[head], rest, new)
    return copy


def one_part_replaced(valid: Any) -> st.SearchStrategy[Any]:
    """``valid`` with one leaf (or the whole of one sub-tree) replaced by a hostile value."""
    paths = _leaf_paths(valid)
    cut = st.sampled_from(paths).flatmap(lambda p: st.integers(0, len(p)).map(lambda n, p=p: p[:n]))
    return st.tuples(cut, JSON_VALUES).map(lambda pair: _replaced(valid, *pair))


# -- flags -----------------------------------------------------------------------------------
SEARCH_FLAGS = ["--epochs", "--batch-size", "--channels", "--layers", "--seed", "--subset",
                "--lr", "--arch-lr", "--warmup", "--eval-batches", "--checkpoint-every",
                "--threshold"]  # fmt: skip
TRAIN_FLAGS = ["--epochs", "--batch-size", "--channels", "--layers", "--seed", "--lr",
               "--drop-path", "--subset", "--test-subset", "--workers"]  # fmt: skip
INFO_FLAGS = ["--channels", "--layers", "--classes", "--in-channels", "--image-size"]
SPACE_FLAGS = ["--channels", "--layers", "--classes"]
FLAG_VALUE = st.one_of(HOSTILE_NUMBERS.map(str), HOSTILE_TEXT)


@FEW
@given(flag=st.sampled_from(SEARCH_FLAGS), value=FLAG_VALUE)
def test_search_flags(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert_works_or_one_line(capsys, ["search", "--preset", "darts", f"{flag}={value}",
                                      "--print-config"])  # fmt: skip


@FEW
@given(flag=st.sampled_from(TRAIN_FLAGS), value=FLAG_VALUE)
def test_train_flags(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert_works_or_one_line(capsys, ["train", "--genotype", "darts_v2", f"{flag}={value}",
                                      "--print-config"])  # fmt: skip


@pytest.mark.slow
@FEW
@given(flag=st.sampled_from(INFO_FLAGS), value=FLAG_VALUE)
def test_info_flags(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["info", "--genotype", "darts_v2", "--channels", "4", "--layers", "3"]
    assert_works_or_one_line(capsys, [*base, f"{flag}={value}"])


@FEW
@given(flag=st.sampled_from(SPACE_FLAGS), value=FLAG_VALUE)
def test_space_flags(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert_works_or_one_line(capsys, ["space", "--preset", "darts", f"{flag}={value}"])


# -- config files ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def search_json() -> dict[str, Any]:
    """A complete, valid search config, as ``--print-config json`` writes it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["search", "--preset", "adarts", "--print-config", "json"]) == 0
    return json.loads(out.getvalue())


@FEW
@given(data=st.data())
def test_search_config_files(
    data: st.DataObject,
    search_json: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = data.draw(one_part_replaced(search_json) | JSON_VALUES)
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(config, allow_nan=True))
    before = snapshot(tmp_path)
    assert_works_or_one_line(capsys, ["search", "--config", str(path), "--print-config"])
    assert snapshot(tmp_path) == before


@FEW
@given(
    text=st.one_of(st.sampled_from(DEEP), st.text(max_size=200)),
    kind=st.sampled_from(["toml", "json", "yaml"]),
)
def test_config_file_text(
    text: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"hostile.{kind}"
    path.write_text(text)
    assert_works_or_one_line(capsys, ["search", "--preset", "darts", "--config", str(path),
                                      "--print-config"])  # fmt: skip


@FEW
@given(raw=st.binary(max_size=200))
def test_config_file_bytes(raw: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hostile.toml"
    path.write_bytes(raw)
    assert_works_or_one_line(capsys, ["train", "--genotype", "darts_v2", "--config", str(path),
                                      "--print-config"])  # fmt: skip


# -- genotype files --------------------------------------------------------------------------
GENOTYPE = published_genotype("darts_v2").model_dump(mode="json")


@FEW
@given(data=st.data())
def test_genotype_files(
    data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genotype = data.draw(one_part_replaced(GENOTYPE) | JSON_VALUES)
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps(genotype, allow_nan=True))
    assert_works_or_one_line(
        capsys, ["info", "--genotype", str(path), "--channels", "4", "--layers", "3"]
    )


@FEW
@given(text=st.one_of(st.sampled_from(DEEP), st.text(max_size=100)))
def test_genotype_text(text: str) -> None:
    try:
        Genotype.from_json(text, source="g.json")
    except FactorNASError as error:
        assert "\n" not in str(error) and "g.json" in str(error)


# -- run-directory files ---------------------------------------------------------------------
@FEW
@given(lines=st.lists(st.one_of(JSON_VALUES.map(json.dumps), st.sampled_from(DEEP)), max_size=3))
def test_metrics_files(lines: list[str], tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    try:
        read_metrics(path)
    except FactorNASError as error:
        assert "\n" not in str(error)


@FEW
@given(marker=st.one_of(JSON_VALUES.map(json.dumps), st.sampled_from(DEEP)))
def test_markers(marker: str, tmp_path: Path) -> None:
    root = tmp_path / "run"
    root.mkdir(exist_ok=True)
    (root / MARKER).write_text(marker)
    before = snapshot(root)
    try:
        claim(root, "search").clear()
    except FactorNASError as error:
        assert "\n" not in str(error)
        assert snapshot(root) == before


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    torch.save({"format": 1, "epoch": 1, "network": {"w": torch.ones(3)}, "rng": [1, 2]}, path)
    return path.read_bytes()


@FEW
@given(data=st.data())
def test_checkpoints(data: st.DataObject, checkpoint_bytes: bytes, tmp_path: Path) -> None:
    raw = bytearray(checkpoint_bytes)
    how = data.draw(st.sampled_from(["truncate", "flip", "random"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    else:
        raw = bytearray(data.draw(st.binary(max_size=300)))
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(bytes(raw))
    try:
        load_checkpoint(path)
    except FactorNASError as error:
        assert "\n" not in str(error)


# -- data files ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fashion_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("fm")
    make_fake_fashion_mnist(root, train_size=8, test_size=4, gzipped=True)
    return {p.name: p.read_bytes() for p in root.iterdir()}


@FEW
@given(data=st.data())
def test_fashion_mnist_files(
    data: st.DataObject, fashion_files: dict[str, bytes], tmp_path: Path
) -> None:
    name = data.draw(st.sampled_from(sorted(fashion_files)))
    raw = bytearray(
        gzip.decompress(fashion_files[name]) if name.endswith(".gz") else fashion_files[name]
    )
    for _ in range(data.draw(st.integers(1, 4))):  # header fields (magic, counts, sizes) first
        raw[data.draw(st.integers(0, min(15, len(raw) - 1)))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    root = tmp_path / "fm"
    root.mkdir(exist_ok=True)
    for other, content in fashion_files.items():
        (root / other).write_bytes(content)
    (root / name).write_bytes(gzip.compress(bytes(raw)) if name.endswith(".gz") else bytes(raw))
    config = DataConfig(dataset="fashion-mnist", root=root)
    try:
        load_image_arrays(config, train=True, seed=0)
        load_image_arrays(config, train=False, seed=0)
    except FactorNASError as error:
        assert "\n" not in str(error)


@FEW
@given(
    text=st.one_of(
        st.sampled_from(DEEP),
        st.text(max_size=80),
        st.sampled_from(["Genotype(normal=range(10**12), normal_concat=[2], reduce=[], "
                         "reduce_concat=[])", "Genotype(normal=[('x', 10**30)] * 8)"]),
    )
)  # fmt: skip
def test_darts_genotype_text(text: str) -> None:
    try:
        parse_darts_genotype(text)
    except FactorNASError as error:
        assert "\n" not in str(error)


@pytest.fixture(scope="module")
def cifar_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("c10")
    folder = make_fake_cifar10(root, train_per_batch=4, test_size=4)
    return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}


@FEW
@given(data=st.data())
def test_cifar10_batches(
    data: st.DataObject, cifar_files: dict[str, bytes], tmp_path: Path
) -> None:
    name = data.draw(st.sampled_from(sorted(cifar_files)))
    raw = bytearray(cifar_files[name])
    for _ in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    folder = tmp_path / "c10" / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for other, content in cifar_files.items():
        (folder / other).write_bytes(content)
    (folder / name).write_bytes(bytes(raw))
    config = DataConfig(dataset="cifar10", root=tmp_path / "c10")
    try:
        load_image_arrays(config, train=True, seed=0)
        load_image_arrays(config, train=False, seed=0)
    except FactorNASError as error:
        assert "\n" not in str(error)
