"""Benchmark 1: mini-batch throughput, one epoch of Adam on an MNIST-sized problem.

MLP 784-256-128-10 with ReLU, softmax cross-entropy, Adam (lr 1e-3), batch 128, one epoch over
60,000 random float32 samples. Rivals:

- ``gdlab``: ``GDClassifier(...).fit`` as a user calls it, with the C kernels that
  ``pip install .`` builds;
- ``gdlab-numba``: the same with the numba kernels of ``gdlab[fast]`` instead;
- ``gdlab-numpy``: the same with NumPy code only (neither build importable);
- ``torch``: PyTorch CPU eager, a plain training loop (``nn.Sequential``, ``torch.optim.Adam``);
- ``sklearn``: ``MLPClassifier(solver="adam", batch_size=128, max_iter=1)`` on float32 input;
- ``floor``: the same matrix products alone (3 forward, 3 weight gradients, 2 input gradients
  per step), timed in NumPy with preallocated outputs: no training loop can beat it.

The same worker, with ``--memory``, measures benchmark 5: the resident memory that fit adds
above the process's memory just before it (data loaded, library imported), for the first fit
of a fresh process ("cold": lazy imports and first-use set-up included) and for a second one
("warm").

    python benchmarks/run_all.py --only throughput
"""

from __future__ import annotations

import numpy as np
from _common import quiet, random_classification

NAME = "throughput"
GDLAB_RIVALS = ("gdlab", "gdlab-numba", "gdlab-numpy")
RIVALS = ("gdlab", "gdlab-numba", "gdlab-numpy", "torch", "sklearn", "floor")
SIZES = (784, 256, 128, 10)
BATCH = 128
LR = 1e-3


def data(quick):
    n = 12_800 if quick else 60_000
    return random_classification(n, SIZES[0], SIZES[-1], seed=0)


# ---- the rivals: each returns (fit(X, y), description) ----------------------------------------
def make_gdlab(seed=0):
    from _common import gdlab_classifier_available

    hidden = SIZES[1:-1]
    if gdlab_classifier_available():
        from gdlab.estimators import GDClassifier

        def fit(X, y):
            with quiet():
                GDClassifier(hidden_layer_sizes=hidden, solver="adam", alpha=0.0, batch_size=BATCH,
                             learning_rate_init=LR, max_iter=1, shuffle=True,
                             random_state=seed).fit(X, y)
        return fit, "GDClassifier.fit"
    return make_gdlab_trainer(seed)


def make_gdlab_trainer(seed=0):
    from _common import gdlab_trainer_available

    from gdlab.nn.losses import CrossEntropyLoss
    from gdlab.nn.sequential import mlp
    from gdlab.optim import Adam

    if gdlab_trainer_available():
        from gdlab.training import Trainer

        def fit(X, y):
            net = mlp(SIZES[0], SIZES[1:-1], SIZES[-1], seed=seed)
            Trainer(net, CrossEntropyLoss(), Adam([net.flat_parameters], lr=LR),
                    batch_size=BATCH, epochs=1, tol=None, seed=seed).fit(X, y)
        return fit, "Trainer.fit"

    def fit(X, y):  # the Trainer's hot path, written out (until training.py lands)
        net = mlp(SIZES[0], SIZES[1:-1], SIZES[-1], seed=seed)
        loss, opt = CrossEntropyLoss(), Adam([net.flat_parameters], lr=LR)
        grads = [net.flat_gradients]
        rng = np.random.default_rng(seed)
        n = X.shape[0]
        perm = rng.permutation(n)
        for start in range(0, n, BATCH):
            idx = perm[start:start + BATCH]
            out = net.forward(X[idx], training=True)
            _, g = loss.compute(out, y[idx], None, True)
            net.backward(g, input_grad=False)
            opt.step(grads)
    return fit, "hand-written loop (Trainer not importable yet)"


def make_torch(seed=0):
    import torch
    from torch import nn

    def fit(X, y):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(),
                              nn.Linear(SIZES[1], SIZES[2]), nn.ReLU(),
                              nn.Linear(SIZES[2], SIZES[3]))
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        loss_fn = nn.CrossEntropyLoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        n = X.shape[0]
        perm = torch.randperm(n)
        total = 0.0
        for start in range(0, n, BATCH):
            idx = perm[start:start + BATCH]
            xb, yb = Xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)  # the epoch loss, as gdlab and sklearn report it
        return total / n
    return fit, f"torch {torch.__version__} eager loop, torch.optim.Adam (default foreach)"


