"""How many threads gdlab's kernels run on: the BLAS's setting, so that one setting governs a
whole training step.

A step's matrix products run in the BLAS behind NumPy (OpenBLAS, MKL, BLIS), whose thread count
is set at start-up by ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` (else
the cores of the process) and changed at run time by threadpoolctl
(``threadpool_limits(n)``). gdlab's kernels follow that same number: the C build reads it at
each call through the BLAS's own getter, which this module finds once with threadpoolctl and
hands to the extension; the numba build reads it through the same getter. Where no BLAS getter
is found, the C kernels follow OpenMP's own setting and the numba kernels
:func:`default_threads`.

A kernel runs on fewer threads than the setting when its work is too small to pay for them
(``GRAIN`` elements each), and on one in the child of a ``fork()``. The kernels split their work
into fixed blocks and add partial sums in block order, so that their results are the same bits
at any thread count; NumPy's BLAS is not always (its products may differ in the last bits
between thread counts), which is why training is bit-reproducible at a fixed thread count.

Two thread pools would share the cores during a step: the BLAS's and OpenMP's (the kernels').
OpenBLAS's idle threads spin for a while after each product, on the cores that the kernels'
OpenMP threads need next, and GNU OpenMP's idle threads spin after each kernel on the cores
that the BLAS's threads need for the next product (on 2 cores a B1 step took 8 times longer).
Where NumPy's BLAS is OpenBLAS with its own (pthreads) pool and the C build has OpenMP,
:func:`attach` therefore hands OpenBLAS a callback (``openblas_set_threads_callback_function``)
that runs the parts of each threaded product on the kernels' OpenMP threads: one pool for the
whole step, as in PyTorch, whose BLAS and elementwise operators share OpenMP's. OpenBLAS still
decides how a product is split, so the results are the same bits as on its own threads (the
tests compare them). ``GDLAB_SHARE_BLAS_THREADS=0`` keeps OpenBLAS on its own threads.

GNU OpenMP's idle threads spin for about 300,000 rounds by default before they sleep. Before a
build of the kernels is first loaded, :func:`prepare_openmp` sets ``GOMP_SPINCOUNT`` unless
``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` is already set: to 100,000 where the pool is shared
(the threads should still be awake for the step's next product or kernel, and waking them costs
more than the wait), else to 1,000 (GNU OpenMP's own choice when it has more threads than
cores: back-to-back kernels still find the threads awake, and the cores go back to the BLAS's
threads within microseconds). It changes no result.

``threads=`` on :class:`gdlab.training.Trainer`, the estimators and ``gdlab train --threads``
use :func:`limit`: the number applies to the whole process (BLAS thread pools are per process)
while that object trains, and the previous setting is restored afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading

from gdlab import _checks

#: the variables that set the BLAS's and OpenMP's thread count at start-up, in the order read
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: set to 0 to keep OpenBLAS on its own threads (see :func:`attach`)
SHARE_ENV = "GDLAB_SHARE_BLAS_THREADS"
#: elements of work that pay for one more thread (the C build's constant)
GRAIN = 32768



def _openblas_names(name):
    """``name`` without and with the prefixes and suffixes that NumPy's and SciPy's OpenBLAS
    builds add to their symbols."""
    return tuple(f"{p}{name}{s}" for p in ("", "scipy_") for s in ("", "64_", "_64"))


# the BLAS's thread getter per threadpoolctl internal_api: symbol names
_GETTERS = {
    "openblas": _openblas_names("openblas_get_num_threads"),
    "mkl": ("MKL_Get_Max_Threads",),
    "blis": ("bli_thread_get_num_threads",),
    "flexiblas": ("flexiblas_get_num_threads",),
}
_found: dict = {}
_lock = threading.Lock()

__all__ = ["ENV_VARS", "GRAIN", "SPINCOUNT", "blas_getter", "current", "team_for",
           "default_threads", "cores_per_rank", "check_threads", "limit", "attach",
           "prepare_openmp", "callback_setter", "will_share", "SHARE_ENV", "SHARED_SPINCOUNT"]


def _numpy_first(libs):
    """NumPy's own BLAS first (a wheel's lies in numpy.libs or numpy/.libs), where SciPy has
    loaded another: the one whose setting the step's matrix products follow."""
    import numpy

    home = os.path.dirname(os.path.abspath(numpy.__file__))
    own = (home + os.sep, home + ".libs" + os.sep)
    return sorted(libs, key=lambda lib: not os.path.abspath(lib.filepath or "").startswith(own))


def _blas_libs():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency of gdlab and scikit-learn
        return []
    return _numpy_first(ThreadpoolController().select(user_api="blas").lib_controllers)


def _find_getter():
    for lib in _blas_libs():
        names = _GETTERS.get(lib.internal_api, ())
        if getattr(lib, "threading_layer", None) == "openmp":
            names = ("omp_get_max_threads",)  # an OpenMP-threaded BLAS follows OpenMP's setting
        for name in names:
            fn = getattr(lib.dynlib, name, None)
            if fn is not None:
                fn.restype, fn.argtypes = ctypes.c_int, []
                return fn
    return None


