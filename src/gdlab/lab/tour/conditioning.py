"""Experiment 5: ill-conditioning slows plain GD; momentum and adaptive methods speed it up."""

from __future__ import annotations

import math

import numpy as np

from gdlab.lab.tour.common import Check, Section, fmt, section_figure
from gdlab.report.plots import finish, new_figure, style

CLAIM = ("Plain gradient descent is slow where the curvature differs strongly between "
         "directions (ill-conditioning); momentum, Nesterov, Adagrad, RMSprop and Adam reach "
         "the minimum in fewer steps.")

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
NAMES = {"sgd": "GD", "momentum": "momentum", "nesterov": "Nesterov", "adagrad": "Adagrad",
         "rmsprop": "RMSprop", "adam": "Adam"}
Q_LRS = tuple(float(v) for v in np.geomspace(1e-3, 1.0, 7))
M_LRS = (1e-3, 1e-2, 0.1, 1.0)
Q_TARGET = 1e-4       # relative: f <= Q_TARGET * f(start)
SLOWER = 3.0          # GD's steps grow at least this much from the smallest to the largest kappa
FASTER = 2.0          # a method "speeds it up" when it needs at most 1/FASTER of GD's steps
MAJORITY = 3          # ... and at least this many of the five methods must


def steps_to_target(fun, start, optimizer, lr, target, budget):
    """Steps until f <= target (inf if not within ``budget``) and the values along the way."""
    from gdlab.optim import make_optimizer

    x = np.array(start, dtype=np.float64)
    opt = make_optimizer(optimizer, [x], lr=lr)
    values = [fun.f(x)]
    with np.errstate(all="ignore"):
        for t in range(1, budget + 1):
            opt.step([fun.grad(x)])
            v = fun.f(x)
            values.append(v)
            if not math.isfinite(v) or v > 1e6 * values[0]:
                return math.inf, values
            if v <= target:
                return t, values
    return math.inf, values


def _tuned(results):
    """For each optimizer, the learning rate with the fewest steps (ties: the first)."""
    best = {}
    for (opt, lr), (steps, curve) in results.items():
        if opt not in best or steps < best[opt][1]:
            best[opt] = (lr, steps, curve)
    return best


def _faster(best):
    gd = best["sgd"][1]
    # a method that never reached the target is never faster (inf <= inf would say it is)
    return [o for o in OPTIMIZERS[1:] if math.isfinite(best[o][1])
            and (math.isinf(gd) or best[o][1] * FASTER <= gd)]


def _mlp_problem(quick):
    rng = np.random.default_rng(0)
    n, d = (256, 10) if quick else (512, 10)
    scales = np.geomspace(0.1, 10.0, d)     # features on very different scales
    Z = rng.standard_normal((n, d))
    y = np.tanh(Z @ rng.standard_normal(d) / math.sqrt(d)) + 0.05 * rng.standard_normal(n)
    X = (Z * scales).astype(np.float32)
    return X, y.astype(np.float32)[:, None], scales


def _mlp_steps(X, y, optimizer, lr, budget, target):
    from gdlab.lab.tour.common import train

    r = train(X, y, hidden=(16,), activation="tanh", optimizer=optimizer, lr=lr,
              batch_size="full", epochs=budget, seed=0, loss="mse", net=None,
              target={"loss": target}, shuffle=False)
    loss = r["history"].get("loss", [])
    if r["diverged"] or not loss or loss[-1] > target:
        return math.inf, [r["initial_loss"]] + list(loss)
    return len(loss), [r["initial_loss"]] + list(loss)


def _draw(q_best, kmax, m_best, m_target):
    fig, axes = new_figure(ncols=2, width=11.5, height=4.6)
    for ax, best, title, ylabel in (
            (axes[0, 0], q_best, f"Quadratic with condition number {kmax:g}", "f(x) (log)"),
            (axes[0, 1], m_best, "MLP on features of very different scales",
             "training loss (MSE, log)")):
        for i, o in enumerate(OPTIMIZERS):
            lr, steps, curve = best[o]
            label = f"{NAMES[o]} (η = {lr:.2g}): " + (f"{steps} steps" if math.isfinite(steps)
                                                      else "not reached")
            c = np.asarray(curve, dtype=float)
            ax.plot(np.arange(len(c)), np.maximum(c, 1e-300), label=label, **style(i))
        if best is m_best:
            ax.axhline(m_target, color="0.3", lw=1, linestyle=":", label="target loss")
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(left=0)
        finish(ax, title + " (each at its best η)", "step (full-batch updates; log beyond 10)",
               ylabel, fontsize=7)
    return fig


KAPPAS = (10.0, 100.0, 1000.0)
START = (-9.0, 3.0)
RULE = (f"Supported when tuned GD needs ≥ {SLOWER:g}× more steps at κ = {KAPPAS[-1]:g} than at "
        f"κ = {KAPPAS[0]:g}, and on both the quadratic (κ = {KAPPAS[-1]:g}) and the MLP at least "
        f"{MAJORITY} of the 5 other methods need at most 1/{FASTER:g} of GD's steps.")


def _quadratic_sweeps(ctx, budget) -> dict:
    """Condition number -> :func:`_tuned` result of every optimizer on that quadratic."""
    from gdlab.lab.functions import Quadratic

    start = np.array(START)
    q_best = {}
    for k in KAPPAS:
        fun = Quadratic(cond=k)
        target = Q_TARGET * fun.f(start)
        results = {}
        for o in OPTIMIZERS:
            for lr in Q_LRS:
                results[(o, lr)] = steps_to_target(fun, start, o, lr, target, budget)
            ctx.tick()
        q_best[k] = _tuned(results)
    return q_best


