"""Experiment 2: too small a learning rate is slow, too large a one fails to converge."""

from __future__ import annotations

import math

import numpy as np

from gdlab.lab.tour.common import Check, Section, digits_note, fmt, section_figure, train
from gdlab.report.plots import colour, finish, new_figure, style

CLAIM = ("Too small a learning rate makes gradient descent slow, too large a one makes it fail "
         "to converge (the loss oscillates or blows up); a range in between works.")

SLOW_FACTOR = 10.0   # the smallest rate's final loss is >= this times the best final loss
LRS = tuple(float(v) for v in np.geomspace(1e-4, 10.0, 11))


def decide(lrs, finals, diverged, initial):
    """The checks from the sweep: lists over the learning rates (NaN final loss = diverged)."""
    ok = [i for i, f in enumerate(finals) if math.isfinite(f) and not diverged[i]]
    best = min(ok, key=lambda i: finals[i]) if ok else None
    best_loss = finals[best] if best is not None else math.nan
    small = finals[0]
    failed = [i for i in range(len(lrs)) if diverged[i] or not finals[i] < initial]
    checks = [
        Check("too small is slow", best is not None and math.isfinite(small)
              and small >= SLOW_FACTOR * best_loss,
              f"the smallest rate η = {lrs[0]:.3g} ended at loss {small:.3g}, "
              f"{small / best_loss if best is not None else math.nan:.3g}× the best final loss "
              f"{best_loss:.3g} (threshold ≥ {SLOW_FACTOR:g}×)"),
        Check("too large fails", bool(failed) and failed[-1] == len(lrs) - 1,
              f"the largest rate η = {lrs[-1]:.3g} "
              + ("diverged" if diverged[-1] else f"ended at loss {finals[-1]:.3g}")
              + f" (fails when it diverges or ends at or above the initial loss {initial:.3g})"),
        Check("a middle range works", best is not None and 0 < best < len(lrs) - 1,
              "the best final loss is at η = "
              + (f"{lrs[best]:.3g}, inside the swept range" if best is not None else "none")
              + " (it must be neither the smallest nor the largest rate)"),
    ]
    return checks, best, failed


def _draw(lrs, finals, diverged, runs, initial, first_fail):
    fig, axes = new_figure(ncols=2, width=11.5, height=4.6)
    ax = axes[0, 0]
    good = [i for i in range(len(lrs)) if not diverged[i]]
    ax.plot([lrs[i] for i in good], [finals[i] for i in good], marker="o", label="final loss",
            **style(0))
    top = max([finals[i] for i in good] + [initial]) * 3
    bad = [i for i in range(len(lrs)) if diverged[i]]
    if bad:
        ax.plot([lrs[i] for i in bad], [top] * len(bad), marker="x", markersize=9,
                linestyle="none", color=colour(3), label="diverged")
    ax.axhline(initial, color="0.4", lw=1, linestyle=":", label="initial loss")
    if first_fail is not None:
        ax.axvline(lrs[first_fail], color=colour(3), lw=1, linestyle="--",
                   label=f"failure starts (η = {lrs[first_fail]:.2g})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    finish(ax, "Final training loss against learning rate", "learning rate η (log scale)",
           "final training loss (cross-entropy, log)")
    ax = axes[0, 1]
    shown = list(range(0, len(lrs), 2))
    ceiling = 30 * initial  # a blown-up loss is drawn at the top edge, marked x
    lowest = initial
    for j, i in enumerate(shown):
        loss = np.asarray(runs[i]["history"].get("loss", []), dtype=float)
        label = f"η = {lrs[i]:.2g}" + (" (diverged: ×)" if diverged[i] else "")
        curve = np.minimum(np.nan_to_num(np.r_[initial, loss], nan=ceiling), ceiling)
        lowest = min(lowest, float(curve.min()))
        ax.plot(np.arange(len(curve)), curve, label=label, **style(j))
        if diverged[i]:
            ax.plot(len(curve) - 1, curve[-1], marker="x", markersize=9, color=colour(j))
    ax.set_yscale("log")
    ax.set_ylim(lowest / 2, ceiling * 1.5)
    finish(ax, "Training loss over epochs", "epoch", "training loss (cross-entropy, log)",
           fontsize=7)
    return fig


def run(ctx) -> Section:
    data = ctx.digits()
    epochs = 10 if ctx.quick else 30
    ctx.start("2 learning rate", len(LRS))
    runs = []
    for lr in LRS:
        runs.append(train(data["X_train"], data["y_train"], hidden=(32,), activation="relu",
                          optimizer="sgd", lr=lr, batch_size=32, epochs=epochs, seed=0))
        ctx.tick()
    initial = runs[0]["initial_loss"]
    diverged = [r["diverged"] for r in runs]
    finals = [math.nan if r["diverged"] else r["history"]["loss"][-1] for r in runs]
    checks, best, failed = decide(list(LRS), finals, diverged, initial)
    first_fail = next((i for i in failed if i > (best or 0)), None)
    rows = []
    for i, (lr, r) in enumerate(zip(LRS, runs)):
        loss = r["history"].get("loss", [])
        outcome = (f"diverged in epoch {r['diverged_epoch']}" if r["diverged"]
                   else "ended above the initial loss" if not finals[i] < initial
                   else "best" if i == best else "converging")
        rows.append([fmt(lr), fmt(loss[0] if loss else None), fmt(finals[i]), outcome])
    fig = section_figure("02-learning-rate", "Left: final training loss for each learning rate (x: "
                         "diverged). Right: loss per epoch for every other rate.",
                         lambda: _draw(LRS, finals, diverged, runs, initial, first_fail))
    ctx.finish()
    return Section(
        key="learning_rate", title="Learning rate", claim=CLAIM,
        setup=(f"Data: {digits_note(data)}. Network: 64-32-10, ReLU, cross-entropy, seed 0 for "
               f"the weights and the shuffling. Plain SGD (`sgd`), mini-batches of 32, {epochs} "
               f"epochs, at {len(LRS)} learning rates from {LRS[0]:g} to {LRS[-1]:g} (half a "
               "decade apart). Divergence: the trainer's DivergenceError (an epoch loss over "
               "100× the initial loss, or a non-finite value) is caught and recorded."),
        rule=(f"Supported when the smallest rate ends with a loss ≥ {SLOW_FACTOR:g}× the best final "
              "loss (slow), the largest rate diverges or ends at or above the initial loss "
              "(fails), and the best rate lies strictly inside the range."),
        checks=checks, columns=["learning rate η", "loss after epoch 1", f"loss after epoch {epochs}",
                                "outcome"],
        rows=rows,
        metrics={"lrs": list(LRS), "final_loss": finals, "diverged": diverged,
                 "initial_loss": initial,
                 "best_lr": LRS[best] if best is not None else None,
                 "failure_starts_at_lr": LRS[first_fail] if first_fail is not None else None},
        figures=[fig])
