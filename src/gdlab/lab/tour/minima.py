"""Experiment 4: local minima and saddle points, full-batch GD vs noisy SGD vs momentum.

Every method runs from all starting points at once: the points are the rows of one array,
and the optimizers work elementwise, so each row is an independent run.
"""

from __future__ import annotations

import numpy as np

from gdlab.lab.tour.common import Check, Section, fmt, section_figure
from gdlab.report.plots import colour, finish, new_figure, style

CLAIM = ("Plain gradient descent can stall in a poor local minimum or at a saddle point; the "
         "noise of stochastic gradients (and momentum) helps it escape.")

# (label, momentum, gradient noise on?)
METHODS = (("GD", 0.0, False), ("GD + momentum", 0.9, False), ("SGD (noisy)", 0.0, True),
           ("SGD + momentum", 0.9, True))
RASTRIGIN_A, R_LR, R_SIGMA, R_BOX = 2.0, 2e-3, 60.0, 4.5
S_LR, S_SIGMA, S_STEPS, S_ESCAPE = 0.01, 1.0, 300, 1.0
GLOBAL = 0.5          # a run ending this close to the origin reached the global minimum
STALLS = 0.5          # plain GD "stalls" when fewer than this share of runs succeed
BETTER = 0.10         # a method helps when its success rate is at least this much higher


