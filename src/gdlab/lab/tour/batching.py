"""Experiment 3: batch vs stochastic vs mini-batch gradient descent."""

from __future__ import annotations

import numpy as np

from gdlab.lab.tour.common import Check, Section, digits_note, fmt, section_figure, train
from gdlab.report.plots import colour, finish, new_figure, style

CLAIM = ("Batch gradient descent is stable but costly per update; stochastic gradient descent "
         "is cheap per update but noisy; mini-batches sit between them, and the batch size "
         "changes both the result and the time.")

BATCHES = ("full", 1, 8, 32, 128)
LR = 0.05
NOISY_COS = 0.5        # a single-sample gradient points this close to the full one at most
COST_FACTOR = 1.5      # a full-batch update costs at least this many single-sample updates
PER_EPOCH_FACTOR = 2.0 # the best small-batch final loss beats full batch by this factor
MATTERS_FACTOR = 2.0   # final losses across batch sizes differ by at least this factor


def gradient_cosines(X, y, batches, seed=0, draws=20):
    """Mean cosine between mini-batch gradients and the full-batch gradient at the initial net."""
    from gdlab.nn.losses import CrossEntropyLoss
    from gdlab.nn.sequential import mlp

    net = mlp(X.shape[1], [32], int(y.max()) + 1, activation="relu", seed=seed)
    loss = CrossEntropyLoss()

    def grad(rows):
        out = net.forward(X[rows], training=True)
        _, g = loss.compute(out, y[rows], None, True)
        net.backward(g, input_grad=False)
        return net.flat_gradients.astype(np.float64)

    full = grad(np.arange(len(y)))
    rng = np.random.default_rng(seed)
    result = {}
    for b in batches:
        if b == "full":
            result[b] = 1.0
            continue
        cos = []
        for _ in range(draws):
            g = grad(rng.choice(len(y), size=b, replace=False))
            cos.append(g @ full / (np.linalg.norm(g) * np.linalg.norm(full) + 1e-300))
        result[b] = float(np.mean(cos))
    return result


def update_cost(X, y, batches, seed=0, repeats=41):
    """Median seconds of one update (forward, loss, backward, SGD step) for each batch size.

    Timed apart from the training loop so that its per-epoch bookkeeping does not count.
    """
    import time

    from gdlab.nn.losses import CrossEntropyLoss
    from gdlab.nn.sequential import mlp
    from gdlab.optim import make_optimizer

    net = mlp(X.shape[1], [32], int(y.max()) + 1, activation="relu", seed=seed)
    loss = CrossEntropyLoss()
    opt = make_optimizer("sgd", [net.flat_parameters], lr=1e-6)
    rng = np.random.default_rng(seed)
    result = {}
    for b in batches:
        rows = np.arange(len(y)) if b == "full" else rng.choice(len(y), size=b, replace=False)
        xb, yb = np.ascontiguousarray(X[rows]), y[rows]
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = net.forward(xb, training=True)
            _, g = loss.compute(out, yb, None, True)
            net.backward(g, input_grad=False)
            opt.step([net.flat_gradients])
            times.append(time.perf_counter() - t0)
        result[b] = float(np.median(times))
    return result


def _band(ax, xs_list, ys_list, i, label):
    n = min(len(y) for y in ys_list)
    if n == 0:
        return
    Y = np.array([y[:n] for y in ys_list], dtype=float)
    X = np.mean(np.array([x[:n] for x in xs_list], dtype=float), axis=0)
    ax.plot(X, Y.mean(axis=0), label=label, **style(i))
    if len(Y) > 1:
        ax.fill_between(X, Y.min(axis=0), Y.max(axis=0), color=colour(i), alpha=0.18,
                        linewidth=0)