def _mlp_sweep(ctx, X, y, budget, target) -> dict:
    """:func:`_tuned` result of every optimizer on the badly scaled MLP problem."""
    m_results = {}
    for o in OPTIMIZERS:
        for lr in M_LRS:
            m_results[(o, lr)] = _mlp_steps(X, y, o, lr, budget, target)
        ctx.tick()
    return _tuned(m_results)


def _names(optimizers):
    return ", ".join(NAMES[o] for o in optimizers) or "none"


def decide(q_best, m_best, q_budget) -> list[Check]:
    """Checks from the tuned results on the quadratics (by κ) and on the MLP."""
    kmin, kmax = KAPPAS[0], KAPPAS[-1]
    gd_small, gd_large = q_best[kmin]["sgd"][1], q_best[kmax]["sgd"][1]
    fast_q, fast_m = _faster(q_best[kmax]), _faster(m_best)
    return [
        Check("GD slows with the condition number",
              math.isinf(gd_large) or gd_large >= SLOWER * gd_small,
              f"tuned GD needed {fmt(gd_small)} steps at κ = {kmin:g} and "
              f"{fmt(gd_large) if math.isfinite(gd_large) else f'more than {q_budget}'} at "
              f"κ = {kmax:g} (threshold: ≥ {SLOWER:g}× more)"),
        Check("others are faster on the quadratic", len(fast_q) >= MAJORITY,
              f"at κ = {kmax:g}, {len(fast_q)} of 5 methods needed ≤ 1/{FASTER:g} of GD's steps "
              f"({_names(fast_q)}; threshold ≥ {MAJORITY})"),
        Check("others are faster on the MLP", len(fast_m) >= MAJORITY,
              f"on the MLP, {len(fast_m)} of 5 methods needed ≤ 1/{FASTER:g} of GD's steps "
              f"({_names(fast_m)}; threshold ≥ {MAJORITY})"),
    ]


def _rows(q_best, m_best, q_budget, m_budget):
    def cell(steps, lr, budget):
        return (f"{steps} (η {lr:.2g})" if math.isfinite(steps) else f"not within {budget}")

    return [[NAMES[o]] + [cell(q_best[k][o][1], q_best[k][o][0], q_budget) for k in KAPPAS]
            + [cell(m_best[o][1], m_best[o][0], m_budget)] for o in OPTIMIZERS]


def _setup(n, q_budget, m_budget, m_target):
    return ("Quadratic ½(x² + κy²) for κ = " + ", ".join(f"{k:g}" for k in KAPPAS)
            + f", from (−9, 3); target f ≤ {Q_TARGET:g}·f(start); at most {q_budget} steps; "
            "each optimizer at the best of η ∈ {" + ", ".join(f"{v:.3g}" for v in Q_LRS)
            + "} (fewest steps). MLP: 10-16-1 tanh, MSE, full-batch, on "
            f"{n} synthetic samples whose 10 features have standard deviations from 0.1 "
            "to 10 (input condition number ≈ 10⁴, not standardised on purpose), target "
            f"y = tanh(z·w/√10) + noise (seed 0); target loss {m_target:.3g} (a quarter of "
            f"var y); at most {m_budget} steps; η ∈ {{" + ", ".join(f"{v:g}" for v in M_LRS)
            + "}. Optimizers: gdlab's `sgd` (plain GD), `momentum` and `nesterov` (μ = 0.9), "
            "`adagrad`, `rmsprop`, `adam` with their default settings otherwise.")


def run(ctx) -> Section:
    q_budget = 3000 if ctx.quick else 10000
    m_budget = 300 if ctx.quick else 1000
    X, y, scales = _mlp_problem(ctx.quick)
    m_target = 0.25 * float(np.var(y))
    ctx.start("5 ill-conditioning", len(KAPPAS) * len(OPTIMIZERS) + len(OPTIMIZERS))
    q_best = _quadratic_sweeps(ctx, q_budget)
    m_best = _mlp_sweep(ctx, X, y, m_budget, m_target)
    kmax = KAPPAS[-1]
    fig = section_figure("05-conditioning", "Loss against steps, each optimizer at the learning "
                         "rate that reached the target in the fewest steps.",
                         lambda: _draw(q_best[kmax], kmax, m_best, m_target))
    ctx.finish()
    return Section(
        key="conditioning", title="Ill-conditioning", claim=CLAIM,
        setup=_setup(len(y), q_budget, m_budget, m_target), rule=RULE,
        checks=decide(q_best, m_best, q_budget),
        columns=["optimizer"] + [f"steps at κ = {k:g}" for k in KAPPAS] + ["MLP: steps to target"],
        rows=_rows(q_best, m_best, q_budget, m_budget),
        metrics={"quadratic_steps": {f"{k:g}": {o: q_best[k][o][1] for o in OPTIMIZERS}
                                     for k in KAPPAS},
                 "quadratic_lr": {f"{k:g}": {o: q_best[k][o][0] for o in OPTIMIZERS} for k in KAPPAS},
                 "mlp_steps": {o: m_best[o][1] for o in OPTIMIZERS},
                 "mlp_lr": {o: m_best[o][0] for o in OPTIMIZERS},
                 "faster_quadratic": _faster(q_best[kmax]), "faster_mlp": _faster(m_best)},
        figures=[fig])
