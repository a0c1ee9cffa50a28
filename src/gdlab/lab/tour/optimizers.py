"""Experiment 6: every optimizer on a real dataset (digits), each at a tuned learning rate."""

from __future__ import annotations

import math
import time

import numpy as np

from gdlab.lab.tour.common import Check, Section, digits_note, fmt, section_figure, train
from gdlab.report.plots import colour, finish, new_figure, style

CLAIM = ("Momentum, Adagrad, RMSprop and Adam train a network faster than plain stochastic "
         "gradient descent, each at a well-chosen learning rate.")

# the centre of each optimizer's learning-rate grid (its usual good value)
CENTRES = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 1e-3,
           "adadelta": 1.0, "adamax": 2e-3, "adam": 1e-3, "adamw": 1e-3, "nadam": 2e-3,
           "radam": 1e-3}
NAMED = ("momentum", "adagrad", "rmsprop", "adam")   # the claim's optimizers
TARGETS = {True: 0.92, False: 0.95}   # validation accuracy to reach (quick: half the training data)
FASTER = 0.8           # faster = at most this fraction of SGD's epochs to the target


def _grid(centre, quick):
    factors = (1 / 3, 1, 3) if quick else (1 / 10, 1 / 3, 1, 3, 10)
    return [float(f"{centre * f:.3g}") for f in factors]


class StepsToTarget:
    """Training callback: the first step after which the validation accuracy reaches ``target``.

    Checked after every step (the validation part is small); the time spent checking is kept
    apart, so ``seconds`` is the training time alone.
    """

    def __init__(self, X, y, target):
        self.X, self.y, self.target = X, y, target
        self.step = self.seconds = math.inf
        self._t0 = self._checking = 0.0

    def on_train_begin(self, trainer, logs):
        self._t0 = time.perf_counter()

    def on_step_end(self, trainer, logs):
        if math.isfinite(self.step):
            return
        t = time.perf_counter()
        acc = float(np.mean(np.argmax(trainer.net.forward(self.X, training=False), axis=1)
                            == self.y))
        if acc >= self.target:
            self.step = trainer.step
            self.seconds = t - self._t0 - self._checking
        self._checking += time.perf_counter() - t


def _test_accuracy(net, X, y):
    return float(np.mean(np.argmax(net.predict(X), axis=1) == y))


def decide(steps_to_target, target):
    """Checks: each optimizer of the claim against SGD (median steps to target, inf = never)."""
    sgd = steps_to_target["sgd"]
    checks = []
    for o in NAMED:
        e = steps_to_target[o]
        ok = (math.isfinite(e) and (math.isinf(sgd) or e <= FASTER * sgd))
        checks.append(Check(f"{o} faster than SGD", ok,
                            f"{o} reached {target:.0%} validation accuracy in {_steps(e)} (median over "
                            f"seeds) against {_steps(sgd)} for SGD (faster when ≤ {FASTER:g}× "
                            "SGD's)"))
    return checks


def _steps(e):
    return f"{e:g} steps" if math.isfinite(e) else "never (within the epoch budget)"


def _draw(curves, summary, epochs, target):
    fig, axes = new_figure(ncols=2, width=12.0, height=4.8)
    ax = axes[0, 0]
    for i, (o, runs) in enumerate(curves.items()):
        acc = np.mean([r["history"]["val_accuracy"] for r in runs], axis=0)
        ax.plot(np.arange(1, len(acc) + 1), acc, label=f"{o} (η {summary[o]['lr']:.2g})",
                **style(i))
    ax.axhline(target, color="0.3", lw=1, linestyle=":", label=f"target {target:.0%}")
    ax.set_ylim(max(0.0, min(target - 0.25, ax.get_ylim()[0])), 1.0)
    finish(ax, "Validation accuracy (mean over seeds)", "epoch", "validation accuracy (fraction)",
           fontsize=7, ncol=2, loc="lower right")
    ax = axes[0, 1]
    names = list(summary)
    y = np.arange(len(names))
    vals = [summary[o]["seconds_to_target"] for o in names]
    finite = [v for v in vals if math.isfinite(v)]
    cap = (max(finite) if finite else 1.0) * 1.15
    widths = [v if math.isfinite(v) else cap for v in vals]
    ax.barh(y, widths, color=[colour(i) for i in range(len(names))],
            hatch=[None if math.isfinite(v) else "//" for v in vals])
    for yi, o, v, w in zip(y, names, vals, widths):
        s = summary[o]
        text = (f"test {s['test_accuracy']:.3f}" if math.isfinite(v)
                else f"not reached; test {s['test_accuracy']:.3f}")
        ax.text(w, yi, " " + text, va="center", fontsize=7, color="black")
    ax.set_xlim(0, cap * 1.45)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    finish(ax, f"Time to {target:.0%} validation accuracy (test accuracy beside)",
           "wall-clock time to target (s, median over seeds)", "optimizer", legend=False)
    return fig


