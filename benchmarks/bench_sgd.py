"""Benchmark 2: stochastic gradient descent (batch size 1), where per-step overhead is everything.

One epoch over scikit-learn's digits (1,797 samples, standardised, float32) with a 64-32-10
ReLU network, softmax cross-entropy and SGD with momentum 0.9 (lr 0.01): steps per second for
``GDClassifier(solver="sgd", batch_size=1).fit``, a PyTorch eager loop over single samples and
``MLPClassifier(solver="sgd", batch_size=1)``.
"""

from __future__ import annotations

import numpy as np
from _common import quiet

NAME = "sgd"
RIVALS = ("gdlab", "gdlab-numpy", "torch", "sklearn")
HIDDEN = (32,)
LR, MOMENTUM = 0.01, 0.9


def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12)
    return np.ascontiguousarray(X, dtype=np.float32), y.astype(np.int64)


def make_gdlab(seed=0):
    from gdlab.estimators import GDClassifier

    def fit(X, y):
        with quiet():
            GDClassifier(hidden_layer_sizes=HIDDEN, solver="sgd", alpha=0.0, batch_size=1,
                         learning_rate_init=LR, momentum=MOMENTUM, nesterovs_momentum=False,
                         max_iter=1, random_state=seed).fit(X, y)
    return fit, "GDClassifier.fit"


def make_torch(seed=0):
    import torch
    from torch import nn

    def fit(X, y):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(X.shape[1], HIDDEN[0]), nn.ReLU(),
                              nn.Linear(HIDDEN[0], 10))
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        loss_fn = nn.CrossEntropyLoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        total = 0.0
        for i in torch.randperm(X.shape[0]).tolist():
            xb, yb = Xt[i:i + 1], yt[i:i + 1]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item()
        return total / X.shape[0]
    return fit, f"torch {torch.__version__} eager loop, torch.optim.SGD"


def make_sklearn(seed=0):
    from sklearn.neural_network import MLPClassifier

    def fit(X, y):
        with quiet():
            MLPClassifier(hidden_layer_sizes=HIDDEN, solver="sgd", alpha=0.0, batch_size=1,
                          learning_rate_init=LR, momentum=MOMENTUM, nesterovs_momentum=False,
                          max_iter=1, random_state=seed).fit(X, y)
    return fit, "MLPClassifier.fit"


MAKERS = {"gdlab": make_gdlab, "gdlab-numpy": make_gdlab, "torch": make_torch,
          "sklearn": make_sklearn}


def measure(rival, args):
    from _common import timed

    X, y = data()
    fit, entry = MAKERS[rival]()
    fit(X[:100], y[:100])
    best, times = timed(lambda: fit(X, y), args.repeats)
    return {"seconds": min(times), "median": best, "times": times, "entry": entry,
            "steps": X.shape[0], "steps_per_s": X.shape[0] / min(times)}


def summarize(res, threads):
    rows, checks = [], []
    sps = {k: v["steps_per_s"] for k, v in res.items() if "steps_per_s" in v}
    for rival in RIVALS:
        if rival in sps:
            rows.append((f"B2 SGD steps/s, {rival}", f"{sps[rival]:,.0f}", res[rival]["entry"]))
    for name in ("gdlab", "gdlab-numpy"):
        for rival, need in (("torch", 3.0), ("sklearn", 2.0)):
            if name in sps and rival in sps:
                r = sps[name] / sps[rival]
                checks.append((f"B2 {name} steps/s over {rival}", r, f">= {need}x", r >= need))
    return rows, checks
