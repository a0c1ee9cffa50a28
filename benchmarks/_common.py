"""What the benchmarks share: thread limits, timers, the machine's description, the gdlab entry points.

Every benchmark pits the rivals against each other in the same process run (or, for memory, in
sibling subprocesses), on the same data, in float32, with the same number of threads: NumPy's
BLAS is limited with threadpoolctl and PyTorch with ``torch.set_num_threads``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the installed gdlab (with the C kernels its install compiled); a checkout's src/ only where
# gdlab is not installed
if importlib.util.find_spec("gdlab") is None and os.path.join(ROOT, "src") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "src"))


@contextlib.contextmanager
def threads(n):
    """Run NumPy's BLAS (and PyTorch, if it is imported) with ``n`` threads."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    old = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(old)


def timed(fn, repeats, warmup=0):
    """(median seconds, all times) of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


@contextlib.contextmanager
def quiet():
    """Silence the ConvergenceWarning that max_iter=1 fits raise by design."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def blas_info():
    from threadpoolctl import threadpool_info

    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            return (f"{lib.get('internal_api')} {lib.get('version')} "
                    f"({lib.get('architecture')} kernels)")
    return "unknown BLAS"


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or platform.machine()


def versions():
    """Versions of the rivals, without importing the heavy ones when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("numpy", "torch", "scikit-learn", "numba", "gdlab"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def machine():
    """A one-paragraph description of the machine and the software measured."""
    v = versions()
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "blas": blas_info(),
        "versions": v,
        "openblas_env": env,
        "platform": platform.platform(),
        "c_kernels": c_kernels_info(),
    }


def has_c_kernels():
    return importlib.util.find_spec("gdlab.kernels._ckernels") is not None


def c_kernels_info():
    """How gdlab.kernels._ckernels was built: the compiler's first line of ``--version``, or why not."""
    import subprocess
    import sysconfig

    if not has_c_kernels():
        return "not built"
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return f"built ({cc})"


def has_numba():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# ---- gdlab entry points ----------------------------------------------------------------------
def gdlab_classifier_available():
    """True once gdlab.estimators.GDClassifier can be imported (it is what users call)."""
    try:
        from gdlab.estimators import GDClassifier  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure means "not usable yet"
        return False
    return True


def gdlab_trainer_available():
    try:
        from gdlab.training import Trainer  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return True


def random_classification(n, d, n_classes, seed=0):
    """Random float32 features and integer labels (throughput does not care about learning)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.integers(0, n_classes, n)
    return X, y


def fmt_s(x):
    return "-" if x is None else f"{x:.3f} s"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"
