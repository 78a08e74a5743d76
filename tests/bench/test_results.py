"""``results.json``'s typed model: the committed comparison reads back and dumps back byte for
byte, the report is redrawn from the model alone, and a malformed file is refused in one line
naming the file and the field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from factornas.bench.compare.results import CompareResults, load_results
from factornas.bench.machine import Machine, describe_machine
from factornas.bench.report import render_report
from factornas.errors import FactorNASError

COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "adarts-full"


def raw() -> dict[str, Any]:
    return json.loads((COMMITTED / "results.json").read_text())


def test_the_committed_results_dump_back_byte_for_byte() -> None:
    text = (COMMITTED / "results.json").read_text()
    results = load_results(COMMITTED / "results.json")
    assert results.dumps() == text
    assert results.to_json() == json.loads(text)
    # Written before --jobs: its machine has no ``jobs``, and gets none.
    assert results.machine.jobs is None and '"jobs"' not in text
    assert results.arms[0].runs[0].search.genotype.cell("normal").nodes[0][0].op


def test_the_committed_report_is_redrawn_from_the_typed_results() -> None:
    results = load_results(COMMITTED / "results.json")
    assert render_report(results) == (COMMITTED / "report.md").read_text()


def test_numbers_keep_the_type_they_were_written_with(tmp_path: Path) -> None:
    data = raw()
    data["run_wall_seconds_total"] = 0  # a sum of no process records
    data["arms"][0]["summary"]["test_top1"]["values"] = [62, 62.5, 67.8]
    end = data["machine"].pop("load_average_end")  # today's writer: jobs, then the end
    data["machine"].update(jobs=2, load_average_end=end)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    results = load_results(path)
    assert results.dumps() == path.read_text()
    machine = list(results.to_json()["machine"])
    assert machine[-3:] == ["environment", "jobs", "load_average_end"]


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(path: tuple[str | int, ...]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _set(("arms", 0, "runs", 1, "search", "val_top1"), "high"),
            "malformed at arms.0.runs.1.search.val_top1: expected a number",
        ),
        (_drop(("arms", 2, "summary", "test_top1")), "malformed at arms.2.summary.test_top1: "),
        (_set(("machine", "gpu"), "none"), "malformed at machine.gpu: unknown field"),
        (_set(("arms", 1, "kind"), "mixed"), "malformed at arms.1.kind: "),
        (_set(("format",), 1), "malformed at format: results format 1, this factornas reads"),
        (_drop(("format",)), "malformed at format: results format None"),
    ],
)
def test_a_malformed_file_is_refused_in_one_line(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = copy.deepcopy(raw())
    change(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(FactorNASError) as error:
        load_results(path)
    text = str(error.value)
    assert text.startswith(f"{path} is ") and message in text and "\n" not in text


def test_a_file_that_is_not_json_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"format": 2,')
    with pytest.raises(FactorNASError, match=r"results\.json is not valid JSON: "):
        load_results(path)
    path.write_text("[2]")
    with pytest.raises(FactorNASError, match="malformed at top level: expected a JSON object"):
        load_results(path)


def test_the_machine_record_writes_jobs_and_the_end_only_when_known() -> None:
    machine = describe_machine(2)
    assert machine.threads_per_run == 2 and len(machine.load_average_start) == 3
    start = machine.model_dump(mode="json")
    assert "jobs" not in start and "load_average_end" not in start
    assert list(start)[-2:] == ["load_average_start", "environment"]
    ended = machine.model_copy(update={"load_average_end": [0.5, 0.5, 0.5], "jobs": 3})
    assert list(ended.model_dump(mode="json"))[-3:] == ["environment", "jobs", "load_average_end"]
    assert Machine.model_validate(ended.model_dump(mode="json")) == ended
    on_ray = ended.model_copy(update={"launcher": "ray"})
    assert list(on_ray.model_dump(mode="json"))[-3:] == ["jobs", "launcher", "load_average_end"]


def test_the_results_model_is_the_file_s_top_level() -> None:
    """Every field is in the committed file, in its order, but those written only when there
    are some (failed pairs, a sweep's interval), which come last."""
    later = ["failures", "sweep"]
    assert list(CompareResults.model_fields) == [*raw(), *later]
    assert not set(later) & set(raw())
