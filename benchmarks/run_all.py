"""Run every benchmark and print one table of results, ratios and targets.

    python benchmarks/run_all.py                 # everything, 1 thread, best of 3
    python benchmarks/run_all.py --threads 2     # NumPy's BLAS and PyTorch on 2 threads
    python benchmarks/run_all.py --quick         # smaller data, 1 repeat: a smoke test
    python benchmarks/run_all.py --only throughput sgd --markdown perf.md --json perf.json
    python benchmarks/run_all.py --repeats 5 --per-round 3   # best of 15 runs of each rival

Each rival of each benchmark runs in its own fresh process (``_worker.py``), on the same data,
in float32, with the same thread count, in ``--repeats`` rounds (each round runs every rival
once, so that a busy moment of a shared machine hits them all; ``--per-round`` times that many
runs in each rival's process). Times are the best of all runs, as ``timeit`` reports (the slower
runs measure the neighbours); the median is kept in the JSON that ``--json`` writes.
benchmarks/RESULTS.md holds the table of the last full run, with notes.

If ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE`` are set they change the BLAS kernels; run
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run_all.py`` to measure
what users get (the table records the kernel threadpoolctl reports).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _common  # noqa: E402

BENCHES = ("throughput", "sgd", "fullbatch", "accuracy", "memory", "startup")
MODULES = {"throughput": "bench_throughput", "sgd": "bench_sgd", "fullbatch": "bench_fullbatch",
           "accuracy": "bench_accuracy", "memory": "bench_throughput"}
MEMORY_RIVALS = ("gdlab", "gdlab-numba", "gdlab-numpy", "torch", "sklearn")


def worker(module, rival, args, memory=False, repeats=None):
    cmd = [sys.executable, os.path.join(HERE, "_worker.py"), module, rival,
           "--threads", str(args.threads), "--repeats", str(repeats or args.repeats),
           "--seeds", str(args.seeds)]
    if args.quick:
        cmd.append("--quick")
    if memory:
        cmd.append("--memory")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        print(f"  {module} {rival}: FAILED ({tail[0]})", file=sys.stderr)
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_bench(name, args):
    if name == "startup":
        import bench_startup

        res = bench_startup.run(runs=5 if args.quick else 20)
        return res, bench_startup.summarize(res, args.threads)
    module = __import__(MODULES[name])
    rivals = MEMORY_RIVALS if name == "memory" else module.RIVALS
    have_c, have_numba = _common.has_c_kernels(), _common.has_numba()
    # leave out a rival that would run the same code as "gdlab", or as another rival
    drop = {"gdlab-numba"} if not (have_c and have_numba) else set()
    if not (have_c or have_numba):
        drop.add("gdlab-numpy")
    rivals = tuple(r for r in rivals if r not in drop)
    res = {}
    if name in ("accuracy", "memory"):
        for rival in rivals:
            print(f"  {name}: {rival} ...", file=sys.stderr, flush=True)
            res[rival] = worker(MODULES[name], rival, args, memory=name == "memory")
    else:
        # rounds: every rival once per round, so that a busy moment of the machine hits them all
        rounds = {rival: [] for rival in rivals}
        for r in range(args.repeats):
            for rival in rivals:
                print(f"  {name}: {rival} (round {r + 1}/{args.repeats}) ...", file=sys.stderr,
                      flush=True)
                rounds[rival].append(worker(MODULES[name], rival, args, repeats=args.per_round))
        res = {rival: merge(runs) for rival, runs in rounds.items()}
    summarize = summarize_memory if name == "memory" else module.summarize
    return res, summarize({k: v for k, v in res.items() if "error" not in v}, args.threads)


def merge(runs):
    """One result from the rounds of a rival: the best time, the median, every time."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    times = [t for r in runs for t in r["times"]]
    out = dict(runs[-1], times=times, seconds=min(times), median=statistics.median(times))
    if "steps" in out:
        out["steps_per_s"] = out["steps"] / out["seconds"]
    return out


