"""``factornas bench compare``: a factorized space against its flat twin and fixed-factor
baselines, on the same data (Fashion-MNIST or CIFAR-10) with the same budget
(:mod:`factornas.bench.budgets`), over several seeds.

For every (arm, seed) the harness runs a search and then retrains the derived genotype, each
in its own process (:mod:`factornas.bench.compare_worker`), into ``OUT/runs/<arm>/seed<k>/
{search,retrain}``. Those are ordinary factornas run directories, so a comparison that was
interrupted resumes: finished runs are read back, not redone, and a half-done run continues
from its checkpoint. It then reports per arm the search's per-step cost and peak memory, the
supernet's validation accuracy, the agreement of the genotypes across seeds
(:mod:`factornas.bench.stability`) and the retrained test accuracy, and every arm's accuracy
difference to the first with its interval across seeds (:mod:`factornas.bench.differences`),
as ``report.md``, ``results.json`` and figures (:mod:`factornas.bench.report`).
docs/benchmarks.md explains every number.

The modules, by what they do:

* :mod:`~factornas.bench.compare.settings`: :class:`CompareSettings` and the search and
  retraining configs of one (arm, seed);
* :mod:`~factornas.bench.compare.run`: running the pairs (workers, reuse of finished runs,
  resume checks) and :func:`run_compare`, the whole comparison;
* :mod:`~factornas.bench.compare.summary`: per-arm statistics over seeds;
* :mod:`~factornas.bench.compare.results`: the typed model of ``results.json`` and
  :func:`load_results`.

The command line (``factornas bench compare``) is :mod:`factornas.cli.bench_compare`.
Nothing is re-exported here: import from the module that defines a name.
"""
