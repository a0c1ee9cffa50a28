"""Thread scaling: B1 and B3 at several thread counts, every rival in the same run.

    python benchmarks/bench_scaling.py                         # B1, B2, B3 at 1 and 2 threads
    python benchmarks/bench_scaling.py --threads 1 2 4 8 16    # a machine with 16 cores
    python benchmarks/bench_scaling.py --only B1 --repeats 3 --quick --markdown scaling.md
    python benchmarks/bench_scaling.py --only B1 --rivals gdlab torch sklearn floor

Protocol (issue 26): for each thread count, each measurement of each rival is a fresh process
started with ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to that
count (the way NumPy and PyTorch users set threads; the worker records the counts the BLAS,
PyTorch and gdlab's kernels then report). In it the rival fits once to warm up (one epoch: the
imports, first-use allocations, numba's cache) and then once more, timed. The table shows the
best of ``--repeats`` (5) such processes; rounds interleave the rivals, so that a busy moment of
a shared machine hits them all. gdlab is measured through ``GDClassifier.fit`` /
``GDRegressor.fit`` as users call it: ``gdlab`` with the C kernels, ``gdlab-numba`` with
numba's (the C build made unimportable), ``gdlab-numpy`` with NumPy's code alone.

B1: MLP 784-256-128-10, Adam, batch 128, one epoch of 60,000 samples, float32; the GEMM floor
is its 8 matrix products a step alone. B2: one epoch of SGD with batch size 1 on the digits
(64-32-10; its speed-ups are those of steps per second). B3: 200 full-batch steps of a
100-64-1 regression network on 20,000 samples (see bench_throughput.py, bench_sgd.py and
bench_fullbatch.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

BENCHES = {"B1": "bench_throughput", "B2": "bench_sgd", "B3": "bench_fullbatch"}
RIVALS = {"B1": ("gdlab", "gdlab-numba", "gdlab-numpy", "torch", "sklearn", "floor"),
          "B2": ("gdlab", "gdlab-numpy", "torch", "sklearn"),
          "B3": ("gdlab", "gdlab-numba", "gdlab-numpy", "torch")}
# (bench, rival, other, at least this speed-up of `rival` over `other`) or, for "floor", at most
TARGETS = [("B1", "gdlab", "torch", 2.0), ("B1", "gdlab", "sklearn", 2.2),
           ("B1", "gdlab", "floor", 1.5), ("B2", "gdlab", "torch", 3.0),
           ("B2", "gdlab", "sklearn", 2.0), ("B3", "gdlab", "torch", 1.3)]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ---- the worker: one rival, one thread count, one fresh process --------------------------------

def worker(bench, rival, quick):
    """Warm-up fit, then one timed fit; returns the result as a dict."""
    if rival.endswith(("-numpy", "-numba")):
        sys.modules["gdlab.kernels._ckernels"] = None  # as if no C compiler had been found
    if rival.endswith("-numpy"):
        sys.modules["numba"] = None
    import importlib

    import _common  # noqa: F401  (the installed gdlab, else the checkout's src/)

    module = importlib.import_module(BENCHES[bench])
    X, y = module.data() if bench == "B2" else module.data(quick)
    fit, entry = module.MAKERS[rival]()
    fit(X, y)  # the warm-up epoch
    t0 = time.perf_counter()
    fit(X, y)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "entry": entry, "threads_seen": threads_seen()}


def threads_seen():
    """The thread counts that the BLAS, PyTorch and gdlab's kernels report in this process."""
    from threadpoolctl import threadpool_info

    seen = {"blas": sorted({lib["num_threads"] for lib in threadpool_info()
                            if lib["user_api"] == "blas"})}
    if sys.modules.get("torch") is not None:
        seen["torch"] = sys.modules["torch"].get_num_threads()
    if sys.modules.get("gdlab.kernels.threads") is not None:
        seen["gdlab_kernels"] = sys.modules["gdlab.kernels.threads"].current()
    c_build = sys.modules.get("gdlab.kernels._ckernels")
    if c_build is not None:  # the BLAS's threaded products that ran on the kernels' pool
        seen["blas_calls_on_kernel_threads"] = c_build.blas_calls_shared()
    return seen


# ---- the driver -----------------------------------------------------------------------------

