"""scripts/quickstart.sh without a search: its shell functions, sourced into bash with a PATH
that holds only the programs a case needs (a fake ``id``, ``apt-get`` or ``sudo``), decide where
Fashion-MNIST comes from, fall back to factornas's own download when apt-get cannot be used or
fails, show one line per set-up step, and explain the "no skip_connect" warning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from factornas.data.fashion_mnist import FILES

from .commands import commands, parse_command

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "quickstart.sh"
BASH = shutil.which("bash") or "/bin/bash"


def _program(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """The PATH of a case: ``id`` says a normal user, ``python`` is this interpreter."""
    folder = tmp_path / "bin"
    folder.mkdir()
    _program(folder, "id", 'if [ "$1" = -u ]; then echo 1000; else echo "uid=1000"; fi')
    _program(folder, "python", f'exec {sys.executable} "$@"')
    for tool in ("mkdir", "dirname", "date", "tail"):
        (folder / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    return folder


def _run(bin_dir: Path, code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``code`` after sourcing the script, with no Debian copy of Fashion-MNIST."""
    prelude = (
        f"source {SCRIPT}\n"
        f"debian_data={tmp_path / 'no-debian-copy'}\n"
        f"log={tmp_path / 'run.setup.log'}\n"
        f"data_dir={tmp_path / 'data' / 'fashion-mnist'}\n"
    )
    env = {"PATH": str(bin_dir), "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "HOME": "/"}
    return subprocess.run(
        [BASH, "-c", prelude + code], capture_output=True, text=True, env=env, check=False
    )


def _data_source(bin_dir: Path, tmp_path: Path) -> str:
    result = _run(bin_dir, "data_source", tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_script_is_valid_bash_and_its_commands_parse() -> None:
    assert subprocess.run([BASH, "-n", str(SCRIPT)], check=False).returncode == 0
    found = list(commands(SCRIPT.read_text()))
    assert [arguments[0] for arguments in found] == ["show", "search"]
    for arguments in found:
        parse_command(arguments)


def test_sourcing_the_script_runs_nothing(bin_dir: Path, tmp_path: Path) -> None:
    result = _run(bin_dir, "echo sourced", tmp_path)
    assert (result.returncode, result.stdout) == (0, "sourced\n"), result.stderr
    assert not (tmp_path / "run.setup.log").exists()


def test_debians_copy_is_used_when_it_is_there(bin_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "no-debian-copy").mkdir()
    assert _data_source(bin_dir, tmp_path) == "debian"


def test_without_apt_get_fashion_mnist_is_downloaded(bin_dir: Path, tmp_path: Path) -> None:
    assert _data_source(bin_dir, tmp_path) == "download"


def test_apt_get_needs_root_or_sudo_without_a_password(bin_dir: Path, tmp_path: Path) -> None:
    _program(bin_dir, "apt-get", "exit 0")
    assert _data_source(bin_dir, tmp_path) == "download"  # no sudo
    _program(bin_dir, "sudo", 'echo "a password is required" >&2; exit 1')
    assert _data_source(bin_dir, tmp_path) == "download"
    _program(bin_dir, "sudo", '[ "$1" = -n ] && shift; "$@"')
    assert _data_source(bin_dir, tmp_path) == "apt"
    (bin_dir / "sudo").unlink()
    _program(bin_dir, "id", "echo 0")
    assert _data_source(bin_dir, tmp_path) == "apt"  # root


def _downloaded_already(tmp_path: Path) -> Path:
    """The training files where the download would put them (nothing is fetched then)."""
    folder = tmp_path / "data" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in FILES[True]:
        (folder / f"{name}.gz").write_bytes(b"")
    return folder


@pytest.mark.slow
def test_a_failing_apt_get_falls_back_to_the_download(bin_dir: Path, tmp_path: Path) -> None:
    _program(bin_dir, "id", "echo 0")
    _program(bin_dir, "apt-get", 'echo "E: Unable to locate package"; exit 100')
    folder = _downloaded_already(tmp_path)
    result = _run(bin_dir, 'fetch_data apt; echo "data in $data_dir"', tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].strip().startswith("installing Debian's dataset-fashion-mnist")
    assert lines[0].endswith(" failed")
    assert "downloading Fashion-MNIST instead" in lines[1]
    assert lines[2].strip().startswith("Fashion-MNIST into") and " done (" in lines[2]
    assert lines[3] == f"data in {folder}"
    assert len(lines) == 4  # the installers' words went to the log
    log = (tmp_path / "run.setup.log").read_text()
    assert "E: Unable to locate package" in log and "train-images-idx3-ubyte.gz" in log


def test_a_failing_step_stops_with_the_logs_last_lines(bin_dir: Path, tmp_path: Path) -> None:
    _program(bin_dir, "pip", 'echo "ERROR: No matching distribution found for torch"; exit 1')
    result = _run(bin_dir, 'step "installing torch" pip install torch || die', tmp_path)
    assert result.returncode == 1
    assert result.stdout.strip().startswith("installing torch") and result.stdout.endswith(
        "failed\n"
    )
    assert "No matching distribution found for torch" in result.stderr
    assert str(tmp_path / "run.setup.log") in result.stderr


def test_the_torch_index_is_used_only_when_asked(bin_dir: Path, tmp_path: Path) -> None:
    _program(bin_dir, "python", 'echo "python $*"')
    plain = _run(bin_dir, "install_torch", tmp_path)
    assert plain.stdout == "python -m pip install torch==2.13.0\n", plain.stderr
    cpu = _run(
        bin_dir,
        "FACTORNAS_TORCH_INDEX=https://download.pytorch.org/whl/cpu install_torch",
        tmp_path,
    )
    assert cpu.stdout == (
        "python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu\n"
    )


def test_the_plan_names_every_step_and_its_time(bin_dir: Path, tmp_path: Path) -> None:
    _program(bin_dir, "uname", "echo Linux")
    code = "venv=.venv run_dir=runs/quickstart; print_plan yes download no"
    plan = _run(bin_dir, code, tmp_path).stdout
    for step in ("1. set-up", "2. data", "3. search", "4. result"):
        assert step in plan
    assert plan.count("≈") == 3  # set-up, data, search
    assert "FACTORNAS_TORCH_INDEX=https://download.pytorch.org/whl/cpu" in plan
    assert "run.setup.log" in plan


@pytest.mark.parametrize("skip", [False, True])
def test_the_no_skip_connect_warning_is_explained(
    bin_dir: Path, tmp_path: Path, skip: bool
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"skip_connect_in_normal": skip}))
    result = _run(bin_dir, f"explain_skips {run}", tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("nothing went wrong" in result.stdout) is not skip


@pytest.mark.slow
def test_a_quick_start_without_debian_or_apt_get_downloads_and_searches(
    bin_dir: Path, tmp_path: Path
) -> None:
    """main() from plan to explanation, with a virtual environment whose ``factornas`` only
    says what it was asked and leaves a finished run without a skip connection."""
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "activate").write_text(f'PATH="{venv}:$PATH"\n')
    _program(venv, "python", f'exec {sys.executable} "$@"')
    run = tmp_path / "run"
    _program(
        venv,
        "factornas",
        f'echo "factornas $*"; mkdir -p {run}\n'
        f"echo '{{\"skip_connect_in_normal\": false}}' > {run}/summary.json",
    )
    _program(bin_dir, "uname", "echo Linux")
    folder = _downloaded_already(tmp_path)
    (tmp_path / "clone" / "scripts").mkdir(parents=True)  # main() starts at the clone's root
    code = f"source {SCRIPT}; debian_data={tmp_path / 'no-debian-copy'}; main {run}"
    env = {
        "PATH": str(bin_dir),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": "/",
        "FACTORNAS_VENV": str(tmp_path / "venv"),
        "FACTORNAS_DATA": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [BASH, "-c", code, str(tmp_path / "clone" / "scripts" / "quickstart.sh")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "has torch and factornas already" in out  # nothing to install
    assert f"Fashion-MNIST: download into {folder}" in out
    assert f"What the installers print goes to {run}.setup.log." in out
    assert out.index("4. result") < out.index("Fashion-MNIST into") < out.index("factornas search")
    search = next(line for line in out.splitlines() if line.startswith("factornas search"))
    assert f"--dataset fashion-mnist --data {folder} --subset 2000" in search
    assert "nothing went wrong" in out
