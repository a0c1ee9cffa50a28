"""The metrics a training run records: correct predictions, squared errors and R^2, summed
batch by batch in the hot path or measured on a whole data set (validation, the initial loss).
"""

from __future__ import annotations

import numpy as np

from gdlab.training.prepared import is_row_source


def correct(out, y, w):
    """Number (or weight) of correct predictions: argmax for labels, logit > 0 for 0/1 targets."""
    hit = out.argmax(axis=1) == y if y.ndim == 1 else (out > 0) == (y > 0.5)
    if w is None:
        return float(np.count_nonzero(hit))
    return float(w @ hit) if hit.ndim == 1 else float(w @ hit.sum(axis=1))


def r2_from(sse, var_total):
    """Mean over outputs of ``1 - SSE_j / SST_j`` (scikit-learn's r2_score, forced finite)."""
    ok = var_total > 0
    r2 = np.where(ok, 1.0 - sse / np.where(ok, var_total, 1.0), np.where(sse == 0, 1.0, 0.0))
    return float(r2.mean())


def squared_errors(out, y, w):
    """Per-output weighted sum of squared errors."""
    d = out - y
    d *= d
    return d.sum(axis=0, dtype=np.float64) if w is None else w.astype(np.float64) @ d


def weighted_sst(y, w):
    """Per-output total sum of squares around the (weighted) mean."""
    y = y.astype(np.float64)
    if w is None:
        return ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    w = w.astype(np.float64)
    mean = w @ y / w.sum()
    return w @ (y - mean) ** 2


def predict_chunked(net, X, chunk=8192):
    """The network's output in evaluation mode, ``chunk`` rows at a time, so that predicting
    on many samples does not hold every layer's activations for all of them at once. Rows on
    disk (a row source with ``chunks``) are read a chunk at a time, of the source's size."""
    if is_row_source(X):
        out = np.empty((X.shape[0], net.n_outputs), dtype=net.dtype)
        for start, rows in X.chunks():
            out[start:start + rows.shape[0]] = net.predict(rows)
        return out
    if X.shape[0] <= chunk:
        return net.predict(X)
    out = np.empty((X.shape[0], net.n_outputs), dtype=net.dtype)
    for start in range(0, X.shape[0], chunk):
        out[start:start + chunk] = net.predict(X[start:start + chunk])
    return out


def evaluate(net, loss, task, X, y, w, chunk=8192):
    """Loss and metrics of the network (evaluation mode) on a whole data set."""
    n = X.shape[0]
    out = predict_chunked(net, X, chunk)
    value = loss.compute(out, y, w, need_grad=False)[0]
    logs = {"loss": value}
    total = float(n) if w is None else float(w.sum(dtype=np.float64))
    if task == "classification":
        denom = total * (1 if y.ndim == 1 else y.shape[1])
        logs["accuracy"] = correct(out, y, w) / denom
    else:
        sse = squared_errors(out, y, w)
        logs["mse"] = float(sse.sum()) / (total * y.shape[1])
        logs["r2"] = r2_from(sse, weighted_sst(y, w))
    return logs
