"""YAML config files (``--config run.yaml``, ``--print-config yaml``): read with PyYAML's safe
loader only, round-tripping as TOML does, every mistake one line naming the file and where."""

from __future__ import annotations

import json
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factornas.cli import main
from factornas.configfile import read_config_file, to_yaml
from factornas.presets.retrain import retrain_recipe
from factornas.presets.search import search_preset
from tests.cli.test_search_configfile import SCALARS, load

needs_yaml = pytest.mark.skipif(find_spec("yaml") is None, reason="needs PyYAML (factornas[yaml])")


def printed(capsys: pytest.CaptureFixture[str], command: list[str], kind: str = "auto") -> str:
    capsys.readouterr()
    assert main([*command, "--print-config", kind]) == 0
    return capsys.readouterr().out


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@needs_yaml
@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_a_printed_yaml_search_config_reads_back_equal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    text = printed(capsys, ["search", "--preset", "adarts", "--epochs", "3"], "yaml")
    assert "betas: [0.5, 0.999]" in text  # lists of plain values stay on one line
    assert "reduce: null" in text  # YAML has null: nothing is left out as in TOML
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    assert load(path).model_dump() == search_preset("adarts").replace(epochs=3).model_dump()
    assert printed(capsys, ["search", "--config", str(path)]) == text  # the file's format


@needs_yaml
def test_a_yaml_file_amends_the_preset_and_flags_amend_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "preset: pc_darts\nepochs: 20\nchannels: 8\ndata:\n  dataset: synthetic\n"
        "levels:\n  - group: op\n    optimizer: {kind: adam, lr: 3.0e-4}\n"
    )
    out = json.loads(printed(capsys, ["search", "--config", str(path), "--channels", "4"], "json"))
    assert out["channels"] == 4  # flag
    assert out["epochs"] == 20 and out["data"]["dataset"] == "synthetic"  # file
    assert out["levels"][0]["optimizer"]["lr"] == 3e-4
    assert out["space"]["partial_channels"] == 4 and out["data"]["train_portion"] == 0.5  # preset


@needs_yaml
def test_a_printed_yaml_train_config_reads_back_equal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = ["train", "--genotype", "darts_v2"]
    text = printed(capsys, [*train, "--recipe", "imagenet", "--epochs", "3"], "yaml")
    path = tmp_path / "retrain.yml"
    path.write_text(text)
    assert printed(capsys, [*train, "--config", str(path)]) == text
    as_json = json.loads(printed(capsys, [*train, "--config", str(path)], "json"))
    assert as_json == retrain_recipe("imagenet").model_copy(update={"epochs": 3}).model_dump(
        mode="json"
    )


MALFORMED = [
    ("epochs: [1,\n", "run.yaml: not valid YAML: expected the node content, but found "
     "'<stream end>' (at line 2, column 1)"),
    ("epochs: 3\nepochs: 4\n", "run.yaml: not valid YAML: key 'epochs' given twice "
     "(at line 2, column 1)"),
    ("epochs: 3\n---\nepochs: 4\n", "run.yaml: not valid YAML: expected a single document in "
     "the stream but found another document (at line 2, column 1)"),
    ("x: !custom 1\n", "run.yaml: not valid YAML: could not determine a constructor for the tag "
     "'!custom' (at line 1, column 4)"),
    ("epochs: 3\x00\n", "run.yaml: not valid YAML: unacceptable character #x0000"),
    ("- epochs\n", "run.yaml: expected a table of settings, got list"),
    ("epochz: 3\n", "run.yaml: epochz: unknown setting; did you mean 'epochs'?"),
    ("epochs: many\n", "run.yaml: epochs: Input should be a valid integer"),
    ("data:\n  subset: 2020-01-01\n", "run.yaml: data.subset: Input should be a valid integer"),
    ("levels:\n  - group: activation\n    optimizer: {kind: adam, lr: -1.0}\n",
     "run.yaml: levels.activation.optimizer.lr: Input should be greater than 0"),
    ("1: 3\n", "run.yaml: 1: Keys should be strings"),
    ("[" * 5000, "run.yaml cannot be read as a YAML config (nested too deeply)"),
]  # fmt: skip


@needs_yaml
@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_yaml_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # messages name the file as given
    (tmp_path / "run.yaml").write_text(text)
    argv = ["search", "--preset", "adarts", "--config", "run.yaml", "--out", "run"]
    assert one_error_line(capsys, argv).startswith(f"error: {message}")
    assert not (tmp_path / "run").exists()


@needs_yaml
@pytest.mark.parametrize(
    "tag", ["!!python/object/apply:os.system", "!!python/name:os.system", "!!python/object:x.Y"]
)
def test_a_python_tag_is_refused_and_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tag: str
) -> None:
    monkeypatch.chdir(tmp_path)
    evidence = tmp_path / "ran"
    (tmp_path / "run.yaml").write_text(f"epochs: 3\ndata: {tag} [touch {evidence}]\n")
    argv = ["search", "--preset", "adarts", "--config", "run.yaml", "--print-config"]
    assert one_error_line(capsys, argv) == (
        f"error: run.yaml: the YAML tag {tag} (at line 2, column 7) builds a Python object; a "
        "config file holds plain settings only"
    )
    assert not evidence.exists()


@needs_yaml
def test_an_empty_yaml_file_is_an_empty_table(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text("# nothing set yet\n")
    assert read_config_file(tmp_path / "run.yaml") == {}


def test_without_pyyaml_a_yaml_config_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` raises ImportError
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 3\n")
    assert one_error_line(capsys, ["search", "--preset", "adarts", "--config", str(path)]) == (
        f"error: {path}: reading YAML configs needs PyYAML: pip install 'factornas[yaml]'"
    )
    assert one_error_line(capsys, ["search", "--preset", "adarts", "--print-config", "yaml"]) == (
        "error: writing YAML configs needs PyYAML: pip install 'factornas[yaml]'"
    )
    assert main(["search", "--preset", "adarts", "--print-config", "toml"]) == 0  # TOML needs none


YAML_DATA = st.recursive(
    SCALARS | st.none(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


@needs_yaml
@settings(max_examples=300, deadline=None, derandomize=True)  # the same tables every run
@given(st.dictionaries(st.text(max_size=6), YAML_DATA, max_size=4))
def test_yaml_writer_round_trips_any_table(data: dict[str, object]) -> None:
    import yaml

    assert yaml.safe_load(to_yaml(data)) == data


@needs_yaml
def test_yaml_writer_keeps_what_yaml_would_retype() -> None:
    """Strings that YAML 1.1 reads as something else are quoted; long ones are not folded."""
    import yaml

    tricky = {
        "on": "yes",
        "n": "null",
        "d": "2020-01-01",
        "f": "3e-4",
        "o": "0o17",
        "long": "a " * 80,
    }
    text = to_yaml(tricky)
    assert yaml.safe_load(text) == tricky
    assert len(text.splitlines()) == len(tricky)  # one line per setting
