"""``factornas search --config``: files round-trip, amend presets, lose to flags, load plug-ins,
and every mistake is one line naming the file and the setting."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factornas.cli import main
from factornas.configfile import dump_config, read_config_file, to_toml, tomllib, validate
from factornas.factors.registry import registry
from factornas.presets.search import SEARCH_PRESETS, search_preset
from factornas.search.config import FrozenSpec, LevelConfig, OptimizerConfig, SearchConfig
from factornas.space.config import GroupSpec, SearchSpace
from tests.tiny import TINY_SEARCH_FLAGS

EXAMPLE = Path(__file__).parents[2] / "examples" / "custom_factor_group.toml"
TINY = TINY_SEARCH_FLAGS
#: YAML, where the optional PyYAML is installed (the dev extra has it).
YAML = pytest.param(
    "yaml",
    marks=pytest.mark.skipif(find_spec("yaml") is None, reason="needs PyYAML (factornas[yaml])"),
)


def printed(capsys: pytest.CaptureFixture[str], *argv: str, kind: str = "auto") -> str:
    capsys.readouterr()  # what earlier commands printed
    assert main(["search", *argv, "--print-config", kind]) == 0
    return capsys.readouterr().out


def load(path: Path) -> SearchConfig:
    return validate(SearchConfig, read_config_file(path), str(path))


def unusual_config() -> SearchConfig:
    """Every shape a config can take: None that defaults otherwise, subsets, reduce groups,
    levels with sub-tables, paths."""
    return SearchConfig(
        space=SearchSpace(
            name="mixed",
            normal=(GroupSpec(group="op"), GroupSpec(group="activation")),
            reduce=(GroupSpec(group="op"), GroupSpec(group="activation", candidates=("relu",))),
            inner_group="activation",
        ),
        grad_clip=None,
        levels=(
            LevelConfig(
                group="activation",
                optimizer=OptimizerConfig(kind="adam", lr=1e-5, betas=(0.5, 0.999)),
                period=2,
            ),
            LevelConfig(group="op", frozen=FrozenSpec(from_run=Path("runs/a b"))),
        ),
        eval_batches=3,
    )


@pytest.mark.parametrize("kind", ["toml", "json", YAML])
@pytest.mark.parametrize("name", [*SEARCH_PRESETS, "unusual"])
def test_written_configs_read_back_equal(tmp_path: Path, name: str, kind: str) -> None:
    config = unusual_config() if name == "unusual" else search_preset(name)
    path = tmp_path / f"run.{kind}"
    path.write_text(dump_config(config, kind))
    # Compared as data: a flat space caches freshly fused groups, which never compare equal.
    assert load(path).model_dump() == config.model_dump()


def test_toml_writer_quotes_what_toml_needs() -> None:
    text = to_toml({"a b": 'x "y"\n', "n": [1, 2.5e-9], "t": {"u": True}, "gone": None})
    assert text == '"a b" = "x \\"y\\"\\n"\nn = [1, 2.5e-09]\n\n[t]\nu = true\n'
    tricky = {"0\n": [], "\x7f": "\x7f", "t": {"": {}}}  # a key ending a line, DEL, empty keys
    assert tomllib.loads(to_toml(tricky)) == tricky


@pytest.mark.parametrize("kind", ["toml", "json", YAML])
def test_print_config_round_trips_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    # 20 epochs: pc_darts warms its architecture up for 15, which must end before the last.
    text = printed(capsys, "--preset", "pc_darts", "--epochs", "20", kind=kind)
    path = tmp_path / f"run.{kind}"
    path.write_text(text)
    assert load(path).model_dump() == search_preset("pc_darts").replace(epochs=20).model_dump()
    assert printed(capsys, "--config", str(path)) == text  # the file's format by default


def test_precedence_flag_over_file_over_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.toml"
    path.write_text('epochs = 20\nchannels = 8\n[data]\ndataset = "synthetic"\n')
    out = json.loads(
        printed(
            capsys, "--preset", "pc_darts", "--config", str(path), "--channels", "4", kind="json"
        )
    )
    assert out["channels"] == 4  # flag
    assert out["epochs"] == 20 and out["data"]["dataset"] == "synthetic"  # file
    assert out["batch_size"] == 256 and out["space"]["partial_channels"] == 4  # preset
    assert out["data"]["train_portion"] == 0.5  # the file's [data] amends, not replaces

    path.write_text('preset = "pc_darts"\nepochs = 20\n')  # the file may name its base
    assert json.loads(printed(capsys, "--config", str(path), kind="json")) == (
        search_preset("pc_darts").replace(epochs=20).model_dump(mode="json")
    )


@pytest.mark.slow
def test_a_run_from_the_printed_config_is_the_preset_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "--preset", "adarts", *TINY, "--out", str(tmp_path / "flags")]) == 0
    text = printed(capsys, "--preset", "adarts", *TINY)
    (tmp_path / "run.toml").write_text(text)
    assert main(["search", "--config", str(tmp_path / "run.toml"), "--no-progress",
                 "--out", str(tmp_path / "file")]) == 0  # fmt: skip
    for name in ("config.json", "arch_weights.json", "genotype.json"):
        assert (tmp_path / "flags" / name).read_text() == (tmp_path / "file" / name).read_text()
    # A run directory's config.json is itself a config file.
    run_config = tmp_path / "flags" / "config.json"
    assert printed(capsys, "--config", str(run_config), kind="toml") == text


@pytest.fixture
def attention_plugin() -> Iterator[None]:
    """Forget the example plug-in after the test: its group and its imported module."""
    yield
    registry.unregister("attention")
    for name in [m for m in sys.modules if m.startswith("factornas_plugin_custom_factor_group")]:
        del sys.modules[name]


@pytest.mark.slow
@pytest.mark.usefixtures("attention_plugin")
def test_the_example_plugin_is_searched_from_a_config_file(tmp_path: Path) -> None:
    assert "attention" not in registry
    out = tmp_path / "run"
    code = main(["search", "--config", str(EXAMPLE), "--allow-plugins", "--epochs", "1",
                 "--channels", "4", "--no-progress", "--out", str(out)])  # fmt: skip
    assert code == 0
    genotype = json.loads((out / "genotype.json").read_text())
    factors = [edge["factors"] for node in genotype["normal"]["nodes"] for edge in node]
    conv = [f for f in factors if f]
    assert conv and all(set(f) == {"activation", "attention"} for f in conv)


@pytest.mark.usefixtures("attention_plugin")
def test_plugin_flag_registers_before_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.toml"
    path.write_text('preset = "adarts"\n[[space.normal]]\ngroup = "op"\n'
                    '[[space.normal]]\ngroup = "attention"\n')  # fmt: skip
    plugin = str(EXAMPLE.with_suffix(".py"))
    out = printed(capsys, "--config", str(path), "--plugin", plugin)
    assert f'plugins = ["{plugin}"]' in out and 'group = "attention"' in out


PLUGIN_FAILS = "import does_not_exist_anywhere\n"
MALFORMED = [
    ("run.toml", "epochs = \n", "run.toml: not valid TOML: Invalid value (at line 1, column 10)"),
    ("run.json", '{"epochs": 3,}', "run.json: not valid JSON: Expecting property name enclosed"),
    ("run.toml", "epoch = 3\n", "run.toml: epoch: unknown setting; did you mean 'epochs'? "
     "(`--print-config` lists every setting)"),
    ("run.toml", "lr = 3\n", "run.toml: lr: unknown setting (`--print-config` lists"),
    ("run.json", '{"a\\nb.c": 3}', "run.json: 'a\\nb.c': unknown setting"),  # one line, quoted
    ("run.toml", "[data]\nsubsett = 3\n", "run.toml: data.subsett: unknown setting; did you "
     "mean 'subset'?"),
    ("run.toml", '[[levels]]\ngroup = "op"\nwarmup = 2\n', "run.toml: levels.op.warmup: "
     "unknown setting; did you mean 'warmup_epochs'?"),
    ("run.toml", 'epochs = "many"\n', "run.toml: epochs: Input should be a valid integer"),
    (
        "run.toml",
        '[[levels]]\ngroup = "activation"\n[levels.optimizer]\nkind = "adam"\nlr = -1.0\n',
        "run.toml: levels.activation.optimizer.lr: Input should be greater than 0",
    ),
    (
        "run.toml",
        '[[space.normal]]\ngroup = "op"\n[[space.normal]]\ngroup = "gates"\n',
        "run.toml: space: normal cell: unknown factor group 'gates'; choose one of: ",
    ),
    ("run.ini", "epochs: 3\n", "run.ini: unknown config file type '.ini'; use .toml, .json, "
     ".yaml or .yml"),
    (None, "", "missing.toml: no such config file"),
    ("run.toml", 'plugins = ["broken.py"]\n', "plugin broken.py failed to import "
     "(ModuleNotFoundError: No module named 'does_not_exist_anywhere')"),
    ("run.toml", 'plugins = ["no_such.module"]\n', "plugin no_such.module failed to import "
     "(ModuleNotFoundError: No module named 'no_such')"),
    ("run.toml", "[space]\n", "run.toml: space.normal: Field required"),
    ("run.toml", "[1, 2]", "run.toml: not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "message"), MALFORMED)
def test_malformed_config_files_are_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str | None,
    text: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # messages name the file as given
    (tmp_path / "broken.py").write_text(PLUGIN_FAILS)
    if name is not None:
        (tmp_path / name).write_text(text)
    preset = [] if "space" in text else ["--preset", "adarts"]
    allow = ["--allow-plugins"] if "plugins" in text else []
    code = main(["search", *preset, "--config", name or "missing.toml", *allow, "--out", "run"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {message}"), err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("run.toml", "epochz = 3\n", "run.toml: epochz: unknown setting; did you mean 'epochs'?"),
        ("run.toml", "[space]\nnormall = []\n", "run.toml: space.normall: unknown setting; "
         "did you mean 'normal'?"),
        ("run.json", '{"epochs": 3, "chanels": 4}', "run.json: chanels: unknown setting; did you "
         "mean 'channels'?"),
    ],
)  # fmt: skip
def test_without_a_preset_a_typo_is_named_before_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    """Without a preset the file must give ``space``; a mistyped key is still the first thing
    said, since the missing setting may be the one it meant."""
    (tmp_path / name).write_text(text)
    assert main(["search", "--config", str(tmp_path / name), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path / message}"), err
    assert err[0].endswith("(and 1 more)")  # the missing space.normal / space, still counted


def test_plugin_flag_failure_and_missing_base_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "--preset", "adarts", "--plugin", str(tmp_path / "nope.py")]) == 2
    assert capsys.readouterr().err.startswith(f"error: plugin {tmp_path / 'nope.py'}: no such")
    assert main(["search", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: give --preset NAME, --config FILE, or both\n"
    assert main(["search", "--preset", "adarts"]) == 2
    assert capsys.readouterr().err.startswith("error: --out is required")


SCALARS = (
    st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.text(max_size=8)
)
TOML_DATA = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, derandomize=True)  # the same tables every run
@given(st.dictionaries(st.text(max_size=6), TOML_DATA, max_size=4))
def test_toml_writer_round_trips_any_table(data: dict[str, object]) -> None:
    assert tomllib.loads(to_toml(data)) == data
