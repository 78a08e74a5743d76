"""Two ``factornas search`` runs at once against the same two one after the other.

Run: ``python benchmarks/concurrent_runs.py`` (options: ``--help``), on a machine with nothing
else running. On N cores, two runs at once should take at most as long as the two in turn
(ratio concurrent / sequential ≤ 1; about 0.5 when each run uses half the cores). When their
OpenMP threads together outnumber the cores and spin while waiting, the ratio goes well above
1: every operator waits for threads that the other run holds. Compare, for example:

    python benchmarks/concurrent_runs.py --threads torch --wait-policy default   # factornas 0.1
    python benchmarks/concurrent_runs.py --threads torch --wait-policy passive   # now
    python benchmarks/concurrent_runs.py --threads 1 --wait-policy passive

``--threads torch`` gives each run torch's default (one thread per core; ``OMP_NUM_THREADS`` is
removed from the runs' environment), a number gives each ``--threads N``. ``--wait-policy``:
``passive`` or ``active`` sets ``OMP_WAIT_POLICY``; ``default`` starts the command without it
through the library (not ``-m factornas``, which sets ``PASSIVE`` itself), so OpenMP waits as
it does by default. The runs are identical (same seed and settings, each in a directory of
its own); their CPU seconds are printed too: spinning threads burn CPU without progress.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

#: The command line through the library: a process that is not ``factornas`` itself keeps
#: OpenMP's default wait policy (factornas.runtime.wait_policy).
LIBRARY_ENTRY = "import sys; from factornas.cli import main; sys.exit(main(sys.argv[1:]))"
WAIT_POLICIES = ("passive", "active", "default")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="runs started together (2)")
    parser.add_argument(
        "--threads", default="torch", help="each run's --threads, or 'torch' for torch's default"
    )
    parser.add_argument("--wait-policy", choices=WAIT_POLICIES, default="passive")
    parser.add_argument("--preset", default="darts", help="search preset (darts)")
    parser.add_argument("--images", type=int, default=512, help="synthetic images (512)")
    parser.add_argument("--image", type=int, default=32, help="their side (32)")
    parser.add_argument("--channels", type=int, default=8, help="initial channels (8)")
    parser.add_argument("--layers", type=int, default=5, help="search cells (5)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (32)")
    parser.add_argument("--epochs", type=int, default=1, help="search epochs (1)")
    parser.add_argument("--seed", type=int, default=0, help="every run's seed (0)")
    return parser.parse_args(argv)


def search_command(args: argparse.Namespace, config: Path, out: Path) -> list[str]:
    entry = ["-c", LIBRARY_ENTRY] if args.wait_policy == "default" else ["-m", "factornas"]
    command = [
        sys.executable, *entry, "search", "--preset", args.preset, "--dataset", "synthetic",
        "--config", str(config), "--channels", str(args.channels), "--layers", str(args.layers),
        "--batch-size", str(args.batch_size), "--epochs", str(args.epochs), "--seed",
        str(args.seed), "--device", "cpu", "--quiet", "--out", str(out),
    ]  # fmt: skip
    if args.threads != "torch":
        command += ["--threads", str(args.threads)]
    return command


def run_environment(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if args.wait_policy != "default":
        env["OMP_WAIT_POLICY"] = args.wait_policy.upper()
    if args.threads == "torch":
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(name, None)
    return env


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(commands: list[list[str]], env: dict[str, str], together: bool) -> tuple[float, float]:
    """Wall and CPU seconds of ``commands``, started together or one after the other."""
    cpu, started = children_cpu_seconds(), time.perf_counter()
    if together:
        processes = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL) for c in commands]
        codes = [p.wait() for p in processes]
    else:
        codes = [subprocess.run(c, env=env, stdout=subprocess.DEVNULL).returncode for c in commands]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a search failed (exit statuses {codes})")
    return wall, children_cpu_seconds() - cpu


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="factornas-concurrent-") as tmp:
        root = Path(tmp)
        config = root / "data.toml"
        config.write_text(f"[data.synthetic]\nsize = {args.images}\nimage = {args.image}\n")
        env = run_environment(args)
        results = {}
        for mode, together in (("sequential", False), ("concurrent", True)):
            outs = [root / mode / str(i) for i in range(args.runs)]
            commands = [search_command(args, config, out) for out in outs]
            results[mode] = timed(commands, env, together)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"{args.runs} searches ({args.preset}, {args.images} synthetic {args.image}×{args.image} "
        f"images, C={args.channels}, {args.layers} cells, batch {args.batch_size}, "
        f"{args.epochs} epoch(s)); threads {args.threads}, wait policy {args.wait_policy}; "
        f"{os.cpu_count()} cores, load average at the end (1, 5, 15 min) {load}"
    )
    for mode, (wall, cpu) in results.items():
        print(f"{mode:10s}  wall {wall:8.2f} s  cpu {cpu:8.2f} s")
    ratio = results["concurrent"][0] / results["sequential"][0]
    print(f"concurrent / sequential wall time: {ratio:.2f}")


if __name__ == "__main__":
    main()
