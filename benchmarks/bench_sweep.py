"""Benchmark: the wall time of a 12-configuration ``gdlab compare`` sweep at ``--jobs 1`` and
``--jobs 2`` (and any other counts given), each a fresh ``gdlab compare`` process, best of
``--repeats`` runs per count, the counts interleaved so that a change in the machine's load
hits them alike.

    python benchmarks/bench_sweep.py                      # --jobs 1 and 2, best of 3
    python benchmarks/bench_sweep.py --jobs 1 2 4 --repeats 5 --epochs 60

The sweep: digits, a 256-128 ReLU network, sgd/momentum/adam x batch 32 x lr 0.1/0.01 x 2
seeds = 12 configurations of ``--epochs`` epochs, one BLAS thread each (``--threads 1``, the
sweep's default). Besides the wall time of the whole command (start-up, worker start-up, data
loading in each worker, the report) it prints the sum of the configurations' own training
seconds, and checks that every count gave the same results.csv apart from its time columns.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = ["compare", "--dataset", "digits", "--layers", "256,128", "--optimizers",
         "sgd,momentum,adam", "--batch-sizes", "32", "--lrs", "0.1,0.01", "--seeds", "2",
         "--threads", "1", "--quiet"]
CONFIGURATIONS = 3 * 1 * 2 * 2


def run_sweep(jobs: int, epochs: int, out: str) -> float:
    """Wall seconds of one ``gdlab compare --jobs N`` process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "src") + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "gdlab", *SWEEP, "--epochs", str(epochs),
               "--jobs", str(jobs), "--out", out, "--force"]
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def read_results(out: str):
    with open(os.path.join(out, "results.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    training = sum(float(r["seconds"]) for r in rows)
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in rows], training


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="default: 1 2")
    p.add_argument("--epochs", type=int, default=40, help="epochs per configuration (default: 40)")
    p.add_argument("--repeats", type=int, default=3, help="runs per job count (best of)")
    args = p.parse_args(argv)
    best = {jobs: float("inf") for jobs in args.jobs}
    tables, training = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for jobs in args.jobs:
                out = os.path.join(tmp, f"jobs{jobs}")
                best[jobs] = min(best[jobs], run_sweep(jobs, args.epochs, out))
                tables[jobs], training[jobs] = read_results(out)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"gdlab compare, {CONFIGURATIONS} configurations x {args.epochs} epochs (digits, "
          f"256-128, batch 32), 1 thread each; {cores} cores; best of {args.repeats}")
    print(f"{'jobs':>6} {'wall s':>9} {'speed-up':>9} {'training s (sum)':>17}")
    first = args.jobs[0]
    for jobs in args.jobs:
        print(f"{jobs:>6} {best[jobs]:>9.2f} {best[first] / best[jobs]:>8.2f}x "
              f"{training[jobs]:>17.2f}")
    same = all(tables[jobs] == tables[first] for jobs in args.jobs)
    print("results.csv apart from its time columns: "
          + ("identical at every --jobs" if same else "DIFFERENT"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