def _run(fun, starts, lr, momentum, sigma, steps, seed, anneal, escape=None):
    from gdlab.optim import make_optimizer

    X = starts.copy()
    opt = make_optimizer("sgd", [X], lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    track = [np.abs(X[:, 1]).copy()]
    first = np.full(len(X), -1)
    path = [X[0].copy()]
    for t in range(steps):
        g = fun.grad(X)
        if sigma:
            scale = sigma * (1.0 - t / steps) if anneal else sigma
            g = g + scale * rng.standard_normal(X.shape)
        opt.step([g])
        path.append(X[0].copy())
        if escape is not None:
            track.append(np.abs(X[:, 1]).copy())
            new = (track[-1] >= escape) & (first < 0)
            first[new] = t + 1
    return X, np.array(path), np.array(track), first


def decide(rates, escapes):
    """Checks from the success rates: dicts label -> share of runs (0..1)."""
    gd, sgd, mom = rates["GD"], rates["SGD (noisy)"], rates["GD + momentum"]
    egd, esgd, emom = escapes["GD"], escapes["SGD (noisy)"], escapes["GD + momentum"]
    return [
        Check("GD stalls in local minima", gd < STALLS,
              f"plain GD reached the global minimum of Rastrigin from {gd:.0%} of the starts "
              f"(stalls when < {STALLS:.0%})"),
        Check("noise escapes local minima", sgd >= gd + BETTER,
              f"noisy SGD reached it from {sgd:.0%} against {gd:.0%} for GD (threshold: "
              f"≥ {BETTER:.0%} points more)"),
        Check("GD stalls at the saddle", egd < STALLS,
              f"plain GD escaped the saddle from {egd:.0%} of the starts within the step budget "
              f"(stalls when < {STALLS:.0%})"),
        Check("noise escapes the saddle", esgd >= egd + BETTER,
              f"noisy SGD escaped from {esgd:.0%} against {egd:.0%} for GD (threshold: "
              f"≥ {BETTER:.0%} points more)"),
        Check("momentum helps", max(mom - gd, emom - egd) >= BETTER,
              f"momentum changed the global-minimum rate by {mom - gd:+.0%} and the saddle-"
              f"escape rate by {emom - egd:+.0%} (threshold: ≥ {BETTER:.0%} points on either)"),
    ]


def _draw(rast, starts, ends, paths, saddle_tracks, rates, escapes):
    fig, axes = new_figure(ncols=3, width=15.0, height=4.8)
    ax = axes[0, 0]
    g = np.linspace(-R_BOX - 0.5, R_BOX + 0.5, 300)
    gx, gy = np.meshgrid(g, g)
    ax.contour(gx, gy, rast.f(np.stack([gx, gy], axis=-1)), levels=20, colors="0.7",
               linewidths=0.5)
    markers = ("o", "s", "^", "D")
    for i, (label, _, _) in enumerate(METHODS):
        if label in ("GD", "SGD (noisy)"):
            ax.plot(paths[label][:, 0], paths[label][:, 1], lw=1, color=colour(i), alpha=0.9)
        # runs end next to integer points: count them per point, area ~ count, and offset the
        # four methods around each point so that they do not hide each other
        cells, counts = np.unique(np.round(ends[label]), axis=0, return_counts=True)
        dx, dy = (-0.18, -0.18, 0.18, 0.18)[i], (-0.18, 0.18, -0.18, 0.18)[i]
        ax.scatter(cells[:, 0] + dx, cells[:, 1] + dy, s=6 + 600 * counts / len(ends[label]),
                   marker=markers[i], color=colour(i), alpha=0.8, linewidths=0,
                   label=f"{label}: where runs end")
    ax.plot(0, 0, marker="*", markersize=14, color="black", linestyle="none",
            label="global minimum")
    ax.set_xlim(g[0], g[-1])
    ax.set_ylim(g[0], g[-1])
    finish(ax, f"Rastrigin (A = {RASTRIGIN_A:g}): where the runs end", "x (no unit)",
           "y (no unit)", fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    for handle in ax.get_legend().legend_handles:   # one marker size in the legend
        if hasattr(handle, "set_sizes"):
            handle.set_sizes([30])
    ax = axes[0, 1]
    x = np.arange(len(METHODS))
    ax.bar(x - 0.2, [100 * rates[m[0]] for m in METHODS], width=0.4, color=colour(0),
           label="Rastrigin: reached the global minimum")
    ax.bar(x + 0.2, [100 * escapes[m[0]] for m in METHODS], width=0.4, color=colour(1),
           hatch="//", label=f"saddle: escaped within {S_STEPS} steps")
    ax.set_xticks(x, [m[0].replace(" + ", "\n+ ") for m in METHODS], fontsize=8)
    ax.set_ylim(0, 115)
    finish(ax, "Success rate by method", "method", "share of starting points (%)",
           loc="upper left")
    ax = axes[0, 2]
    for i, (label, _, _) in enumerate(METHODS):
        med = np.median(saddle_tracks[label], axis=1)
        ax.plot(np.arange(len(med)), np.maximum(med, 1e-12), label=label, **style(i))
    ax.axhline(S_ESCAPE, color="0.3", lw=1, linestyle=":", label="escaped (|y| ≥ 1)")
    ax.set_yscale("log")
    finish(ax, "Saddle x² − y²: distance from the ridge", "step",
           "median |y| over the starts (log)", fontsize=7)
    return fig


def run(ctx) -> Section:
    from gdlab.lab.functions import Rastrigin, Saddle

    n = 200 if ctx.quick else 1000
    r_steps = 3000
    ctx.start("4 local minima and saddles", 2 * len(METHODS))
    rast, saddle = Rastrigin(RASTRIGIN_A), Saddle()
    rng = np.random.default_rng(0)
    r_starts = rng.uniform(-R_BOX, R_BOX, size=(n, 2))
    s_starts = np.c_[rng.uniform(-4, 4, n), rng.normal(0.0, 1e-6, n)]
    rates, escapes, ends, paths, tracks, mean_f, med_steps = {}, {}, {}, {}, {}, {}, {}
    for k, (label, mom, noisy) in enumerate(METHODS):
        X, path, _, _ = _run(rast, r_starts, R_LR, mom, R_SIGMA if noisy else 0.0, r_steps,
                             seed=10 + k, anneal=True)
        ctx.tick()
        ends[label], paths[label] = X, path
        rates[label] = float(np.mean(np.linalg.norm(X, axis=1) < GLOBAL))
        mean_f[label] = float(np.mean(rast.f(X)))
        _, _, track, first = _run(saddle, s_starts, S_LR, mom, S_SIGMA if noisy else 0.0, S_STEPS,
                                  seed=20 + k, anneal=False, escape=S_ESCAPE)
        ctx.tick()
        tracks[label] = track
        escapes[label] = float(np.mean(first > 0))
        med_steps[label] = float(np.median(first[first > 0])) if np.any(first > 0) else None
    checks = decide(rates, escapes)
    rows = [[label, f"{100 * rates[label]:.1f}%", fmt(mean_f[label]),
             f"{100 * escapes[label]:.1f}%", fmt(med_steps[label])] for label, _, _ in METHODS]
    fig = section_figure("04-minima-saddles", "Left: where the runs from all starts end on Rastrigin "
                         "(marker area ∝ number of runs ending at that minimum; the four methods are "
                         "offset around each minimum; one path each of GD and noisy SGD drawn). Middle: "
                         "success rates. Right: how fast each method leaves the saddle.",
                         lambda: _draw(rast, r_starts, ends, paths, tracks, rates, escapes))
    ctx.finish()
    return Section(
        key="minima", title="Local minima and saddles", claim=CLAIM,
        setup=(f"{n} starting points drawn uniformly from [−{R_BOX}, {R_BOX}]² (seed 0) on "
               f"Rastrigin's function with A = {RASTRIGIN_A:g} (global minimum 0 at the origin, "
               "a local minimum near every integer point), and "
               f"{n} starts on the saddle x² − y² with x ~ U(−4, 4) and y ~ N(0, 10⁻¹²) (just off "
               "the ridge). Four methods, each on gdlab's `sgd` optimizer: GD (exact gradient), GD "
               "+ momentum 0.9, SGD (the gradient plus Gaussian noise, standard deviation "
               f"{R_SIGMA:g} decaying linearly to 0 on Rastrigin, {S_SIGMA:g} on the saddle — the "
               "stand-in for mini-batch noise) and SGD + momentum 0.9. Rastrigin: η = "
               f"{R_LR:g}, {r_steps} steps; success = ending within {GLOBAL} of the origin. "
               f"Saddle: η = {S_LR:g}, {S_STEPS} steps; escape = |y| ≥ {S_ESCAPE:g}. Noise "
               "seeds 10–13 and 20–23."),
        rule=(f"Supported when GD stalls (succeeds from < {STALLS:.0%} of starts) on both "
              f"landscapes, noisy SGD succeeds from ≥ {BETTER:.0%} points more than GD on each, "
              f"and momentum adds ≥ {BETTER:.0%} points on at least one."),
        checks=checks,
        columns=["method", "Rastrigin: reached global minimum", "Rastrigin: mean final f",
                 "saddle: escaped", "saddle: median steps to escape"],
        rows=rows,
        metrics={"n_starts": n, "global_rate": rates, "mean_final_f": mean_f,
                 "escape_rate": escapes, "median_escape_steps": med_steps},
        figures=[fig])