def _find_setter():
    libs = _blas_libs()
    lib = libs[0] if libs else None
    if lib is None or lib.internal_api != "openblas" or getattr(
            lib, "threading_layer", None) != "pthreads":
        return None
    for name in _openblas_names("openblas_set_threads_callback_function"):
        fn = getattr(lib.dynlib, name, None)
        if fn is not None:
            return ctypes.cast(fn, ctypes.c_void_p).value
    return None


def _once(key, find):
    """``find()``, looked up once per process (threadpoolctl scans the loaded libraries)."""
    if key not in _found:
        with _lock:
            if key not in _found:
                _found[key] = find()
    return _found[key]


def blas_getter():
    """The BLAS's ``get_num_threads`` as a ctypes function (found once), or None."""
    return _once("getter", _find_getter)


def callback_setter():
    """The address of ``openblas_set_threads_callback_function`` of NumPy's BLAS where that BLAS
    is OpenBLAS with its own (pthreads) pool, else None (found once)."""
    return _once("setter", _find_setter)


def current() -> int:
    """The thread setting the kernels follow now: the BLAS's, else :func:`default_threads`."""
    fn = _found.get("getter", 0)
    if fn == 0:
        fn = blas_getter()
    return max(1, fn()) if fn is not None else default_threads()


def team_for(work: int) -> int:
    """The threads a kernel with ``work`` elements runs on: :func:`current`, at most one per
    ``GRAIN`` elements (the C build's rule)."""
    most = work // GRAIN
    if most < 2:
        return 1
    return min(current(), most)


def attach(module) -> None:
    """Point the C build ``module`` at the BLAS's getter (its kernels follow it from now on),
    and, where NumPy's BLAS is OpenBLAS with a pool of its own, run the BLAS's threaded parts on
    the kernels' OpenMP threads: one pool for the whole step (see the module's docstring)."""
    fn = blas_getter()
    module.set_threads_source(0 if fn is None else ctypes.cast(fn, ctypes.c_void_p).value)
    if getattr(module, "OPENMP", 0) and will_share():
        module.share_blas_threads(callback_setter())


#: GNU OpenMP's spin count that gdlab sets where the user has set neither it nor a wait policy
SPINCOUNT = "1000"


#: the spin count where the BLAS runs on the kernels' threads: one pool, which should still be
#: awake for the next product or kernel of the step
SHARED_SPINCOUNT = "100000"


def will_share() -> bool:
    """Whether :func:`attach` will run the BLAS's threaded parts on the kernels' threads."""
    return os.environ.get(SHARE_ENV, "1") != "0" and callback_setter() is not None


def prepare_openmp(build: str = "c") -> bool:
    """Set ``GOMP_SPINCOUNT`` for the OpenMP runtime that the kernels of ``build`` ("c" or
    "numba") load (it reads it once, when it is loaded), unless ``GOMP_SPINCOUNT`` or
    ``OMP_WAIT_POLICY`` is set: see the module's docstring. Only the C build shares its pool
    with the BLAS; numba's threads must give the cores back to the BLAS's. Returns whether it
    set the variable."""
    if "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ:
        return False
    one_pool = build == "c" and will_share()
    os.environ["GOMP_SPINCOUNT"] = SHARED_SPINCOUNT if one_pool else SPINCOUNT
    return True


def _env_threads():
    for name in ENV_VARS:
        value = os.environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def cores_per_rank(ranks_on_node: int = 1, cores: int | None = None) -> int:
    """The cores this process may use, shared among the ``ranks_on_node`` processes of an MPI
    job on this node: if the launcher bound this process to fewer cores than the machine has
    (``mpiexec -bind-to``, ``srun --cpus-per-task``), those cores are its own; otherwise the
    ranks of the node share them."""
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            cores = os.cpu_count() or 1
    total = os.cpu_count() or cores
    if cores < total:
        return max(1, cores)
    return max(1, cores // max(1, ranks_on_node))


def default_threads(ranks_on_node: int = 1) -> int:
    """The thread count a process starts with, as NumPy and PyTorch users expect: the first of
    ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` that is set to a positive
    number, else :func:`cores_per_rank` (the cores of the process, divided among the MPI ranks
    of its node)."""
    return _env_threads() or cores_per_rank(ranks_on_node)


def check_threads(value, name: str = "threads"):
    """``threads`` as None (the process's setting) or an int >= 1, or a ValueError/TypeError."""
    return _checks.positive_int(name, value, allow_none=True)


@contextlib.contextmanager
def limit(threads):
    """Run the block with ``threads`` threads for the BLAS and gdlab's kernels (and every other
    OpenMP library of the process, as ``threadpoolctl.threadpool_limits`` does); None leaves the
    setting as it is. The setting is the process's while the block runs, and restored after."""
    threads = check_threads(threads)
    if threads is None:
        yield
        return
    import threadpoolctl

    cached = getattr(threadpoolctl, "get_cached_controller", None)
    limiter = (cached().limit(limits=threads) if cached is not None
               else threadpoolctl.threadpool_limits(limits=threads))
    with limiter:
        yield
