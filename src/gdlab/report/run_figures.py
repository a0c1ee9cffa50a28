"""The figures of one run beyond its curves, in the style of :mod:`gdlab.report.plots`: the
confusion matrix of a classifier, predicted against actual values for a regressor, and the
learning-rate range test (``gdlab lr-find``).

Each function returns a pyplot-free :class:`matplotlib.figure.Figure` with a title and
labelled axes; :func:`gdlab.report.plots.save` writes it.
"""

from __future__ import annotations

import numpy as np

from gdlab.report.plots import colour, finish, new_figure, styled


def confusion_figure(matrix, classes, *, dataset: str = ""):
    """The test set's confusion matrix (rows: the true class, columns: the predicted one),
    each cell's count written in it; the colour is the share of its row (the recall)."""
    matrix = np.asarray(matrix, dtype=float)
    k = matrix.shape[0]
    labels = [str(c) for c in classes]
    side = min(7.0, max(4.2, 0.45 * k + 2.4))
    fig, axes = new_figure(1, 1, side, side * 0.9)
    ax = axes[0, 0]
    with styled():
        ax.grid(False)
        rows = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
        image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        small = 8 if k > 6 else 10
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=small,
                        color="white" if share[i, j] > 0.55 else "black")
        ax.set_xticks(range(k), labels, rotation=45 if max(map(len, labels)) > 3 else 0,
                      ha="right" if max(map(len, labels)) > 3 else "center")
        ax.set_yticks(range(k), labels)
        fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
        where = f" on {dataset}" if dataset else ""
        finish(ax, f"Confusion matrix, test set{where}", "predicted class", "true class",
               legend=False)
    return fig


def predicted_figure(actual, predicted, *, target: str = "target", dataset: str = ""):
    """Predicted against actual values of the test set, in the target's units, with the line
    of perfect predictions."""
    actual = np.asarray(actual, dtype=float).ravel()
    predicted = np.asarray(predicted, dtype=float).ravel()
    fig, axes = new_figure(1, 1, 5.6, 5.0)
    ax = axes[0, 0]
    with styled():
        ax.scatter(actual, predicted, s=12, alpha=0.6, color=colour(0), label="test rows")
        both = np.concatenate([actual, predicted])
        both = both[np.isfinite(both)]
        if both.size:
            lo, hi = float(both.min()), float(both.max())
            ax.plot([lo, hi], [lo, hi], color=colour(6), linestyle="--", linewidth=1,
                    label="predicted = actual")
        where = f" on {dataset}" if dataset else ""
        finish(ax, f"Predicted against actual, test set{where}", f'actual "{target}"',
               f'predicted "{target}"')
    return fig


def lr_find_figure(lrs, losses, *, suggestion=None, rule: str = "", loss_name: str = "loss",
                   dataset: str = ""):
    """The learning-rate range test: the smoothed training loss against the rate (log x
    axis), the suggested rate marked."""
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    fig, axes = new_figure(1, 1, 6.4, 4.2)
    ax = axes[0, 0]
    with styled():
        ax.plot(lrs, losses, label="smoothed training loss", **{"color": colour(0)})
        ax.set_xscale("log")
        finite = losses[np.isfinite(losses)]
        if finite.size:  # the blow-up at the end would flatten the rest: cap the axis above
            lowest = int(np.argmin(finite))   # the highest loss before the lowest one
            top = float(finite[:lowest + 1].max())
            if finite.max() > 1.3 * top:
                ax.set_ylim(top=top + 0.3 * (top - finite.min()) + 1e-12)
        if suggestion is not None:
            at = float(np.interp(np.log(suggestion), np.log(lrs), losses)) if lrs.size else None
            ax.axvline(suggestion, color=colour(3), linestyle="--", linewidth=1)
            if at is not None:
                ax.plot([suggestion], [at], marker="o", color=colour(3), linestyle="none",
                        label=f"suggested {suggestion:.3g}" + (f" ({rule})" if rule else ""))
        where = f" on {dataset}" if dataset else ""
        finish(ax, f"Learning-rate range test{where}", "learning rate (log scale)",
               f"training loss ({loss_name}, smoothed)")
    return fig
