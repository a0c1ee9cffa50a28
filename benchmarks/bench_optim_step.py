"""Time one optimizer step on one flat float32 vector: gdlab vs torch.optim.

The training loop hands the optimizer ONE flat parameter vector and ONE flat gradient vector,
so this is the case that matters. Prints the median over many repeats, in milliseconds, for
Adam and SGD with momentum, against torch's single-tensor ("for-loop"), foreach and fused
implementations, with the same number of threads on both sides.

    python benchmarks/bench_optim_step.py [--threads 1] [--repeats 200] [--sizes 235000 1000000]
"""

import argparse
import os
import statistics
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from gdlab import optim
from gdlab.kernels import builds


def median_ms(step, repeats, warmup=10):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def gdlab_step(name, kwargs, n, rng, build=None):
    """One step of gdlab's optimizer: NumPy's code (build None) or the named kernels' build."""
    p = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    os.environ["GDLAB_FAST"] = build or "0"  # fast=True takes this build
    opt = getattr(optim, name)([p], **kwargs, fast=build is not None)
    return lambda: opt.step([g])


def torch_step(name, kwargs, n, rng, **impl):
    p = torch.from_numpy(rng.standard_normal(n, dtype=np.float32)).requires_grad_()
    p.grad = torch.from_numpy(rng.standard_normal(n, dtype=np.float32))
    opt = getattr(torch.optim, name)([p], **kwargs, **impl)
    return opt.step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--sizes", type=int, nargs="+", default=[235_000, 1_000_000])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cases = [("Adam", {"lr": 1e-3}), ("SGD", {"lr": 1e-2, "momentum": 0.9})]
    impls = [("gdlab numpy", lambda nm, kw, n, r: gdlab_step(nm, kw, n, r))]
    for build in builds.BACKENDS:
        if builds.build(build) is not None:
            impls.append((f"gdlab {build}", lambda nm, kw, n, r, build=build:
                          gdlab_step(nm, kw, n, r, build)))
    impls += [
        ("torch for-loop", lambda nm, kw, n, r: torch_step(nm, kw, n, r, foreach=False)),
        ("torch foreach", lambda nm, kw, n, r: torch_step(nm, kw, n, r, foreach=True)),
        ("torch fused", lambda nm, kw, n, r: torch_step(nm, kw, n, r, fused=True)),
    ]
    print(f"one optimizer step on one flat float32 vector; median of {args.repeats} repeats, "
          f"ms; {args.threads} thread(s); torch {torch.__version__}, numpy {np.__version__}")
    header = f"{'optimizer':<14}{'n':>10}  " + "".join(f"{name:>16}" for name, _ in impls)
    print(header)
    print("-" * len(header))
    with threadpool_limits(limits=args.threads):
        for name, kwargs in cases:
            for n in args.sizes:
                cells = []
                for _, make in impls:
                    rng = np.random.default_rng(0)
                    try:
                        cells.append(f"{median_ms(make(name, kwargs, n, rng), args.repeats):16.3f}")
                    except (RuntimeError, TypeError, ValueError) as exc:  # e.g. no fused kernel
                        cells.append(f"{'n/a':>16}")
                        print(f"  ({name}: {type(exc).__name__}: {exc})")
                label = name + (" mom=0.9" if name == "SGD" else "")
                print(f"{label:<14}{n:>10}  " + "".join(cells))


if __name__ == "__main__":
    main()
