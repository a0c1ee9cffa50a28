"""Figures for runs, comparisons and landscapes, in one visual style.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (so no global
figure registry and no interactive backend: the Agg canvas renders it), with a title,
labelled axes with units and a legend; :func:`save` writes it as PNG. The palette is
Okabe-Ito, which stays distinguishable for the common forms of colour blindness; line styles
cycle as well, so curves are told apart in grey print too. matplotlib is imported here only,
inside the functions, and never pyplot.

The building blocks serve every figure of gdlab (``train``, ``compare``, the tour): :data:`STYLE`
and :func:`styled` (the rc settings), :func:`new_figure` (a styled grid of axes), :func:`style`
and :func:`colour` (the i-th curve), :func:`finish` (title, labels, legend) and
:func:`to_png_bytes` / :func:`save`.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np

# Okabe & Ito (2008), "Color Universal Design"; the pale yellow comes last, being the hardest
# to see on white
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
             "#F0E442")
LINESTYLES = ("-", "--", "-.", ":")

STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
"""The matplotlib rc settings of every gdlab figure (apply them with :func:`styled`)."""


def style(i: int) -> dict:
    """Colour and line style of the i-th curve (keyword arguments for ``ax.plot``)."""
    return {"color": OKABE_ITO[i % len(OKABE_ITO)],
            "linestyle": LINESTYLES[(i // len(OKABE_ITO)) % len(LINESTYLES)]}


def colour(i: int) -> str:
    """Colour of the i-th curve, bar or marker: the Okabe-Ito palette, cycled."""
    return OKABE_ITO[i % len(OKABE_ITO)]


@contextlib.contextmanager
def styled():
    """Draw inside gdlab's style: the :data:`STYLE` settings apply to what the block creates.

    matplotlib reads most rc settings when an artist is created (a legend's font size when
    the legend is made), so a figure drawn in several steps should be drawn inside the block.
    """
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 6.4, height: float = 4.2):
    """A pyplot-free figure of ``width x height`` inches with ``nrows x ncols`` axes in the style.

    Returns ``(fig, axes)`` with ``axes`` a 2-D array (``axes[0, 0]`` for a single plot). The
    figure has an Agg canvas (no global registry, no interactive backend) and a constrained
    layout.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with styled():
        fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def finish(ax, title: str, xlabel: str, ylabel: str, legend: bool = True, **legend_kw) -> None:
    """Title and axis labels (with units); a frameless legend when something is labelled.

    ``legend_kw`` goes to ``ax.legend`` (default ``loc="best"``). An x axis labelled
    "epoch" gets integer ticks.
    """
    if xlabel == "epoch":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, **({"loc": "best"} | legend_kw))


def _single_axes(width=6.4, height=4.2):
    fig, axes = new_figure(1, 1, width, height)
    return fig, axes[0, 0]


def _log_if_positive(ax, *arrays):
    values = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays if len(a)] or
                            [np.zeros(0)])
    values = values[np.isfinite(values)]
    if values.size and np.all(values > 0) and values.max() / values.min() > 20:
        ax.set_yscale("log")


def save(fig, path) -> Path:
    """Write ``fig`` as a PNG file (creating the folder) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


def to_png_bytes(fig) -> bytes:
    """The figure as PNG bytes (for embedding in a report)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


# ---- one training run -------------------------------------------------------------------------

def plot_history(history: dict, keys, *, title: str, ylabel: str, labels=None):
    """Per-epoch curves of ``history[key]`` for each key present (e.g. loss and val_loss).

    ``labels`` maps keys to legend entries (default: "training" / "validation").
    """
    fig, ax = _single_axes()
    drawn = []
    for i, key in enumerate(keys):
        values = np.asarray(history.get(key) or [], dtype=float)
        if values.size == 0 or not np.any(np.isfinite(values)):
            continue
        label = (labels or {}).get(key) or ("validation" if key.startswith("val_") else
                                            "training")
        ax.plot(np.arange(1, values.size + 1), values, marker="o" if values.size < 30 else None,
                markersize=3, label=label, **style(i))
        drawn.append(values)
    if "loss" in keys[0]:
        _log_if_positive(ax, *drawn)
    finish(ax, title, "epoch", ylabel)
    return fig