def measure(bench, rival, threads, quick):
    env = {**os.environ, **{name: str(threads) for name in THREAD_VARS}}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", bench, rival]
    if quick:
        cmd.append("--quick")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        print(f"  {bench} {rival} at {threads}: FAILED ({tail[0]})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args):
    """{bench: {threads: {rival: best result}}}, every rival in every round."""
    import _common

    have_c, have_numba = _common.has_c_kernels(), _common.has_numba()
    drop = ({"gdlab-numba"} if not (have_c and have_numba) else set()) | (
        {"gdlab-numpy"} if not (have_c or have_numba) else set())
    results = {}
    for bench in args.only:
        rivals = [r for r in RIVALS[bench] if r not in drop
                  and (args.rivals is None or r in args.rivals)]
        results[bench] = {}
        for threads in args.threads:
            runs = {rival: [] for rival in rivals}
            for r in range(args.repeats):
                for rival in rivals:
                    print(f"  {bench} {rival} at {threads} thread(s), process {r + 1}/"
                          f"{args.repeats} ...", file=sys.stderr, flush=True)
                    got = measure(bench, rival, threads, args.quick)
                    if got is not None:
                        runs[rival].append(got)
            results[bench][threads] = {
                rival: dict(min(done, key=lambda d: d["seconds"]),
                            times=[d["seconds"] for d in done])
                for rival, done in runs.items() if done}
            save_json(args, results)  # what is measured so far survives a run cut short
    return results


def save_json(args, results, info=None):
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "args": vars(args), "results": results}, f, indent=1,
                      default=str)


def ratio(t, rival, other):
    """other's time over rival's (a speed-up), or rival's over the floor's."""
    if rival not in t or other not in t:
        return None
    return t[rival] / t[other] if other == "floor" else t[other] / t[rival]


def table(results, thread_counts):
    lines = []
    for bench, per_threads in results.items():
        rivals = [r for r in RIVALS[bench] if any(r in v for v in per_threads.values())]
        head = ["", *(f"{n} thread{'s' * (n > 1)}" for n in thread_counts)]
        if len(thread_counts) > 1:
            head.append(f"speed-up {thread_counts[0]} -> {thread_counts[-1]}")
        rows = []
        for rival in rivals:
            ts = [per_threads.get(n, {}).get(rival, {}).get("seconds") for n in thread_counts]
            row = [f"{bench} {rival}", *("-" if s is None else f"{s:.3f} s" for s in ts)]
            if len(thread_counts) > 1:
                row.append("-" if None in (ts[0], ts[-1]) else f"{ts[0] / ts[-1]:.2f}x")
            rows.append(row)
        for b, rival, other, need in TARGETS:
            if b != bench:
                continue
            cells = []
            for n in thread_counts:
                t = {k: v["seconds"] for k, v in per_threads.get(n, {}).items()}
                r = ratio(t, rival, other)
                ok = r is not None and (r <= need if other == "floor" else r >= need)
                cells.append("-" if r is None else f"{r:.2f}x{'' if ok else ' (**no**)'}")
            what = (f"{rival} / GEMM floor (<= {need}x)" if other == "floor"
                    else f"{rival} over {other} (>= {need}x)")
            rows.append([f"{bench} {what}", *cells] + ([""] if len(thread_counts) > 1 else []))
        widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
        lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
                  for r in rows]
        lines.append("")
    return "\n".join(lines)


def reproduce(args):
    """The command line that measures this table again."""
    cmd = ["python benchmarks/bench_scaling.py", "--threads", *map(str, args.threads)]
    if args.only != sorted(BENCHES):
        cmd += ["--only", *args.only]
    if args.rivals:
        cmd += ["--rivals", *args.rivals]
    if args.repeats != 5:
        cmd += ["--repeats", str(args.repeats)]
    return " ".join(cmd + (["--quick"] if args.quick else []))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", nargs=2, metavar=("BENCH", "RIVAL"), help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=5, help="fresh processes per rival (5)")
    p.add_argument("--only", nargs="+", choices=sorted(BENCHES), default=sorted(BENCHES))
    p.add_argument("--rivals", nargs="+", default=None,
                   help="measure only these rivals (default: all of each benchmark's)")
    p.add_argument("--quick", action="store_true", help="smaller data: a smoke test")
    p.add_argument("--json", default=None)
    p.add_argument("--markdown", default=None)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.quick)))
        return 0
    import _common

    info = _common.machine()
    results = run(args)
    v = info["versions"]
    text = (f"Measured {datetime.date.today()} on {info['cpu']}, {info['cores']} cores; "
            f"best of {args.repeats} fresh processes per rival and thread count"
            f"{' (quick mode: smaller data)' if args.quick else ''}; NumPy {v['numpy']} with "
            f"{info['blas']}, PyTorch {v['torch']}, scikit-learn {v['scikit-learn']}, numba "
            f"{v['numba']}; C kernels: {info['c_kernels']}.\n\n"
            + table(results, args.threads)
            + f"\nReproduce with `{reproduce(args)}`.\n")
    print(text)
    save_json(args, results, info)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
