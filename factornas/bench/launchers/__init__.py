"""Where ``bench compare`` runs its (arm, seed) pairs: ``--launcher local|ray|slurm``.

* :mod:`~factornas.bench.launchers.launcher`: the :class:`Launcher` protocol, a pair as a task
  (:class:`LaunchTask`) and what comes back of it (:class:`Outcome`);
* :mod:`~factornas.bench.launchers.local`: this machine, ``--jobs`` at once (the default);
* :mod:`~factornas.bench.launchers.ray`: one Ray task per pair, on a cluster or a local Ray;
* :mod:`~factornas.bench.launchers.slurm`: one SLURM job per pair (an array), by submitit;
* :mod:`~factornas.bench.launchers.extras`: the one-line refusal when Ray or submitit is
  missing.

The flags that choose one are :mod:`factornas.cli.bench_launch`.

Every launcher runs the same thing, :func:`factornas.bench.compare.run.run_pair` in the pair's
own run directories, so the results do not depend on the launcher, and the run directories are
the only state: whatever finished is reused by the next invocation, whichever launched it.
Nothing is re-exported here: import from the module that defines a name.
"""