def loss_figure(history: dict, *, loss_name: str, dataset: str = ""):
    """Training and validation loss against epochs (``loss.png``)."""
    where = f" on {dataset}" if dataset else ""
    return plot_history(history, ("loss", "val_loss"), title=f"Loss per epoch{where}",
                        ylabel=f"loss ({loss_name})")


def accuracy_figure(history: dict, *, dataset: str = ""):
    """Training and validation accuracy against epochs (``accuracy.png``)."""
    where = f" on {dataset}" if dataset else ""
    return plot_history(history, ("accuracy", "val_accuracy"),
                        title=f"Accuracy per epoch{where}", ylabel="accuracy (fraction correct)")


# ---- comparisons ------------------------------------------------------------------------------

def plot_runs(curves: list[dict], *, x: str = "epoch", title: str, ylabel: str,
              cap: bool = True):
    """Mean curve of each configuration over its seeds, with the spread (min to max) shaded.

    ``curves``: one dict per configuration, ``{"label": str, "runs": [{"time": [...],
    "loss": [...]}, ...]}`` (one entry per seed; a diverged run may be shorter). ``x`` is
    ``"epoch"`` or ``"time"`` (wall-clock seconds since the start of training, averaged over
    the seeds at each epoch). One line per configuration; a configuration none of whose runs
    has a finite value is listed in the legend as "diverged" without a curve; a run dict
    with ``"diverged": True`` is counted in its legend entry. ``cap`` (for losses) limits the
    y axis to a decade above the highest first value of the runs that did not diverge, so a
    run blowing up does not squash the others.
    """
    if x not in ("epoch", "time"):
        raise ValueError(f"x must be 'epoch' or 'time', got {x!r}")
    fig, ax = _single_axes(7.2, 4.6)
    everything, starts = [], []
    for i, curve in enumerate(curves):
        spread = _seed_spread(curve["runs"], x)
        if spread is None:
            continue
        xs, mean, low, high, diverged = spread
        if xs is None:
            ax.plot([], [], label=f"{curve['label']} (diverged)", **style(i))
            continue
        if len(curve["runs"]) > 1:
            ax.fill_between(xs, low, high, alpha=0.18, color=colour(i), linewidth=0)
        suffix = f" ({diverged} diverged)" if diverged else ""
        ax.plot(xs, mean, label=curve["label"] + suffix, **style(i))
        everything += [low, high]
        if not diverged:
            starts.append(mean[0])
    _log_if_positive(ax, *everything)
    if cap:
        _cap_y_axis(ax, everything, starts)
    finish(ax, title, "epoch" if x == "epoch" else "wall-clock time (s)", ylabel)
    if len(curves) > 5 and ax.get_legend():  # many entries: under the axes, not over curves
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, frameon=False)
        fig.set_figheight(4.6 + 0.22 * ((len(curves) + 1) // 2))
    return fig


def _seed_spread(runs: list[dict], x: str):
    """``(xs, mean, low, high, diverged runs)`` over the seeds of one configuration.

    None when no run has a value; ``xs`` is None when none has a finite one. Runs of unequal
    length are padded with NaN, so each epoch is summarised over the runs that reached it.
    """
    losses = [np.asarray(r["loss"], dtype=float) for r in runs]
    times = [np.asarray(r["time"], dtype=float) for r in runs]
    length = max((r.size for r in losses), default=0)
    if length == 0:
        return None
    Y = np.full((len(losses), length), np.nan)
    T = np.full((len(losses), length), np.nan)
    for j, (r, t) in enumerate(zip(losses, times)):
        Y[j, :r.size] = r
        T[j, :t.size] = t
    Y[~np.isfinite(Y)] = np.nan
    ok = np.any(np.isfinite(Y), axis=0)
    if not ok.any():
        return None, None, None, None, len(runs)
    # a column may hold one finite value among NaNs: nanmean and friends warn, the value is right
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(Y[:, ok], axis=0)
        low = np.nanmin(Y[:, ok], axis=0)
        high = np.nanmax(Y[:, ok], axis=0)
        xs = np.arange(1, length + 1)[ok] if x == "epoch" else np.nanmean(T[:, ok], axis=0)
    diverged = sum(1 for r, spec in zip(losses, runs)
                   if spec.get("diverged") or not np.all(np.isfinite(r)))
    return xs, mean, low, high, diverged


def _cap_y_axis(ax, values: list, starts: list) -> None:
    # a diverged run's last values would squash every other curve: cap the axis a decade
    # above the highest starting value
    finite = np.concatenate(values) if values else np.zeros(0)
    finite = finite[np.isfinite(finite)]
    if starts and finite.size:
        top = 10 * max(starts) if ax.get_yscale() == "log" else 2 * max(starts)
        if finite.max() > top:
            ax.set_ylim(top=top)


# ---- landscapes -------------------------------------------------------------------------------

def plot_landscape(function, paths: dict, *, title: str | None = None, bounds=None,
                   maximize: bool = False):
    """Contours of a 2-D test function with each optimizer's path drawn over them.

    ``function`` has ``f`` (vectorised over ``(..., 2)``), ``bounds``, ``minima`` and
    ``name``; ``paths`` maps a label to an array of points of shape ``(n, 2)``.
    """
    fig, ax = _single_axes(6.4, 5.2)
    (x0, x1), (y0, y1) = bounds or function.bounds
    # widen the box so that the paths stay visible, but by half its size at most: a path
    # that runs away leaves the picture rather than shrinking everything else to a dot
    pts = [np.asarray(p, dtype=float) for p in paths.values() if len(p)]
    if pts:
        allp = np.concatenate(pts)
        allp = allp[np.all(np.isfinite(allp), axis=1)]
        if allp.size:
            w, h = x1 - x0, y1 - y0
            pad_x, pad_y = 0.05 * w, 0.05 * h
            x0 = max(min(x0, allp[:, 0].min() - pad_x), x0 - w / 2)
            x1 = min(max(x1, allp[:, 0].max() + pad_x), x1 + w / 2)
            y0 = max(min(y0, allp[:, 1].min() - pad_y), y0 - h / 2)
            y1 = min(max(y1, allp[:, 1].max() + pad_y), y1 + h / 2)
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    with np.errstate(all="ignore"):
        Z = np.asarray(function.f(np.stack([gx, gy], axis=-1)), dtype=float)
    finite = Z[np.isfinite(Z)]
    levels = 30
    if finite.size and finite.min() >= 0 and finite.max() / max(finite.min(), 1e-12) > 1e3:
        # values spanning decades (Rosenbrock, Beale): logarithmic contour levels
        lo = max(finite.min(), finite.max() * 1e-6, 1e-6)
        levels = np.geomspace(lo, finite.max(), 30)
    ax.grid(False)
    ax.contourf(gx, gy, Z, levels=levels, cmap="Greys", alpha=0.35, extend="both")
    ax.contour(gx, gy, Z, levels=levels, colors="0.45", linewidths=0.5)
    optima = getattr(function, "maxima" if maximize else "minima", None) or []
    for m in optima:
        ax.plot(*m, marker="*", markersize=12, color="black", linestyle="none")
    if optima:
        ax.plot([], [], marker="*", color="black", linestyle="none",
                label="maximum" if maximize else "minimum")
    for i, (label, path) in enumerate(paths.items()):
        path = np.asarray(path, dtype=float)
        st = style(i)
        ax.plot(path[:, 0], path[:, 1], label=label, linewidth=1.5, **st)
        ax.plot(path[-1, 0], path[-1, 1], marker="o", markersize=5, color=st["color"],
                linestyle="none")
    if pts:
        ax.plot(*pts[0][0], marker="s", markersize=6, color="black", linestyle="none",
                label="start")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    name = getattr(function, "name", "function")
    finish(ax, title or f"Optimizer paths on the {name} function", "x (parameter 1, no unit)",
            "y (parameter 2, no unit)")
    ax.legend(loc="best", framealpha=0.9)
    return fig