def summarize_memory(res, threads):
    rows, checks = [], []
    mb = {k: v["peak_added_mb"] for k, v in res.items()}
    for rival in MEMORY_RIVALS:
        if rival in mb:
            r = res[rival]
            rows.append((f"B5 memory first fit adds, {rival}", f"{mb[rival]:.1f} MB",
                         f"second fit adds {r['warm_peak_added_mb']:.1f} MB; process at "
                         f"{r['rss_before_mb']:.0f} MB before fit"))
    for name in ("gdlab", "gdlab-numba", "gdlab-numpy"):
        if name not in mb:
            continue
        checks.append((f"B5 {name} fit adds", f"{mb[name]:.1f} MB", "< 60 MB", mb[name] < 60))
        for rival in ("torch", "sklearn"):
            if rival in mb:
                checks.append((f"B5 {name} memory vs {rival}", f"{mb[name]:.1f} vs "
                               f"{mb[rival]:.1f} MB", "less", mb[name] < mb[rival]))
    return rows, checks


def fmt_value(v):
    return v if isinstance(v, str) else f"{v:.2f}x"


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join([line, sep] + body)


def report(all_rows, all_checks, info, args):
    v = info["versions"]
    head = [
        f"Measured {datetime.date.today()} on {info['cpu']}, {info['cores']} cores; "
        f"{args.threads} thread(s) for NumPy's BLAS and PyTorch; best of "
        f"{args.repeats * args.per_round}"
        f"{f' ({args.repeats} round(s) of {args.per_round})' if args.per_round > 1 else ''}"
        f"{' (quick mode: smaller data)' if args.quick else ''}.",
        f"Python {v['python']}, NumPy {v['numpy']} with {info['blas']}, PyTorch {v['torch']}, "
        f"scikit-learn {v['scikit-learn']}, numba {v['numba']}; C kernels: {info['c_kernels']}."
        + (f" BLAS environment: {info['openblas_env']}." if info["openblas_env"] else ""),
    ]
    checks = [(n, fmt_value(val), tgt, "yes" if ok else "**no**") for n, val, tgt, ok in all_checks]
    return "\n".join(head) + "\n\n" + table(checks, ("Target", "Measured", "Goal", "Met")) + \
        "\n\n" + table(all_rows, ("Measurement", "Value", "Notes"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --quick)")
    p.add_argument("--per-round", type=int, default=1,
                   help="timed runs of each rival in each round, in its process (default 1)")
    p.add_argument("--seeds", type=int, default=None, help="benchmark 4 seeds (default 5)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES))
    p.add_argument("--json", default=None, help="also write the raw results to this file")
    p.add_argument("--markdown", default=None, help="also write the table to this file")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.seeds = args.seeds or (2 if args.quick else 5)
    info = _common.machine()
    all_rows, all_checks, raw = [], [], {"machine": info, "args": vars(args)}
    for name in BENCHES:
        if name not in args.only:
            continue
        print(f"[{name}]", file=sys.stderr, flush=True)
        res, (rows, checks) = run_bench(name, args)
        raw[name] = res
        all_rows += rows
        all_checks += checks
    text = report(all_rows, all_checks, info, args)
    print(text)
    failed = [f"{name}:{rival}" for name, res in raw.items() if isinstance(res, dict)
              for rival, r in res.items() if isinstance(r, dict) and "error" in r]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1, default=str)
    if args.markdown:
        cmd = "python benchmarks/run_all.py" + (f" --threads {args.threads}"
                                                 if args.threads != 1 else "")
        with open(args.markdown, "w") as f:
            f.write(f"## Performance\n\n{text}\n\nReproduce with `{cmd}`.\n\n{METHOD}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


METHOD = """How it is measured: every rival of every benchmark runs in a fresh process, in float32, with the
same thread count (threadpoolctl for NumPy's BLAS, `torch.set_num_threads`), on the same data
and model, and the rounds interleave the rivals; times are the best of all runs. gdlab is
measured as users call it: `GDClassifier.fit` / `GDRegressor.fit`. `gdlab` uses the C kernels
that `pip install .` compiles; `gdlab-numba` is the same run with those made unimportable, so
that numba's kernels (`gdlab[fast]`) run instead, as where no C compiler was found at install;
`gdlab-numpy` makes both unimportable: NumPy's code alone. The GEMM floor is the 8 matrix
products of each training step alone (3 forward, 3 weight gradients, 2 input gradients), into
preallocated arrays. Memory: the resident set size sampled every millisecond during `fit` (and
the kernel's high-water mark), minus the size just before `fit`, for the first fit of a fresh
process (lazy imports and first-use set-up included) and for a second one.
"""


if __name__ == "__main__":
    sys.exit(main())
