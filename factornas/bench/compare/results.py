"""``results.json``, format 2: the typed record of one comparison.

:func:`~factornas.bench.compare.run.run_compare` builds a :class:`CompareResults` and writes it
(``--json`` prints the same object on one line); :func:`load_results` reads a file back,
refusing a malformed one in one line that names the file and the field. The report and the
figures (:mod:`factornas.bench.report`) read this model, never the raw dictionary.

The layout, top down (docs/benchmarks.md says what each number measures)::

    CompareResults        format, command, settings, machine, factor_groups, arms, run counts,
    │                     comparisons, figures, wall time
    ├─ SettingsRecord     the CompareSettings, the base budget and its size overrides
    ├─ Machine            factornas.bench.machine
    ├─ ArmResult          one per arm, the searched space's first
    │  ├─ PairResult      one per seed: its SearchResult and RetrainResult (each with the
    │  │                  ProcessRecord of its process, None when the run predates it)
    │  └─ ArmSummary      a Statistic per number over the seeds, and the seeds' Agreement
    └─ Comparison         every arm after the first against it: a MetricDifference per accuracy

Writing is ``json.dumps(results.to_json(), indent=2)`` and a newline: the same bytes as the
plain dictionary the harness wrote before this model, for the same data. Numbers keep the type
they were written with (:data:`Real`), and a ``Machine`` without ``jobs`` (results written
before ``--jobs``) stays without it, as does a ``SettingsRecord`` without ``device`` and
``cuda_graphs`` (a CPU comparison, or one written before ``--device``), so a file loaded and
dumped again is the file. The same holds for what came later: ``failures`` (pairs that did
not finish) and ``sweep`` (a comparison of one arm) are written only when there are some, a
``seeds`` other than 0 to n − 1 as the list of seeds (else the count, as before), and an arm
whose agreement cannot be measured (fewer than two seeds finished) has ``stability`` null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from factornas.bench.arms import ArmKind
from factornas.bench.budgets import BudgetName, Sizes
from factornas.bench.machine import Machine
from factornas.errors import FactorNASError, first_problem, reading
from factornas.files import write_atomic
from factornas.space.genotype import Genotype

#: 2: budgets with overrides, the dataset, and every arm against the first (``comparisons``).
RESULTS_FORMAT: Literal[2] = 2
RESULTS_FILE = "results.json"


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    return value


def _same(value: float) -> float:
    return value


#: A measured or derived number, kept as written: an ``int`` stays an ``int`` (a sum of no
#: seconds is ``0``) and a ``float`` a ``float``, where a plain ``float`` field would turn
#: ``0`` into ``0.0`` and the file would not dump back byte for byte.
Real = Annotated[float, PlainValidator(_number), PlainSerializer(_same, return_type=Any)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Statistic(_Record):
    """A number over seeds: :func:`~factornas.bench.compare.summary.describe`'s mean and sample
    standard deviation (n − 1; 0 for one value), both None for no values."""

    n: int
    mean: Real | None
    std: Real | None
    values: list[Real]


class ProcessRecord(_Record):
    """``bench_process.json`` of one run's process (:mod:`factornas.bench.compare_worker`)."""

    task: Literal["search", "retrain"]
    peak_rss_bytes: int
    start_rss_bytes: int = Field(description="the RSS before the run began")
    wall_seconds: Real
    cpu_seconds: Real
    threads: int


class SearchResult(_Record):
    """One seed's search, from its run directory's ``metrics.jsonl`` and ``summary.json``."""

    run_dir: str = Field(description="relative to the comparison's folder")
    reused: bool = Field(description="found finished, not run by this invocation")
    epochs: int
    step_seconds: Real | None = Field(description="median over the epochs' step_seconds")
    step_seconds_per_epoch: list[Real]
    val_top1: Real = Field(description="the last epoch's supernet val top-1 (%)")
    val_top1_per_epoch: list[Real]
    train_top1: Real
    skip_connect_in_normal: bool
    genotype: Genotype
    process: ProcessRecord | None


class RetrainResult(_Record):
    """One seed's retraining of its search's genotype, from its ``summary.json``."""

    run_dir: str
    reused: bool
    epochs: int
    params: int
    test_top1: Real
    test_top5: Real
    best_test_top1: Real
    process: ProcessRecord | None


class PairResult(_Record):
    """One (arm, seed): the search, then the retraining of what it derived."""

    seed: int
    search: SearchResult
    retrain: RetrainResult


class Agreement(_Record):
    """The seeds' genotypes' agreement (:class:`factornas.bench.stability.Stability`)."""

    pairs: int
    edge_agreement: Real
    factor_agreement: dict[str, Real | None] = Field(description="None: nothing to compare")
    pair_edge_agreement: list[Real]
    pair_factor_agreement: dict[str, list[Real | None]]


class ArmSummary(_Record):
    """An arm's numbers over its seeds (:func:`~factornas.bench.compare.summary.summarize_arm`)."""

    step_seconds: Statistic
    peak_rss_mib: Statistic
    rss_above_start_mib: Statistic
    search_wall_seconds: Statistic
    search_cpu_seconds: Statistic
    val_top1: Statistic
    test_top1: Statistic
    retrain_params: Statistic
    skip_connect_in_normal: int = Field(description="seeds whose normal cell keeps a skip")
    stability: Agreement | None = Field(description="None: fewer than two seeds finished")