def make_sklearn(seed=0):
    import sklearn
    from sklearn.neural_network import MLPClassifier

    def fit(X, y):
        with quiet():
            MLPClassifier(hidden_layer_sizes=SIZES[1:-1], solver="adam", alpha=0.0, batch_size=BATCH,
                          learning_rate_init=LR, max_iter=1, shuffle=True,
                          random_state=seed).fit(X, y)
    return fit, f"scikit-learn {sklearn.__version__} MLPClassifier.fit"


def make_floor(seed=0):
    """The matrix products of one epoch, nothing else (outputs preallocated)."""
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((a, b), dtype=np.float32) * 0.05
          for a, b in zip(SIZES[:-1], SIZES[1:])]
    dWs = [np.empty_like(W) for W in Ws]

    def buffers(k):
        return ([np.empty((k, s), np.float32) for s in SIZES[1:]],
                [np.empty((k, s), np.float32) for s in SIZES[1:-1]])

    def fit(X, y):
        n = X.shape[0]
        full, last = buffers(BATCH), buffers(n % BATCH or BATCH)
        for start in range(0, n, BATCH):
            xb = X[start:start + BATCH]  # a view: gathering rows is not a matrix product
            outs, ins = full if xb.shape[0] == BATCH else last
            h = xb
            for W, o in zip(Ws, outs):
                np.matmul(h, W, out=o)
                h = o
            g = outs[-1]
            for i in range(len(Ws) - 1, -1, -1):
                np.matmul((xb if i == 0 else outs[i - 1]).T, g, out=dWs[i])
                if i:
                    np.matmul(g, Ws[i].T, out=ins[i - 1])
                    g = ins[i - 1]
    return fit, "NumPy matmul only (8 products per step)"


MAKERS = {"gdlab": make_gdlab, "gdlab-numba": make_gdlab, "gdlab-numpy": make_gdlab,
          "torch": make_torch,
          "sklearn": make_sklearn, "floor": make_floor}


def measure(rival, args):
    """Time one epoch ``args.repeats`` times (after a short warm-up run); or, with
    ``args.memory``, the memory one epoch's fit adds."""
    from _common import timed

    X, y = data(args.quick)
    fit, entry = MAKERS[rival]()
    if args.memory:
        # "cold": the first fit of a fresh process (data loaded, library imported), lazy imports
        # and first-use initialisation included; "warm": a second, identical fit
        from _memory import fit_memory

        cold = fit_memory(lambda: fit(X, y))
        warm = fit_memory(lambda: fit(X, y))
        return {"peak_added_mb": cold["peak_added_mb"], "rss_before_mb": cold["rss_before_mb"],
                "warm_peak_added_mb": warm["peak_added_mb"], "entry": entry}
    fit(X[:4 * BATCH], y[:4 * BATCH])  # imports, JIT caches and first-call allocations
    median, times = timed(lambda: fit(X, y), args.repeats)
    return {"seconds": min(times), "median": median, "times": times, "entry": entry,
            "n_samples": X.shape[0]}


def summarize(res, threads):
    """Rows of (measure, value, ratio text, target text, met) for the table."""
    rows = []
    t = {k: v["seconds"] for k, v in res.items() if "seconds" in v}
    for rival in RIVALS:
        if rival in t:
            rows.append((f"B1 epoch time, {rival}", f"{t[rival]:.3f} s", res[rival]["entry"]))
    checks = []
    mine = [name for name in GDLAB_RIVALS if name in t]
    for rival, need in (("torch", 1.8), ("sklearn", 1.8)):
        for name in mine:
            if rival in t:
                r = t[rival] / t[name]
                checks.append((f"B1 {name} speed-up over {rival}", r, f">= {need}x", r >= need))
    for name in mine if "floor" in t else ():
        r, need = t[name] / t["floor"], 2.3 if name == "gdlab-numpy" else 1.6
        checks.append((f"B1 {name} / GEMM floor", r, f"<= {need}x", r <= need))
    return rows, checks
