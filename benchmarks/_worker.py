"""Runs one rival of one benchmark in a fresh process and prints its result as one JSON line.

    python benchmarks/_worker.py <module> <rival> --threads N [--repeats R] [--quick] [--memory]

A fresh process per rival keeps them from sharing warm caches, thread pools or allocator
state, and lets each gdlab rival run as an install without some kernels does: ``gdlab-numba``
cannot import the C kernels (gdlab.kernels._ckernels, as where no C compiler was found at install),
``gdlab-numpy`` cannot import them nor numba (the NumPy code alone).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("module")
    p.add_argument("rival")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--memory", action="store_true")
    args = p.parse_args(argv)
    # a None entry makes "import X" raise ImportError, as if X were not installed
    if args.rival.endswith(("-numpy", "-numba")):
        sys.modules["gdlab.kernels._ckernels"] = None
    if args.rival.endswith("-numpy"):
        sys.modules["numba"] = None
    import _common  # noqa: F401  (puts src/ on the path)

    if args.rival.startswith("torch"):
        import torch  # before the thread limit, so that it applies to torch too

        torch.set_num_threads(args.threads)
    from _common import threads

    module = importlib.import_module(args.module)
    with threads(args.threads):
        result = module.measure(args.rival, args)
    result["kernels_loaded"] = [name for name in ("gdlab.kernels._ckernels", "numba")
                                if sys.modules.get(name) is not None]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
