"""Fit time of gdlab.GDClassifier against scikit-learn's MLPClassifier: same data, same
parameters, same number of epochs, same BLAS thread count, median of 3 fits.

    python benchmarks/bench_estimators.py [--threads 1] [--repeats 3] [--quick]

Both estimators run exactly ``max_iter`` epochs (``n_iter_no_change=inf`` turns the stopping
rule off), so the times compare the same work; the test accuracy column shows it is the same
learning. Both follow the input's dtype, so each row fits float64 or float32 data.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the installed gdlab (with its compiled C kernels); a checkout's src/ only where not installed
if importlib.util.find_spec("gdlab") is None and os.path.join(ROOT, "src") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "src"))


def datasets(quick):
    from sklearn.datasets import load_digits, make_classification

    X, y = load_digits(return_X_y=True)
    yield "digits 1797x64", X, y, dict(hidden_layer_sizes=(100,), max_iter=20 if quick else 100)
    n = 5_000 if quick else 20_000
    X, y = make_classification(n_samples=n, n_features=100, n_informative=30, n_classes=5,
                               random_state=0)
    yield f"synthetic {n}x100", X, y, dict(hidden_layer_sizes=(100,), max_iter=5 if quick else 20)


def interleaved_fits(rivals, X, y, repeats):
    """Median fit seconds of each ``(cls, params)`` rival and its last fitted estimator. The
    rivals alternate within each repeat (and swap order every repeat) so that a change in the
    machine's load hits them alike."""
    times = [[] for _ in rivals]
    fitted = [None] * len(rivals)
    for r in range(repeats):
        order = range(len(rivals)) if r % 2 == 0 else reversed(range(len(rivals)))
        for i in order:
            cls, params = rivals[i]
            est = cls(**params)
            t0 = time.perf_counter()
            est.fit(X, y)
            times[i].append(time.perf_counter() - t0)
            fitted[i] = est
    return [statistics.median(t) for t in times], fitted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both (1)")
    parser.add_argument("--repeats", type=int, default=3, help="fits per rival; median (3)")
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer epochs")
    args = parser.parse_args(argv)

    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from gdlab.estimators import GDClassifier

    rows = []
    with threadpool_limits(limits=args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ConvergenceWarning of a fixed epoch budget
        for name, X, y, params in datasets(args.quick):
            Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
            scaler = StandardScaler().fit(Xtr)
            Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
            params = dict(params, solver="adam", random_state=0, n_iter_no_change=np.inf)
            for dtype in (np.float64, np.float32):
                a, b = Xtr.astype(dtype), Xte.astype(dtype)
                (t_gd, t_sk), (gd, sk) = interleaved_fits(
                    [(GDClassifier, params), (MLPClassifier, params)], a, ytr, args.repeats)
                assert gd.n_iter_ == sk.n_iter_ == params["max_iter"]
                rows.append((name, np.dtype(dtype).name, params["max_iter"], t_gd, t_sk,
                             gd.score(b, yte), sk.score(b, yte)))

    head = ("data", "dtype", "epochs", "GDClassifier s", "MLPClassifier s", "speed-up",
            "acc gdlab", "acc sklearn")
    print(f"fit time, median of {args.repeats}, {args.threads} BLAS thread(s), solver adam, "
          f"hidden (100,), batch 200; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, dt, ep, t_gd, t_sk, acc_gd, acc_sk in rows:
        print(f"| {name} | {dt} | {ep} | {t_gd:.3f} | {t_sk:.3f} | {t_sk / t_gd:.2f}x | "
              f"{acc_gd:.4f} | {acc_sk:.4f} |")


if __name__ == "__main__":
    main()
