"""Experiment 8: data-parallel gradient descent on 1 and 2 workers (MPI), same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from gdlab.tour.common import Check, Section, figure, finish, fmt, line, new_figure

CLAIM = ("Distributed (data-parallel) gradient descent shares the work of each step across "
         "workers and gives the same result as one worker on the same global batch.")

SAME = 1e-8          # max |parameter difference| (float64) that counts as the same result
SPEEDUP = 1.2        # 2 workers must be at least this much faster per step to "share the work"
BATCH, LR = 64, 0.1


def availability() -> str | None:
    """None when MPI can run here, else the reason it cannot."""
    import importlib.util

    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'gdlab[mpi]')"
    try:
        from gdlab.launch import find_mpiexec

        find_mpiexec()
    except (FileNotFoundError, ImportError) as exc:
        return str(exc)
    return None


def _launch(workers, out, epochs):
    from gdlab.launch import MPICH_WAIT_SETTINGS, mpiexec_command

    cmd = mpiexec_command(workers, ["--out", str(out), "--epochs", str(epochs),
                                    "--batch-size", str(BATCH), "--lr", str(LR)],
                          module="gdlab.tour._dist_worker")
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


def decide(diff, loss_diff, per_step_1, per_step_2):
    speedup = per_step_1 / per_step_2
    return [
        Check("same result", diff <= SAME,
              f"after training, the parameters of 1 and 2 workers differ by at most {diff:.3g} "
              f"(float64; same when ≤ {SAME:g}), the final losses by {loss_diff:.3g}"),
        Check("work is shared", speedup >= SPEEDUP,
              f"a step took {1000 * per_step_1:.3g} ms on 1 worker and {1000 * per_step_2:.3g} ms "
              f"on 2, a speed-up of {speedup:.2f} (shared when ≥ {SPEEDUP:g})"),
    ]


def _draw(runs):
    fig, axes = new_figure(ncols=2, width=11.0, height=4.4)
    ax = axes[0, 0]
    for i, r in enumerate(runs):
        loss = r["loss"]
        ax.plot(np.arange(1, len(loss) + 1), loss, marker="o" if i == 0 else "x", markersize=7,
                label=f"{r['workers']} worker{'s' if r['workers'] > 1 else ''}", **line(i))
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, len(runs[0]["loss"]) + 1, max(1, len(runs[0]["loss"]) // 10)))
    finish(ax, "Training loss: 1 vs 2 workers", "epoch", "training loss (cross-entropy, log)")
    ax = axes[0, 1]
    labels = [f"{r['workers']} worker{'s' if r['workers'] > 1 else ''}" for r in runs]
    comm = [1000 * r["allreduce_seconds"] / r["steps"] for r in runs]
    total = [1000 * r["seconds"] / r["steps"] for r in runs]
    compute = [t - c for t, c in zip(total, comm)]
    ax.bar(labels, compute, color=line(0)["color"], label="compute (forward, backward, update)")
    ax.bar(labels, comm, bottom=compute, color=line(1)["color"], hatch="//",
           label="gradient allreduce")
    finish(ax, "Time per step", "workers", "time per step (ms)")
    return fig


def run(ctx) -> Section:
    epochs = 3 if ctx.quick else 20
    base = dict(key="distributed", title="Distributed gradient descent", claim=CLAIM,
                setup=(f"The scikit-learn digits (80% for training, standardised, float64); "
                       f"64-64-10 ReLU network, cross-entropy, plain SGD η = {LR}, global "
                       f"mini-batches of {BATCH} (each of N workers computes the gradient on "
                       f"its 1/N share, then one allreduce sums them), {epochs} epochs, seed 0 "
                       "for the weights and the shuffling. Both runs start through the mpiexec "
                       "next to the Python interpreter (gdlab.launch), one BLAS thread per "
                       "process; the allreduce is timed inside the training loop."))
    reason = availability()
    ctx.start("8 distributed", 2)
    if reason is not None:
        ctx.finish()
        return Section(**base, skipped=True, note=f"Skipped: {reason}.")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = []
            for workers in (1, 2):
                runs.append(_launch(workers, Path(tmp) / f"w{workers}.json", epochs))
                ctx.tick()
    except (RuntimeError, OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        ctx.finish()
        return Section(**base, skipped=True, note=f"Skipped: MPI could not run here ({exc}).")
    one, two = runs
    diff = float(np.max(np.abs(np.array(one["params"]) - np.array(two["params"]))))
    loss_diff = abs(one["loss"][-1] - two["loss"][-1])
    per = [r["seconds"] / r["steps"] for r in runs]
    checks = decide(diff, loss_diff, per[0], per[1])
    rows = [[r["workers"], r["steps"], fmt(r["loss"][-1], 10), fmt(1000 * p),
             fmt(1000 * r["allreduce_seconds"] / r["steps"]),
             f"{100 * r['allreduce_seconds'] / r['seconds']:.1f}%"] for r, p in zip(runs, per)]
    fig = figure("08-distributed", "Left: the loss curves of 1 and 2 workers (they coincide). "
                 "Right: time per step, split into compute and the gradient allreduce.",
                 lambda: _draw(runs))
    ctx.finish()
    return Section(
        **base,
        rule=(f"Supported when the final parameters of 1 and 2 workers differ by ≤ {SAME:g} and "
              f"2 workers take a step at least {SPEEDUP:g}× faster; depends when only the result "
              "matches (then on the compute per step against the cost of the allreduce)."),
        checks=checks,
        columns=["workers", "steps", "final loss", "ms per step", "ms in allreduce per step",
                 "allreduce share"],
        rows=rows,
        metrics={"max_param_diff": diff, "final_loss_diff": loss_diff,
                 "seconds_per_step": {"1": per[0], "2": per[1]}, "speedup": per[0] / per[1],
                 "allreduce_share": {str(r["workers"]): r["allreduce_seconds"] / r["seconds"]
                                     for r in runs}},
        figures=[fig])
