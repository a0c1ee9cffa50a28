"""Where the time of one training step goes: each part of a B1 and a B3 step timed alone.

    python benchmarks/step_parts.py               # 1 thread
    python benchmarks/step_parts.py --threads 2   # the BLAS and the kernels on 2 threads

``--threads`` threads (1), float32, best of 7 rounds of many calls, on arrays of the benchmarks' shapes: B1
(784-256-128-10, batch 128, Adam) and B3 (20,000 x 100, 100-64-1, full batch). Each part runs
alone, on caches warmed by its own previous call (only the gathering reads fresh rows), so
their sum is a lower bound of a real step, in which the Adam update and the matrix products
evict each other's data. The compiled kernels (each build installed: C, numba) and the NumPy
code they replace are timed side by side.
"""

from __future__ import annotations

import argparse
import math
import os
import timeit
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from _common import threads

from gdlab import kernels as gdlab_kernels
from gdlab.nn.losses import CrossEntropyLoss
from gdlab.nn.sequential import mlp
from gdlab.optim import Adam
from gdlab.training import metrics


def best_us(fn, number):
    fn()
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def b1_parts(rng, builds):
    sizes, k = (784, 256, 128, 10), 128
    X = rng.standard_normal((60_000, 784), dtype=np.float32)
    order = rng.permutation(60_000)
    xb = X[order[:k]]
    step = iter(range(10**9))

    def gather(take=None):  # the next batch of the epoch's order: rows not yet in cache
        s = next(step) * k % (60_000 - k)
        if take is None:
            np.take(X, order[s:s + k], axis=0, out=xb, mode="clip")
        else:
            take(X, order[s:s + k], xb)
    Ws = [rng.standard_normal((a, b), dtype=np.float32) * 0.05 for a, b in zip(sizes, sizes[1:])]
    outs = [np.empty((k, s), np.float32) for s in sizes[1:]]
    dWs = [np.empty_like(W) for W in Ws]
    ins = [np.empty((k, s), np.float32) for s in sizes[1:-1]]

    def products():
        h = xb
        for W, o in zip(Ws, outs):
            np.matmul(h, W, out=o)
            h = o
        g = outs[-1]
        for i in range(2, -1, -1):
            np.matmul((xb if i == 0 else outs[i - 1]).T, g, out=dWs[i])
            if i:
                np.matmul(g, Ws[i].T, out=ins[i - 1])
                g = ins[i - 1]

    n_params = sum(W.size + W.shape[1] for W in Ws)
    p = rng.standard_normal(n_params, dtype=np.float32)
    g = rng.standard_normal(n_params, dtype=np.float32) * 1e-3
    y = rng.integers(0, 10, k)
    loss = CrossEntropyLoss()
    numpy_adam = Adam([p.copy()], fast=False)
    h1, h2 = outs[0], outs[1]
    b1, b2 = np.zeros(256, np.float32), np.zeros(128, np.float32)
    m1, m2 = np.empty_like(h1), np.empty_like(h2)

    def numpy_relu_parts():
        for h, b, m in ((h1, b1, m1), (h2, b2, m2)):
            h += b
            np.maximum(h, 0, out=h)
            np.greater(h, 0, out=m)
            np.multiply(m, h, out=m)
            np.ones(k, np.float32) @ m
    adam, xent, relu, norm, rows = [], [], [], [], []
    for name, kernels in builds.items():
        os.environ["GDLAB_FAST"] = name  # fast=True takes this build
        opt = Adam([p.copy()], fast=True)
        assert opt.kernels is kernels
        adam.append((f"B1 Adam update, {name} kernel", best_us(lambda opt=opt: opt.step([g]), 300)))
        xent.append((f"B1 the same, {name} kernel",
                     best_us(lambda k=kernels: loss.compute_counting(outs[-1], y, k), 2000)))
        rows.append((f"B1 the same, {name} kernel (take_rows_)",
                     best_us(lambda k=kernels: gather(k.take_rows_), 400)))
        norm.append((f"B1 the same, {name} kernel (sum_squares)",
                     best_us(lambda k=kernels: k.sum_squares(g), 1000)))

        def fused(kernels=kernels):
            for h, b, db in ((h1, b1, b1.copy()), (h2, b2, b2.copy())):
                kernels.bias_relu_(h, b)
                kernels.relu_backward_bias_(h, h, db)
        relu.append((f"B1 the same, fused {name} kernels", best_us(fused, 1000)))
    return [
        ("B1 the 8 matrix products", best_us(products, 300)),
        ("B1 Adam update, NumPy", best_us(lambda: numpy_adam.step([g]), 300)), *adam,
        ("B1 gathering the batch's rows (np.take)", best_us(gather, 400)), *rows,
        ("B1 softmax cross-entropy, value and gradient, and the accuracy count: NumPy",
         best_us(lambda: (loss.compute(outs[-1], y, None, True),
                          metrics.correct(outs[-1], y, None)), 2000)), *xent,
        ("B1 Adam update, NumPy, split in 2 chunks on 2 Python threads",
         best_us(numpy_adam_in_chunks(p, g), 300)),
        ("B1 global gradient norm (np.dot)", best_us(lambda: np.dot(g, g), 1000)), *norm,
        ("B1 bias, ReLU, its derivative, bias gradients: NumPy", best_us(numpy_relu_parts, 1000)),
        *relu,
    ]


def numpy_adam_in_chunks(p, g, chunks=2):
    """NumPy's Adam update with the flat vector split in ``chunks`` parts, each updated by its
    own optimizer on its own Python thread (NumPy releases the GIL inside each pass): whether
    the NumPy-only path gains from the cores without compiled kernels."""
    bounds = np.linspace(0, p.size, chunks + 1).astype(int)
    parts = [(Adam([p[a:b].copy()], fast=False), g[a:b]) for a, b in zip(bounds, bounds[1:])]
    pool = ThreadPoolExecutor(chunks - 1)

    def step():
        futures = [pool.submit(opt.step, [gg]) for opt, gg in parts[1:]]
        parts[0][0].step([parts[0][1]])
        for f in futures:
            f.result()
    return step


