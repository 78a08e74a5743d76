"""Nothing of the user's is ever lost (issue #20): a directory that is not ours is refused,
``--overwrite`` deletes only what a run wrote, no file is written through a planted link, and a
killed write's temporaries do not outlive the next run.

Every refusal is one ``error:`` line with exit status 2, and every file that was there before —
including files outside the run directory that a link points to — is byte-identical after."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from factornas.cli import main
from factornas.runtime.owned import MARKER, claim, read_marker
from tests.reliability.conftest import TINY_SEARCH, TINY_TRAIN, one_line_error, snapshot

USERS = {"config.json": '{"mine": 1}\n', "metrics.jsonl": '{"epoch": 7}\n', "notes.txt": "x\n"}


def _users_dir(root: Path) -> Path:
    """A directory of the user's own files, named as a run's would be."""
    root.mkdir(parents=True)
    for name, text in USERS.items():
        (root / name).write_text(text)
    (root / "figures").mkdir()
    (root / "figures" / "plot.png").write_bytes(b"the user's picture")
    return root


def _search(out: Path, *extra: str) -> list[str]:
    return [*TINY_SEARCH, *extra, "--out", str(out)]


def _train(out: Path, *extra: str) -> list[str]:
    return [*TINY_TRAIN, "--genotype", "darts_v2", *extra, "--out", str(out)]


def _compare(out: Path) -> list[str]:
    return ["bench", "compare", "--space", "adarts", "--quick", "--out", str(out)]


COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "search": _search,
    "search --overwrite": lambda out: _search(out, "--overwrite"),
    "train": _train,
    "train --overwrite": lambda out: _train(out, "--overwrite"),
    "bench compare": _compare,
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_directory_that_is_not_a_factornas_run_is_refused(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = _users_dir(tmp_path / "proj")
    before = snapshot(tmp_path)
    line = one_line_error(capsys, COMMANDS[command](proj))
    kind = {"search": "search", "train": "train", "bench": "bench-compare"}[command.split()[0]]
    assert line == (
        f"error: {proj} is not empty and is not a factornas {kind} directory: choose an empty "
        "or new --out"
    )
    assert snapshot(tmp_path) == before


def test_show_refuses_a_pictures_folder_of_the_users(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    mine = _users_dir(tmp_path / "mine")
    before = snapshot(tmp_path)
    line = one_line_error(capsys, ["show", str(finished), "--out", str(mine)])
    assert line == (
        f"error: {mine} is not empty and is not a factornas figures directory: choose an empty "
        "or new --out"
    )
    assert snapshot(tmp_path) == before


def test_a_run_directory_of_another_kind_is_refused(
    finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(finished)
    line = one_line_error(capsys, _train(finished, "--overwrite"))
    assert line == (
        f"error: {finished} holds a factornas search directory, not a train one: choose "
        "another --out"
    )
    assert snapshot(finished) == before


def test_the_marker_comes_first_and_records_every_file_of_a_run(
    finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = read_marker(finished)
    assert marker["kind"] == "search" and "--out" in marker["command"]
    on_disk = {p.name for p in finished.iterdir()} - {MARKER}
    assert set(marker["files"]) == on_disk


def test_an_edited_marker_cannot_delete_files_outside_the_run(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    marker = read_marker(finished)
    marker["files"].append("../precious.txt")
    (finished / MARKER).write_text(json.dumps(marker))
    before = {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()}
    line = one_line_error(capsys, _search(finished, "--overwrite"))
    assert "records '../precious.txt', which is not a file inside" in line
    assert precious.read_text() == "keep me"
    # refused before the first deletion: the run's own files are all still there
    assert {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()} == before


def test_a_damaged_marker_is_one_line_and_nothing_is_guessed(
    finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (finished / MARKER).write_text("[]")
    before = snapshot(finished)
    line = one_line_error(capsys, _search(finished, "--overwrite"))
    assert line == (
        f"error: {finished / MARKER} is damaged (not a factornas marker): delete {finished} by "
        "hand if nothing in it is yours, or choose another --out"
    )
    assert snapshot(finished) == before


def test_train_overwrite_keeps_the_users_files(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(_train(out)) == 0
    (out / "notes.txt").write_text("mine")
    assert main(_train(out, "--overwrite", "--seed", "3")) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 3


# -- links -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [".lock", "metrics.jsonl", "checkpoint.pt", "config.json"])
def test_a_planted_link_among_a_runs_files_is_refused_and_its_target_untouched(
    name: str, resumable: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "target.txt"
    target.write_text("the user's file\n")
    (resumable / name).unlink(missing_ok=True)
    (resumable / name).symlink_to(target)
    before = snapshot(tmp_path)
    line = one_line_error(capsys, _search(resumable))
    assert line == (
        f"error: {resumable / name} is a symbolic link: factornas writes only files it creates "
        "itself; remove the link, or choose another path"
    )
    assert snapshot(tmp_path) == before and target.read_text() == "the user's file\n"


def test_a_link_at_a_temporary_name_is_never_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.1 wrote ``.config.json.tmp`` and followed a link planted there; temporaries now have
    unique names created with ``O_EXCL | O_NOFOLLOW``, and a stale-looking link is removed,
    never written through."""
    target = tmp_path / "target.txt"
    target.write_text("the user's file\n")
    out = tmp_path / "run"
    claim(out, "search")
    for name in (".config.json.tmp", ".checkpoint.pt.tmp-1", ".summary.json.tmp"):
        (out / name).symlink_to(target)
    assert main(_search(out)) == 0
    assert target.read_text() == "the user's file\n"
    assert not [p for p in out.iterdir() if p.is_symlink()]


