"""Benchmark 3: full-batch gradient descent, where the matrix products are large.

200 steps of plain gradient descent (lr 0.01, no momentum) over 20,000 random float32 samples
with 100 features, a 100-64-1 ReLU regression network and the mean squared error:
``GDRegressor(solver="gd", max_iter=200).fit`` against a PyTorch eager loop.
"""

from __future__ import annotations

import numpy as np
from _common import quiet

NAME = "fullbatch"
RIVALS = ("gdlab", "gdlab-numba", "gdlab-numpy", "torch")
N, D, HIDDEN, STEPS, LR = 20_000, 100, (64,), 200, 0.01


def data(quick):
    rng = np.random.default_rng(0)
    n = 5_000 if quick else N
    X = rng.standard_normal((n, D), dtype=np.float32)
    w = rng.standard_normal(D, dtype=np.float32) / np.sqrt(D)
    y = np.tanh(X @ w) + 0.1 * rng.standard_normal(n, dtype=np.float32)
    return X, y.astype(np.float32)


def make_gdlab(seed=0):
    from gdlab.estimators import GDRegressor

    def fit(X, y, steps=STEPS):
        with quiet():
            est = GDRegressor(hidden_layer_sizes=HIDDEN, solver="gd", alpha=0.0, learning_rate_init=LR,
                              momentum=0.0, max_iter=steps, tol=0.0, n_iter_no_change=steps + 1,
                              shuffle=False, random_state=seed).fit(X, y)
        assert est.n_iter_ == steps, est.n_iter_
    return fit, "GDRegressor(solver='gd').fit"


def make_torch(seed=0):
    import torch
    from torch import nn

    def fit(X, y, steps=STEPS):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(D, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], 1))
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        loss_fn = nn.MSELoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt), yt)
            loss.backward()
            opt.step()
            loss.item()  # the loss curve, as gdlab records it
    return fit, f"torch {torch.__version__} eager loop, torch.optim.SGD"


MAKERS = {"gdlab": make_gdlab, "gdlab-numba": make_gdlab, "gdlab-numpy": make_gdlab,
          "torch": make_torch}


def measure(rival, args):
    from _common import timed

    X, y = data(args.quick)
    fit, entry = MAKERS[rival]()
    fit(X, y, steps=3)
    median, times = timed(lambda: fit(X, y), args.repeats)
    return {"seconds": min(times), "median": median, "times": times, "entry": entry}


def summarize(res, threads):
    rows, checks = [], []
    t = {k: v["seconds"] for k, v in res.items() if "seconds" in v}
    for rival in RIVALS:
        if rival in t:
            rows.append((f"B3 200 full-batch steps, {rival}", f"{t[rival]:.3f} s",
                         res[rival]["entry"]))
    for name in ("gdlab", "gdlab-numba", "gdlab-numpy"):
        if name in t and "torch" in t:
            r = t["torch"] / t[name]
            checks.append((f"B3 {name} speed-up over torch", r, ">= 1.3x", r >= 1.3))
    return rows, checks