def b3_parts(rng, builds):
    n = 20_000
    X = rng.standard_normal((n, 100), dtype=np.float32)
    W1 = rng.standard_normal((100, 64), dtype=np.float32) * 0.1
    b1 = rng.standard_normal(64, dtype=np.float32) * 0.1
    w2 = rng.standard_normal((64, 1), dtype=np.float32) * 0.1
    H, dH, o = np.empty((n, 64), np.float32), np.empty((n, 64), np.float32), np.empty((n, 1), np.float32)
    d = rng.standard_normal((n, 1), dtype=np.float32) * 1e-4
    dW1, dw2, db1 = np.empty_like(W1), np.empty(64, np.float32), np.empty(64, np.float32)
    dc = np.empty(1, np.float32)
    ones = np.ones(n, np.float32)
    np.matmul(X, W1, out=H)

    mask = np.empty_like(H)

    def numpy_elementwise():
        np.add(H, b1, out=H)
        np.maximum(H, 0, out=H)
        np.matmul(H, w2, out=o)
        np.matmul(H.T, d, out=dw2.reshape(64, 1))
        np.einsum("i,j->ij", d[:, 0], w2[:, 0], out=dH)
        np.greater(H, 0, out=mask)
        np.multiply(dH, mask, out=dH)
        ones @ dH
    rows = [
        ("B3 X W1 (forward product)", best_us(lambda: np.matmul(X, W1, out=H), 30)),
        ("B3 X^T dH (weight gradient)", best_us(lambda: np.matmul(X.T, dH, out=dW1), 30)),
        ("B3 bias, ReLU, head product, its gradients, ReLU derivative, bias gradient: NumPy",
         best_us(numpy_elementwise, 20)),
    ]
    for name, kernels in builds.items():
        def fused(kernels=kernels):
            kernels.bias_relu_dot_(H, b1, w2[:, 0], np.float32(0.1), o)
            kernels.outer_relu_backward_bias_(d, w2[:, 0], H, db1, dw2, dc)
        rows.append((f"B3 the same, two fused {name} kernels", best_us(fused, 20)))
    return rows


def overhead_rows(builds):
    """A whole training step of a network so small (8-8-8-3, batch 4) that its arithmetic is
    nothing: what is left is the Python and the calls between the parts, per step."""
    import time

    from gdlab.training import Trainer

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4000, 8), dtype=np.float32), rng.integers(0, 3, 4000)
    rows = []
    for name in [*builds, "numpy"]:
        os.environ["GDLAB_FAST"] = name if name != "numpy" else "0"
        net = mlp(8, (8, 8), 3, seed=0, fast=name != "numpy")
        trainer = Trainer(net, CrossEntropyLoss(), Adam([net.flat_parameters], fast=name != "numpy"),
                          batch_size=4, epochs=1, tol=None, seed=0, divergence_factor=None)
        trainer.fit(X, y)
        best = math.inf
        for _ in range(5):
            t0 = time.perf_counter()
            trainer.fit(X, y, epochs=1)
            best = min(best, time.perf_counter() - t0)
        rows.append((f"a whole step of an 8-8-8-3 network, batch 4 (Python and calls), {name}",
                     best / 1000 * 1e6))
    return rows


def contract_rows(builds):
    """The kernel calls of one B1 step (bias_relu_ and relu_backward_bias_ twice, the Adam
    update, the cross-entropy, the gather, the norm) on one-element arrays: the calls, their
    argument parsing and every check of the kernels' contract (gdlab.kernels.contract), with
    nothing to compute. An upper bound of what the contract costs a step: it is per call, not
    per element."""
    f = np.float32
    Y, b, db, p, g, m, v = (np.zeros((1, 1), f), *(np.zeros(1, f) for _ in range(6)))
    z, y, gz = np.zeros((1, 2), f), np.zeros(1, np.int64), np.zeros((1, 2), f)
    X, out, none = np.zeros((3, 4), f), np.zeros((1, 4), f), np.empty(0, f)
    rows = []
    for name, k in builds.items():
        def calls(k=k):
            for _ in range(2):
                k.bias_relu_(Y, b)
                k.relu_backward_bias_(Y, Y, db)
            k.adam_step(p, g, m, v, none, 1.0, 0.0, 1.0, 0.1, 0.999, 0.001, 1e-8, -1e-3)
            k.softmax_xent_(z, y, gz, 1.0)
            k.take_rows_(X, y, out)
            k.sum_squares(g)
        rows.append((f"B1 the step's 8 kernel calls on 1-element arrays (checks, no work), {name}",
                     best_us(calls, 2000)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS and kernel threads (1)")
    n = parser.parse_args().threads
    builds = {name: gdlab_kernels.build(name) for name in gdlab_kernels.BACKENDS}
    builds = {name: module for name, module in builds.items() if module is not None}
    rng = np.random.default_rng(0)
    with threads(n):
        rows = (b1_parts(rng, builds) + b3_parts(rng, builds) + overhead_rows(builds)
                + contract_rows(builds))
    width = max(len(name) for name, _ in rows)
    title = f"part of one step ({n} thread{'s' * (n > 1)}, warm caches)"
    print(f"| {title:<{width}} | {'us':>8} |")
    print(f"|{'-' * (width + 2)}|{'-' * 10}|")
    for name, us in rows:
        print(f"| {name:<{width}} | {us:8.1f} |")


if __name__ == "__main__":
    main()
