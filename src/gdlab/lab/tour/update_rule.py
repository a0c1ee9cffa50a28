"""Experiment 1: the update rule x <- x - lr * grad f(x) walks downhill to a minimum."""

from __future__ import annotations

import numpy as np

from gdlab.lab.tour.common import Check, Section, fmt, section_figure
from gdlab.report.plots import colour, finish, new_figure

CLAIM = ("Gradient descent repeats x ← x − η∇f(x): every step goes along the negative gradient, "
         "the value falls, and a small enough step size η reaches a minimum.")

DESCENT_FRACTION = 0.99   # share of steps that must lower f
NEAR = 0.05               # distance to the minimiser that counts as reached
ALIGNED = 0.999           # mean cosine between the step and -grad f


def _problems(quick):
    from gdlab.lab.functions import Quadratic, Rosenbrock

    return [
        ("quadratic", Quadratic(cond=10.0), np.array([-9.0, 3.0]), 0.15, 500),
        # η below 2/λmax = 2/1001.6 of the Hessian at the minimum: 0.002 is just above it, and
        # there GD creeps in along the valley and then oscillates out of the minimum
        ("Rosenbrock", Rosenbrock(), np.array([-1.2, 1.0]), 1.5e-3, 8000 if quick else 20000),
    ]


def _measure(fun, start, lr, steps):
    from gdlab.lab.minimize import minimize

    r = minimize(fun, None, start, optimizer="sgd", lr=lr, max_iter=steps, tol=1e-8)
    moves = np.diff(r.path, axis=0)
    grads = fun.grad(r.path[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = -np.sum(moves * grads, axis=1) / (
            np.linalg.norm(moves, axis=1) * np.linalg.norm(grads, axis=1))
    cos = cos[np.isfinite(cos)]
    dist = min(float(np.linalg.norm(r.x - m)) for m in fun.minima)
    return {"result": r, "steps": r.n_iter, "f0": float(r.values[0]), "f_end": float(r.fun),
            "descent_fraction": float(np.mean(np.diff(r.values) < 0)) if r.n_iter else 0.0,
            "cos_mean": float(np.mean(cos)) if cos.size else float("nan"),
            "distance": dist, "stopped": r.stopped_because}


def _draw(runs):
    fig, axes = new_figure(ncols=2, width=11.0, height=4.6)
    for ax, (label, fun, m) in zip(axes[0], runs):
        path = m["result"].path
        (x0, x1), (y0, y1) = fun.bounds
        gx, gy = np.meshgrid(np.linspace(x0, x1, 240), np.linspace(y0, y1, 240))
        Z = fun.f(np.stack([gx, gy], axis=-1))
        levels = (np.geomspace(max(Z.min(), 1e-3), Z.max(), 25) if label == "Rosenbrock"
                  else np.linspace(Z.min(), Z.max(), 25)[1:])
        ax.contour(gx, gy, Z, levels=levels, colors="0.55", linewidths=0.6)
        ax.plot(path[:, 0], path[:, 1], color=colour(0), lw=1.6, label=f"GD path ({m['steps']} steps)")
        # the negative gradient, scaled to a fixed length, at a few points along the path
        idx = np.unique(np.geomspace(1, len(path), 10).astype(int) - 1)
        g = -fun.grad(path[idx])
        g /= np.linalg.norm(g, axis=1, keepdims=True) + 1e-300
        scale = 0.08 * max(x1 - x0, y1 - y0)
        ax.quiver(path[idx, 0], path[idx, 1], g[:, 0] * scale, g[:, 1] * scale, angles="xy",
                  scale_units="xy", scale=1, color=colour(3), width=0.006,
                  label="−∇f (direction of the step)")
        ax.plot(*path[0], marker="s", color="black", linestyle="none", label="start")
        for mm in fun.minima:
            ax.plot(*mm, marker="*", markersize=13, color=colour(1), linestyle="none",
                    label="minimum")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        finish(ax, f"Gradient descent on the {label} function", "x (parameter 1, no unit)",
               "y (parameter 2, no unit)", loc="lower right" if label == "quadratic" else "upper left")
    return fig


def run(ctx) -> Section:
    problems = _problems(ctx.quick)
    ctx.start("1 update rule", len(problems))
    runs, rows, metrics, checks = [], [], {}, []
    for label, fun, start, lr, steps in problems:
        m = _measure(fun, start, lr, steps)
        ctx.tick()
        runs.append((label, fun, m))
        metrics[label] = {k: v for k, v in m.items() if k != "result"} | {"lr": lr}
        rows.append([label, fmt(lr), m["steps"], fmt(m["f0"]), fmt(m["f_end"]),
                     fmt(m["descent_fraction"], 4), fmt(m["cos_mean"], 6), fmt(m["distance"])])
    for label, _, m in runs:
        checks.append(Check(f"{label}: descends", m["descent_fraction"] >= DESCENT_FRACTION,
                            f"on the {label} function f fell at {m['descent_fraction']:.2%} of the "
                            f"steps (threshold {DESCENT_FRACTION:.0%})"))
        checks.append(Check(f"{label}: along -grad", m["cos_mean"] >= ALIGNED,
                            f"on {label} the mean cosine between step and −∇f is {m['cos_mean']:.6f} "
                            f"(threshold {ALIGNED})"))
        checks.append(Check(f"{label}: reaches the minimum", m["distance"] <= NEAR,
                            f"on {label} it ended {m['distance']:.3g} from the minimiser after {m['steps']} "
                            f"steps (threshold {NEAR})"))
    fig = section_figure("01-update-rule", "Gradient descent paths over the contours; the arrows show "
                         "the negative gradient at points of the path.", lambda: _draw(runs))
    ctx.finish()
    return Section(
        key="update_rule", title="The update rule", claim=CLAIM,
        setup=("Plain gradient descent (gdlab's `sgd`, no momentum) with `gdlab.lab.functions.minimize`: "
               "on the quadratic ½(x² + 10y²) from (−9, 3) with η = 0.15 (< 2/10, the stability "
               f"limit) for up to 500 steps, and on Rosenbrock's (1−x)² + 100(y−x²)² from "
               f"(−1.2, 1) with η = 0.0015 (< 2/1001.6, the limit set by the curvature at the "
               f"minimum) for up to {problems[1][4]} steps; a run stops early when ‖∇f‖ ≤ 1e-8. "
               "Deterministic: no seed involved."),
        rule=(f"Supported when, on both functions, f falls at ≥ {DESCENT_FRACTION:.0%} of the steps, "
              f"the mean cosine between each step and −∇f is ≥ {ALIGNED}, and the run ends within "
              f"{NEAR} of the minimiser."),
        checks=checks,
        columns=["function", "η", "steps", "f(start)", "f(end)", "share of steps lowering f",
                 "mean cos(step, −∇f)", "distance to minimiser"],
        rows=rows, metrics=metrics, figures=[fig])
