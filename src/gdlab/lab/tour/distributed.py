"""Experiment 8: data-parallel gradient descent on 1 and 2 workers (MPI), same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from gdlab.lab.tour.common import Check, Section, fmt, section_figure
from gdlab.report.plots import colour, finish, new_figure, style

CLAIM = ("Distributed (data-parallel) gradient descent shares the work of each step across "
         "workers and gives the same result as one worker on the same global batch.")

SAME = 1e-8          # max |parameter difference| (float64) that counts as the same result
SPEEDUP = 1.2        # 2 workers must be at least this much faster per step to "share the work"
LR = 0.1
# (name, hidden units, global batch): little and much compute per step
CONFIGS = (("small", 64, 64), ("large", 512, 512))


def availability() -> str | None:
    """None when MPI can run here, else the reason it cannot."""
    import importlib.util

    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'gdlab[mpi]')"
    try:
        from gdlab.distributed.launch import find_mpiexec

        find_mpiexec()
    except (FileNotFoundError, ImportError) as exc:
        return str(exc)
    return None


def _launch(workers, out, epochs, hidden, batch):
    from gdlab.distributed.launch import MPICH_WAIT_SETTINGS, mpiexec_command

    cmd = mpiexec_command(workers, ["--out", str(out), "--epochs", str(epochs),
                                    "--batch-size", str(batch), "--lr", str(LR),
                                    "--hidden", str(hidden)],
                          module="gdlab.lab.tour._dist_worker")
    env = dict(os.environ)
    for key, value in MPICH_WAIT_SETTINGS.items():
        env.setdefault(key, value)
    # one BLAS thread per process in both runs, so that 2 workers use 2 cores and 1 uses 1
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not Path(out).is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"mpiexec with {workers} worker(s) exited with {proc.returncode}: "
                           + " | ".join(tail))
    return json.loads(Path(out).read_text())


def decide(diffs, per_step):
    """Checks from {config: max parameter difference} and {config: (s/step 1 worker, 2)}."""
    worst = max(diffs.values())
    speedups = {c: one / two for c, (one, two) in per_step.items()}
    best = max(speedups, key=speedups.get)
    return [
        Check("same result", worst <= SAME,
              f"after training, the parameters of 1 and 2 workers differ by at most {worst:.3g} "
              f"(float64; same when ≤ {SAME:g})"),
        Check("work is shared", speedups[best] >= SPEEDUP,
              "2 workers against 1 per step: " + "; ".join(
                  f"{c} network {1000 * per_step[c][0]:.3g} → {1000 * per_step[c][1]:.3g} ms, "
                  f"speed-up {speedups[c]:.2f}" for c in per_step)
              + f" (shared when the best speed-up is ≥ {SPEEDUP:g})"),
    ]


def _draw(runs):
    fig, axes = new_figure(ncols=2, width=11.0, height=4.4)
    ax = axes[0, 0]
    for i, (name, workers) in enumerate(runs):
        r = runs[(name, workers)]
        loss = r["loss"]
        ax.plot(np.arange(1, len(loss) + 1), loss, marker="o" if workers == 1 else "x",
                markersize=6, label=f"{name} network, {workers} worker{'s' if workers > 1 else ''}",
                **style(2 * (i // 2) + (workers - 1)))
    ax.set_yscale("log")
    finish(ax, "Training loss: 1 vs 2 workers", "epoch", "training loss (cross-entropy, log)")
    ax = axes[0, 1]
    labels = [f"{name}\n{workers} worker{'s' if workers > 1 else ''}" for name, workers in runs]
    comm = [1000 * r["allreduce_seconds"] / r["steps"] for r in runs.values()]
    total = [1000 * r["seconds"] / r["steps"] for r in runs.values()]
    compute = [t - c for t, c in zip(total, comm)]
    ax.bar(labels, compute, color=colour(0), label="compute (forward, backward, update)")
    ax.bar(labels, comm, bottom=compute, color=colour(1), hatch="//",
           label="gradient allreduce")
    ax.set_yscale("log")
    finish(ax, "Time per step", "network and workers", "time per step (ms, log)")
    return fig


def run(ctx) -> Section:
    epochs = {"small": 3, "large": 4} if ctx.quick else {"small": 20, "large": 30}
    base = dict(key="distributed", title="Distributed gradient descent", claim=CLAIM,
                setup=("The scikit-learn digits (80% for training, standardised, float64); "
                       "two ReLU networks: small = 64-64-10 with global mini-batches of 64 "
                       f"({epochs['small']} epochs), large = 64-512-10 with global mini-batches "
                       f"of 512 ({epochs['large']} epochs): little and much compute per step. "
                       f"Cross-entropy, plain SGD η = {LR}, seed 0 for the weights and the "
                       "shuffling. With N workers each computes the gradient on its 1/N share of "
                       "the global batch, then one allreduce sums them. Every run starts through "
                       "the mpiexec next to the Python interpreter (gdlab.distributed.launch), one BLAS "
                       "thread per process; the allreduce is timed inside the training loop (its time "
                       "includes waiting for the slower worker)."))
    reason = availability()
    ctx.start("8 distributed", 2 * len(CONFIGS))
    if reason is not None:
        ctx.finish()
        return Section(**base, skipped=True, note=f"Skipped: {reason}.")
    runs = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, hidden, batch in CONFIGS:
                for workers in (1, 2):
                    runs[(name, workers)] = _launch(workers, Path(tmp) / f"{name}{workers}.json",
                                                    epochs[name], hidden, batch)
                    ctx.tick()
    except (RuntimeError, OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        ctx.finish()
        return Section(**base, skipped=True, note=f"Skipped: MPI could not run here ({exc}).")
    names = [c[0] for c in CONFIGS]
    diffs = {n: float(np.max(np.abs(np.array(runs[(n, 1)]["params"])
                                    - np.array(runs[(n, 2)]["params"])))) for n in names}
    per_step = {n: tuple(runs[(n, w)]["seconds"] / runs[(n, w)]["steps"] for w in (1, 2))
                for n in names}
    checks = decide(diffs, per_step)
    rows = [[name, workers, r["steps"], fmt(r["loss"][-1], 10), fmt(1000 * r["seconds"] / r["steps"]),
             fmt(1000 * r["allreduce_seconds"] / r["steps"]),
             f"{100 * r['allreduce_seconds'] / r['seconds']:.1f}%"]
            for (name, workers), r in runs.items()]
    fig = section_figure("08-distributed", "Left: loss curves of 1 and 2 workers (each pair coincides). "
                         "Right: time per step, split into compute and the gradient allreduce.",
                         lambda: _draw(runs))
    ctx.finish()
    return Section(
        **base,
        rule=(f"Supported when the final parameters of 1 and 2 workers differ by ≤ {SAME:g} and "
              f"2 workers take a step at least {SPEEDUP:g}× faster on at least one network; "
              "depends when only the result matches (then on the compute per step against the "
              "cost of the allreduce and on free cores)."),
        checks=checks,
        columns=["network", "workers", "steps", "final loss", "ms per step",
                 "ms in allreduce per step", "allreduce share"],
        rows=rows,
        metrics={"max_param_diff": max(diffs.values()), "param_diff": diffs,
                 "seconds_per_step": {n: {"1": a, "2": b} for n, (a, b) in per_step.items()},
                 "speedup": {n: a / b for n, (a, b) in per_step.items()},
                 "allreduce_share": {f"{n}/{w}": r["allreduce_seconds"] / r["seconds"]
                                     for (n, w), r in runs.items()}},
        figures=[fig])