# -- temporaries -----------------------------------------------------------------------------
STALE = (".checkpoint.pt.tmp-4242", ".checkpoint.pt.k3j2h1x_.tmp", ".config.json.tmp")


@pytest.mark.parametrize("how", ["resume", "overwrite"])
def test_a_killed_writes_temporaries_go_with_the_next_run(
    how: str, request: pytest.FixtureRequest
) -> None:
    out: Path = request.getfixturevalue("resumable" if how == "resume" else "finished")
    for name in STALE:
        (out / name).write_bytes(b"\0" * 1024)  # what a SIGKILL mid-write leaves
    (out / ".notes.tmp").write_text("the user's, despite the name")
    assert main(_search(out, *(["--overwrite"] if how == "overwrite" else []))) == 0
    left = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert left == [MARKER, ".notes.tmp"]


def test_a_search_diverging_before_its_first_checkpoint_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs" / "diverged"
    line = one_line_error(capsys, _search(out, "--lr", "1e6", "--epochs", "2"))
    assert line.startswith("error: the search diverged") and "no checkpoint was written" in line
    assert not (tmp_path / "runs").exists()  # created for this run, removed with it


def test_a_refused_fresh_run_in_an_existing_empty_directory_leaves_it_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    one_line_error(capsys, _search(out, "--subset", "100000"))
    assert list(out.iterdir()) == []


# -- plug-ins --------------------------------------------------------------------------------
def _plugin_config(tmp_path: Path, body: str = "") -> tuple[Path, Path]:
    """A config file listing a plug-in that leaves a file behind when imported."""
    evidence = tmp_path / "imported.txt"
    plugin = tmp_path / "evil.py"
    plugin.write_text(
        f"from pathlib import Path\nPath({str(evidence)!r}).write_text('ran')\n{body}"
    )
    config = tmp_path / "run.toml"
    config.write_text('preset = "darts"\nplugins = ["evil.py"]\n')
    return config, evidence


@pytest.mark.parametrize(
    "extra",
    [["--out", "OUT"], ["--print-config"], ["--print-config", "json"]],
    ids=["search", "print-config", "print-config-json"],
)
def test_a_config_files_plugins_are_not_imported_unasked(
    extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, evidence = _plugin_config(tmp_path)
    argv = [
        "search",
        "--config",
        str(config),
        *[str(tmp_path / "o") if a == "OUT" else a for a in extra],
    ]
    line = one_line_error(capsys, argv)
    assert line == (
        f"error: {config} lists plug-ins (evil.py), which run code when imported: pass "
        "--allow-plugins to import them, or give each with --plugin"
    )
    assert not evidence.exists() and not (tmp_path / "o").exists()


def test_train_refuses_a_config_files_plugins_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, evidence = _plugin_config(tmp_path)
    config.write_text('recipe = "cifar10"\nplugins = ["evil.py"]\n')
    line = one_line_error(capsys, [*_train(tmp_path / "o"), "--config", str(config)])
    assert "lists plug-ins (evil.py), which run code when imported" in line
    assert not evidence.exists()


def test_allow_plugins_imports_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, evidence = _plugin_config(tmp_path)
    argv = ["search", "--config", str(config), "--allow-plugins", "--print-config"]
    assert main(argv) == 0
    assert evidence.read_text() == "ran"


@pytest.mark.parametrize("code", ["0", "3", "'bye'"])
def test_a_plugin_that_exits_while_imported_is_an_error_naming_it(
    code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = tmp_path / f"quits{code.strip(chr(39))}.py"
    plugin.write_text(f"import sys\nsys.exit({code})\n")
    line = one_line_error(capsys, ["search", "--preset", "darts", "--plugin", str(plugin)])
    assert line == (
        f"error: plugin {plugin} exited while being imported (SystemExit({eval(code)!r})): a "
        "plug-in must only define and register things"
    )


# -- unreadable checkpoints ----------------------------------------------------------------------
def test_an_unreadable_checkpoint_is_not_called_corrupt(
    resumable: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = resumable / "checkpoint.pt"
    checkpoint.chmod(0)
    if os.access(checkpoint, os.R_OK):  # root reads anything: deny it as the kernel would
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda p, m: False if Path(p) == checkpoint else real_access(p, m)
        )
    before = {checkpoint: checkpoint.read_bytes()}
    line = one_line_error(capsys, _search(resumable))
    checkpoint.chmod(0o644)
    assert line == (
        f"error: checkpoint {checkpoint} cannot be read (permission denied): give this user "
        "read access to it (chmod u+r), or run as its owner"
    )
    assert "delete" not in line and checkpoint.read_bytes() == before[checkpoint]