class ArmResult(_Record):
    """One arm (:class:`factornas.bench.arms.Arm`), its runs in seed order and its summary."""

    key: str
    kind: ArmKind
    space: str
    description: str
    searched_factors: list[str]
    runs: list[PairResult]
    summary: ArmSummary


class MetricDifference(_Record):
    """One accuracy of two arms paired by seed: the first's minus the other's, per shared
    seed, with the 95 % t-interval of the mean (:mod:`factornas.bench.differences`)."""

    label: str
    seeds: list[int]
    differences: list[Real]
    n: int
    mean: Real
    sd: Real | None
    half_width: Real | None = Field(description="None below two seeds")
    low: Real | None
    high: Real | None
    level: Real
    verdict: str


class Comparison(_Record):
    """An arm against the first, per metric key (``test_top1``, ``val_top1``; a metric with no
    shared seed is left out)."""

    arm: str
    against: str
    metrics: dict[str, MetricDifference]


class SettingsRecord(_Record):
    """The :class:`~factornas.bench.compare.settings.CompareSettings`, with the base budget
    and the size overrides that reproduce its sizes."""

    space: str
    baselines: list[str]
    seeds: int | list[int] = Field(description="a count n: seeds 0 to n − 1; else the seeds")
    sizes: Sizes
    budget: BudgetName
    dataset: str
    data: str | None
    threads: int
    device: str = Field(
        "cpu", description="where the runs trained; written only when not cpu (--device)"
    )
    cuda_graphs: bool = Field(
        False, description="True: the runs replayed CUDA graphs; written only when True"
    )
    overrides: dict[str, int | None] = Field(description="size flag (no --): value, None: all")

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A CPU comparison's record is the one written before ``--device``: without them."""
        data: dict[str, Any] = handler(self)
        if data.get("device") == "cpu":
            del data["device"]
        if data.get("cuda_graphs") is False:
            del data["cuda_graphs"]
        return data


class FailedPair(_Record):
    """An (arm, seed) whose search or retraining did not finish, and why, in one line (the
    launcher's words: a worker's last log line, a killed task, a cluster job's state)."""

    arm: str
    seed: int
    error: str


class SeedInterval(_Record):
    """One accuracy of a seed sweep: its value per seed and the 95 % t-interval of their
    mean (:func:`factornas.bench.intervals.paired_interval` of the values themselves)."""

    label: str
    seeds: list[int]
    values: list[Real]
    n: int
    mean: Real
    sd: Real | None
    half_width: Real | None = Field(description="None below two seeds")
    low: Real | None
    high: Real | None
    level: Real


class Sweep(_Record):
    """A comparison of one arm (``--baselines none``): its accuracies over the seeds, per
    metric key (``test_top1``, ``val_top1``; absent when no seed finished)."""

    arm: str
    metrics: dict[str, SeedInterval]


class CompareResults(_Record):
    """Everything ``results.json`` holds; the report and figures are drawn from it alone."""

    format: Literal[2] = RESULTS_FORMAT
    command: str = Field(description="the command line that reproduces (resumes) this")
    settings: SettingsRecord
    machine: Machine
    factor_groups: list[str]
    arms: list[ArmResult]
    runs_total: int
    runs_reused: int
    run_wall_seconds_total: Real
    comparisons: list[Comparison]
    figures: list[str] = Field(description="paths relative to the comparison's folder")
    figures_note: str | None = Field(description="why there are no figures, if so")
    wall_seconds: Real
    failures: list[FailedPair] = Field(
        default_factory=list, description="pairs that did not finish; written when some"
    )
    sweep: Sweep | None = Field(None, description="one arm: its seeds' interval; else absent")

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Results without failures and of several arms are written as before either existed."""
        data: dict[str, Any] = handler(self)
        if not data.get("failures", True):
            del data["failures"]
        if data.get("sweep", 0) is None:
            del data["sweep"]
        return data

    def to_json(self) -> dict[str, Any]:
        """The plain JSON object, keys in the file's order."""
        return self.model_dump(mode="json")

    def dumps(self) -> str:
        """The text of ``results.json``."""
        return json.dumps(self.to_json(), indent=2) + "\n"

    def write(self, path: str | Path) -> Path:
        return write_atomic(Path(path), self.dumps())


def load_results(path: str | Path) -> CompareResults:
    """Read and validate a ``results.json``; a malformed one raises :class:`FactorNASError`
    in one line naming the file and the field (an unreadable one raises the ``OSError``)."""
    path = Path(path)
    text = path.read_text()
    with reading(path, "comparison results"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise FactorNASError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise FactorNASError(f"{path} is malformed at top level: expected a JSON object")
    if data.get("format") != RESULTS_FORMAT:
        raise FactorNASError(
            f"{path} is malformed at format: results format {data.get('format')!r}, this "
            f"factornas reads format {RESULTS_FORMAT}"
        )
    try:
        return CompareResults.model_validate(data)
    except ValidationError as error:
        where, message = first_problem(error, "top level")
        if error.errors()[0]["type"] == "extra_forbidden":
            message = f"unknown field in results format {RESULTS_FORMAT}"
        message = message.removeprefix("Value error, ")
        raise FactorNASError(f"{path} is malformed at {where}: {message}") from None
