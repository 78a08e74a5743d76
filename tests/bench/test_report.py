"""The comparison's figures and the small outputs around it: ``accuracy.png``'s titles stay
apart and show chance, ``bench compare --device`` reaches every run, and ``bench cost``'s table
is printed whole off a terminal."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from factornas.bench import cost
from factornas.bench.compare import run as compare_run
from factornas.bench.compare.results import SettingsRecord, load_results
from factornas.bench.compare.settings import CompareSettings
from factornas.bench.compare_worker import run_job
from factornas.bench.report import accuracy_figure
from factornas.cli import main
from factornas.errors import FactorNASError

COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "adarts-full"


def assert_apart(figure: Any, texts: list[Any]) -> None:
    """The texts are drawn whole inside the figure, and no two of them overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()  # lays the figure out as saving does
    boxes = [text.get_window_extent(canvas.get_renderer()) for text in texts]
    page = figure.bbox
    for box in boxes:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)


@pytest.mark.parametrize("arms", [2, 4])
def test_the_accuracy_figure_s_titles_stay_apart_and_chance_is_drawn(arms: int) -> None:
    """Two arms (the quick budget's adarts and flat) made the narrowest figure, whose
    difference panels' titles ran into each other."""
    pytest.importorskip("matplotlib")
    results = load_results(COMMITTED / "results.json")
    kept = results.arms[:arms]
    comparisons = [c for c in results.comparisons if c.arm in {a.key for a in kept}]
    figure = accuracy_figure(kept, comparisons, results.settings.seeds, 10.0)
    titles = [ax.title for ax in figure.axes]
    assert all(t.get_text() for t in titles)
    assert_apart(figure, [*titles, *figure.texts])  # and the figure's own title
    for ax in figure.axes[:2]:  # the accuracy panels: a dashed line at 10 %
        (chance,) = [line for line in ax.lines if line.get_linestyle() == "--"]
        assert list(chance.get_ydata()) == [10.0, 10.0]
        assert "chance 10 %" in [t.get_text() for t in ax.texts]


# -- bench compare --device ----------------------------------------------------------------------
def test_the_device_is_a_setting_the_command_and_the_results_keep() -> None:
    from factornas.bench.budgets import BUDGETS

    settings = CompareSettings(
        space="adarts", baselines=("flat",), seeds=3, sizes=BUDGETS["quick"], device="cuda:1"
    )
    assert settings.command(Path("x"), as_json=False).endswith("--device cuda:1 --out x")
    cpu = settings.model_copy(update={"device": "cpu"})
    assert "--device" not in cpu.command(Path("x"), as_json=False)
    record = {**settings.model_dump(mode="json"), "budget": "quick", "overrides": {}}
    on_gpu = SettingsRecord.model_validate(record)
    assert on_gpu.model_dump(mode="json")["device"] == "cuda:1"
    on_cpu = SettingsRecord.model_validate({**record, "device": "cpu"})
    assert "device" not in on_cpu.model_dump(mode="json")  # results as before --device
    committed = load_results(COMMITTED / "results.json")
    assert committed.settings.device == "cpu"


def test_every_run_s_job_carries_the_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factornas.bench.arms import build_arms
    from factornas.bench.budgets import BUDGETS

    jobs: list[dict[str, Any]] = []

    def call(argv: list[str], **_: Any) -> int:
        jobs.append(json.loads(Path(argv[-1]).read_text()))
        return 3  # fail: nothing is run here

    monkeypatch.setattr(compare_run.subprocess, "call", call)
    settings = CompareSettings(
        space="adarts", baselines=(), seeds=2, sizes=BUDGETS["quick"], device="cuda:1"
    )
    with pytest.raises(FactorNASError, match="exit status 3"):
        compare_run.run_pair(build_arms("adarts", ())[0], 0, settings, tmp_path)
    assert [(job["task"], job["device"]) for job in jobs] == [("search", "cuda:1")]


def test_the_worker_runs_on_the_job_s_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factornas.evaluate import data as retrain_data
    from factornas.evaluate import train as retrain_loop
    from factornas.evaluate.config import RetrainConfig
    from factornas.presets.search import search_preset
    from factornas.search import loop

    seen: dict[str, Any] = {}
    monkeypatch.setattr(loop, "run_search", lambda *a, **k: seen.update(search=k["device"]))
    monkeypatch.setattr(retrain_data, "build_retrain_data", lambda config, device: device)
    monkeypatch.setattr(retrain_loop, "retrain", lambda *a, **k: seen.update(retrain=k["device"]))
    base = {"out": str(tmp_path), "threads": 1, "device": "cuda:1"}
    config = search_preset("darts").model_dump(mode="json")
    run_job({**base, "task": "search", "config": config})
    genotype = load_results(COMMITTED / "results.json").arms[0].runs[0].search.genotype
    retrain = {"config": RetrainConfig().model_dump(mode="json"), "genotype": genotype.model_dump()}
    run_job({**base, "task": "retrain", **retrain})
    assert seen == {"search": "cuda:1", "retrain": torch.device("cuda:1")}
    assert json.loads((tmp_path / "bench_process.json").read_text())["task"] == "retrain"


def test_resuming_on_another_device_is_refused_naming_the_flag(tmp_path: Path) -> None:
    from factornas.bench.budgets import BUDGETS

    cpu = CompareSettings(space="adarts", baselines=(), seeds=2, sizes=BUDGETS["quick"])
    (tmp_path / compare_run.SIZES_RECORD).write_text(json.dumps(compare_run._sizes_record(cpu)))
    compare_run._check_same_sizes(tmp_path, cpu)  # the same: resumes
    gpu = cpu.model_copy(update={"device": "cuda"})
    with pytest.raises(FactorNASError, match=r"--device cuda \(was cpu\)"):
        compare_run._check_same_sizes(tmp_path, gpu)
    (tmp_path / compare_run.SIZES_RECORD).write_text(json.dumps(compare_run._sizes_record(gpu)))
    with pytest.raises(FactorNASError, match=r"--device cpu \(was cuda\)"):
        compare_run._check_same_sizes(tmp_path, cpu)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_compare_on_cuda_without_cuda_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    argv = ["bench", "compare", "--space", "adarts", "--quick", "--device", "cuda"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA is not available" in err
    assert not out.exists()


# -- bench cost's table off a terminal -----------------------------------------------------------
def test_bench_cost_prints_its_whole_table_into_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under ``> log`` rich assumed 80 columns and folded the rightmost cells onto more lines."""

    def worker(job: dict[str, Any]) -> dict[str, Any]:
        return {
            "preset": job["preset"], "weights": 1_934_762, "arch_parameters": 1_120,
            "step_s": [12.5] * job["steps"], "cpu_s": [12.5] * job["steps"],
            "start_rss_bytes": 0, "peak_rss_bytes": 2612 * 2**20, "threads": 1,
            "ops_per_step": 123_456, "conv_calls_per_step": 12_345,
        }  # fmt: skip

    monkeypatch.setattr(cost, "_run_worker", worker)
    monkeypatch.setenv("COLUMNS", "80")
    argv = ["bench", "cost", "--presets", "darts,adarts,flat40", "--steps", "2"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if "arch params" in line)
    assert max(len(line) for line in lines) > 80
    assert all(name in header for name in ("step s", "× darts", "peak MB", "weights"))
    for preset in ("darts", "adarts", "flat40"):
        (row,) = [
            line for line in lines if line.count("│") > 1 and line.split("│")[1].strip() == preset
        ]
        assert "123,456" in row and "12,345" in row and "1,934,762" in row and "1,120" in row
        assert row.count("│") == header.count("┃")  # one line per row, every cell on it