def _draw(results, n_train, seeds):
    fig, axes = new_figure(nrows=2, ncols=2, width=11.5, height=8.4)
    for i, b in enumerate(BATCHES):
        runs = results[b]
        label = "full batch" if b == "full" else ("SGD (1)" if b == 1 else f"mini-batch {b}")
        steps = 1 if b == "full" else -(-n_train // b)
        losses = [np.r_[r["initial_loss"], r["history"]["loss"]] for r in runs]
        epochs = [np.arange(len(lo)) for lo in losses]
        updates = [np.arange(len(lo)) * steps for lo in losses]
        times = [np.r_[0.0, np.cumsum(r["history"]["time"])] for r in runs]
        _band(axes[0, 0], epochs, losses, i, label)
        _band(axes[0, 1], [u[1:] for u in updates], [lo[1:] for lo in losses], i, label)
        _band(axes[1, 0], [t[1:] for t in times], [lo[1:] for lo in losses], i, label)
    spread = f" (mean over {seeds} seeds, band: min to max)"
    for ax in (axes[0, 0], axes[0, 1], axes[1, 0]):
        ax.set_yscale("log")
    finish(axes[0, 0], "Loss against epochs" + spread, "epoch", "training loss (cross-entropy)")
    axes[0, 1].set_xscale("log")
    finish(axes[0, 1], "Loss against updates", "optimizer updates (log scale)",
           "training loss (cross-entropy)")
    axes[1, 0].set_xscale("log")
    finish(axes[1, 0], "Loss against wall-clock time", "time since the start (s, log scale)",
           "training loss (cross-entropy)")
    ax = axes[1, 1]
    labels = [str(b) for b in BATCHES]
    finals = [np.mean([r["history"]["loss"][-1] for r in results[b]]) for b in BATCHES]
    per_epoch = [np.mean([np.mean(r["history"]["time"]) for r in results[b]]) for b in BATCHES]
    x = np.arange(len(BATCHES))
    ax.bar(x - 0.2, finals, width=0.4, color=colour(0), label="final loss (left axis)")
    ax.set_yscale("log")
    ax.set_xticks(x, labels)
    ax2 = ax.twinx()
    ax2.bar(x + 0.2, per_epoch, width=0.4, color=colour(1), hatch="//",
            label="time per epoch (right axis)")
    ax2.set_ylabel("time per epoch (s)")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    finish(ax, "Final loss and time per epoch by batch size", "batch size (full = all samples)",
           "final training loss (log)", legend=False)
    ax.legend(handles, [h.get_label() for h in handles], frameon=False, loc="upper center",
              bbox_to_anchor=(0.5, -0.13), ncol=2)
    return fig


def _train_all(ctx, X, y, epochs, seeds) -> dict:
    """Batch size -> one training run per seed, all at the same learning rate."""
    results = {}
    for b in BATCHES:
        results[b] = []
        for seed in range(seeds):
            results[b].append(train(X, y, hidden=(32,), optimizer="sgd", lr=LR, batch_size=b,
                                    epochs=epochs, seed=seed))
            ctx.tick()
    return results


def batch_stats(runs, b, n, epochs, cosine, cost) -> dict:
    """The numbers of one batch size: final loss, updates, time, loss drop per update, noise.

    ``cosine`` and ``cost`` are this batch size's entries of :func:`gradient_cosines` and
    :func:`update_cost`; ``n`` is the number of training samples.
    """
    steps = 1 if b == "full" else -(-n // b)
    finals = np.array([r["history"]["loss"][-1] if not r["diverged"] else np.nan for r in runs])
    seconds = np.array([np.sum(r["history"]["time"]) for r in runs])
    updates = steps * epochs
    drop = np.mean([r["initial_loss"] for r in runs]) - np.nanmean(finals)
    return {"final_loss_mean": float(np.nanmean(finals)), "final_loss_std": float(np.nanstd(finals)),
            "updates": updates, "seconds": float(seconds.mean()),
            "ms_per_update": float(1000 * seconds.mean() / updates),
            "us_per_update_timed": 1e6 * cost,
            "loss_drop_per_update": float(drop / updates), "gradient_cosine": cosine,
            "diverged_runs": int(sum(r["diverged"] for r in runs))}


def decide(stats, n, epochs) -> list[Check]:
    """The five checks from {batch size as str: :func:`batch_stats`}."""
    full, sgd = stats["full"], stats["1"]
    small_best = min(stats[str(b)]["final_loss_mean"] for b in (1, 8, 32))
    finals_all = [stats[str(b)]["final_loss_mean"] for b in BATCHES]
    cos_order = [stats[str(b)]["gradient_cosine"] for b in (1, 8, 32, 128)]
    return [
        Check("SGD is noisy", sgd["gradient_cosine"] <= NOISY_COS and all(
            a < c for a, c in zip(cos_order, cos_order[1:])),
            f"a one-sample gradient has mean cosine {sgd['gradient_cosine']:.2f} with the full "
            f"gradient (threshold ≤ {NOISY_COS}), rising with the batch size: "
            + ", ".join(f"{c:.2f}" for c in cos_order) + " for 1, 8, 32, 128"),
        Check("batch GD is costly per update",
              full["us_per_update_timed"] >= COST_FACTOR * sgd["us_per_update_timed"],
              f"one full-batch update ({n} samples) took {full['us_per_update_timed']:.3g} µs "
              f"against {sgd['us_per_update_timed']:.3g} µs for one sample (median of 41 timed "
              f"updates; threshold ≥ {COST_FACTOR:g}×)"),
        Check("batch GD gains more per update", full["loss_drop_per_update"] > sgd["loss_drop_per_update"],
              f"the loss fell by {full['loss_drop_per_update']:.3g} per full-batch update against "
              f"{sgd['loss_drop_per_update']:.3g} per one-sample update"),
        Check("small batches gain more per epoch", small_best * PER_EPOCH_FACTOR <= full["final_loss_mean"],
              f"after {epochs} epochs the best of batch sizes 1, 8, 32 reached loss {small_best:.3g} "
              f"against {full['final_loss_mean']:.3g} for full batch (threshold ≥ "
              f"{PER_EPOCH_FACTOR:g}× lower)"),
        Check("batch size matters", max(finals_all) >= MATTERS_FACTOR * min(finals_all),
              f"final losses across batch sizes span {min(finals_all):.3g} to {max(finals_all):.3g} "
              f"(threshold: a factor ≥ {MATTERS_FACTOR:g})"),
    ]


def _row(b, s):
    return [str(b), s["updates"], fmt(s["final_loss_mean"]), fmt(s["final_loss_std"]),
            fmt(s["seconds"]), fmt(s["ms_per_update"]), fmt(s["us_per_update_timed"]),
            fmt(s["loss_drop_per_update"]), fmt(s["gradient_cosine"])]


def _setup(data, epochs, seeds):
    return (f"Data: {digits_note(data)}. Network: 64-32-10, ReLU, cross-entropy. Plain SGD "
            f"with η = {LR} for every batch size ({', '.join(map(str, BATCHES))}), {epochs} "
            f"epochs, seeds 0–{seeds - 1} (each seed sets the initial weights and the "
            "shuffling). Gradient noise: the mean cosine between 20 random mini-batch "
            "gradients and the full-batch gradient at the initial network (seed 0). Cost of "
            "one update: the median of 41 timed updates (forward, loss, backward, step) "
            "outside the training loop, which also spends time per epoch on bookkeeping.")


def run(ctx) -> Section:
    data = ctx.digits()
    X, y = data["X_train"], data["y_train"]
    epochs, seeds = (8, 2) if ctx.quick else (30, 4)
    ctx.start("3 batch vs stochastic", len(BATCHES) * seeds + 1)
    cosines = gradient_cosines(X, y, BATCHES)
    cost = update_cost(X, y, BATCHES)
    ctx.tick()
    results = _train_all(ctx, X, y, epochs, seeds)
    n = len(y)
    stats = {str(b): batch_stats(results[b], b, n, epochs, cosines[b], cost[b]) for b in BATCHES}
    fig = section_figure("03-batching", "Batch, stochastic and mini-batch gradient descent at "
                         "the same learning rate: loss against epochs, updates and time, and the "
                         "effect of the batch size.", lambda: _draw(results, n, seeds))
    ctx.finish()
    return Section(
        key="batching", title="Batch vs stochastic vs mini-batch", claim=CLAIM,
        setup=_setup(data, epochs, seeds),
        rule=("Supported when all five checks below hold, with the thresholds they state; "
              "depends when only some do."),
        checks=decide(stats, n, epochs),
        columns=["batch size", "updates", "final loss (mean)", "final loss (std over seeds)",
                 "training time (s)", "ms per update in training",
                 "µs per update (timed alone)", "loss drop per update",
                 "cos(batch grad, full grad)"],
        rows=[_row(b, stats[str(b)]) for b in BATCHES],
        metrics={"epochs": epochs, "seeds": seeds, "by_batch_size": stats},
        figures=[fig])