def _tune_and_repeat(fit, o, grid, seeds, tick):
    """Runs of optimizer ``o``: seed 0 at each η of ``grid``, then seeds 1.. at the best η.

    Returns ``(best η, the runs at it that did not diverge)``.
    """
    tuning = {}
    for lr in grid:
        tuning[lr] = fit(o, lr, 0)
        tick()
    # best on validation: final validation accuracy, then final validation loss
    ok = {lr: r for lr, r in tuning.items() if not r["diverged"]}
    best = max(ok, key=lambda lr: (ok[lr]["history"]["val_accuracy"][-1],
                                   -ok[lr]["history"]["val_loss"][-1])) if ok else grid[0]
    runs = [tuning[best]]
    for seed in range(1, seeds):
        runs.append(fit(o, best, seed))
        tick()
    return best, [r for r in runs if not r["diverged"]]


def summarise(lr, runs, X_test, y_test) -> dict:
    """Tuned η, test accuracy, median steps and seconds to the target, time per epoch."""
    reach = [r["to_target"] for r in runs]
    test = [_test_accuracy(r["net"], X_test, y_test) for r in runs]
    return {"lr": lr, "test_accuracy": float(np.mean(test)),
            "test_accuracy_std": float(np.std(test)),
            "steps_to_target": float(np.median([e for e, _ in reach])),
            "seconds_to_target": float(np.median([s for _, s in reach])),
            "seconds_per_epoch": float(np.mean([np.mean(r["history"]["time"]) for r in runs])),
            "reached": sum(math.isfinite(e) for e, _ in reach), "runs": len(runs)}


def _row(o, s):
    return [o, fmt(s["lr"]), f"{s['test_accuracy']:.3f} ± {s['test_accuracy_std']:.3f}",
            fmt(s["steps_to_target"]) if math.isfinite(s["steps_to_target"]) else "not reached",
            fmt(s["seconds_to_target"]) if math.isfinite(s["seconds_to_target"]) else "—",
            f"{s['reached']}/{s['runs']}", fmt(1000 * s["seconds_per_epoch"])]


def _setup(data, epochs, seeds, grids, target):
    return (f"Data: {digits_note(data)}. Network: 64-64-10, ReLU, cross-entropy, mini-batches "
            f"of 32, {epochs} epochs. Tuning: for each optimizer, seed 0 at each η of a grid "
            "around its usual value (" + "; ".join(f"{o}: {', '.join(f'{v:g}' for v in g)}"
                                                  for o, g in grids.items())
            + "); the best final validation accuracy (ties: lower validation loss) wins. "
            f"Then seeds 0–{seeds - 1} at that η (seed: initial weights and shuffling). Time "
            f"to target: optimizer steps ({-(-len(data['y_train']) // 32)} per epoch) and "
            "training seconds until the validation accuracy, checked after every step, first "
            f"reaches {target:.0%} (median over the seeds; {TARGETS[True]:.0%} in quick mode, "
            f"{TARGETS[False]:.0%} in the full tour); test accuracy on the held-out test "
            "part after the last epoch.")


def run(ctx) -> Section:
    data = ctx.digits()
    epochs, seeds = (10, 2) if ctx.quick else (30, 5)
    names = list(CENTRES)
    target = TARGETS[ctx.quick]
    grids = {o: _grid(CENTRES[o], ctx.quick) for o in names}
    ctx.start("6 optimizers on digits", sum(len(g) for g in grids.values()) + len(names) * (seeds - 1))
    Xtr, ytr, val = data["X_train"], data["y_train"], (data["X_val"], data["y_val"])

    def fit(o, lr, seed):
        probe = StepsToTarget(data["X_val"], data["y_val"], target)
        r = train(Xtr, ytr, hidden=(64,), activation="relu", optimizer=o, lr=lr,
                  batch_size=32, epochs=epochs, seed=seed, validation=val, callbacks=[probe])
        r["to_target"] = (probe.step, probe.seconds)
        return r

    summary, curves = {}, {}
    for o in names:
        best, curves[o] = _tune_and_repeat(fit, o, grids[o], seeds, ctx.tick)
        summary[o] = summarise(best, curves[o], data["X_test"], data["y_test"])
    fig = section_figure("06-optimizers", "Every optimizer at its tuned learning rate on digits: "
                         "validation accuracy per epoch and time to the target.",
                         lambda: _draw(curves, summary, epochs, target))
    ctx.finish()
    return Section(
        key="optimizers", title="Optimizers on a real dataset", claim=CLAIM,
        setup=_setup(data, epochs, seeds, grids, target),
        rule=(f"Supported when each of {', '.join(NAMED)} reaches {target:.0%} validation "
              f"accuracy in at most {FASTER:g}× the median steps of tuned SGD (and does reach it); "
              "depends when only some do."),
        checks=decide({o: summary[o]["steps_to_target"] for o in names}, target),
        columns=["optimizer", "tuned η", "test accuracy (mean ± std)", "steps to target (median)",
                 "seconds to target (median)", "runs reaching target", "ms per epoch"],
        rows=[_row(o, s) for o, s in summary.items()],
        metrics={"epochs": epochs, "seeds": seeds, "target": target, "by_optimizer": summary},
        figures=[fig])
