"""gdlab's compiled kernels: which ones are loaded, and the switch.

Optimizers (``fast=``) and :class:`gdlab.Sequential` (``fast=``) choose between their NumPy code
and one-pass kernels with the same functions, arguments and arithmetic in either of two
builds:

- ``"c"``, :mod:`gdlab.kernels._ckernels`: compiled ahead of time by ``pip install .`` wherever a C
  compiler is found; loading it costs a fraction of a millisecond and no memory to speak of.
- ``"numba"``, :mod:`gdlab.kernels.numba_kernels`: the same kernels compiled by numba (``gdlab[fast]``) on
  first use and cached on disk; importing numba costs about 0.5 to 0.8 s and 140 MB a process.

``fast=True`` insists on kernels, ``False`` keeps NumPy, ``None`` (the default) takes them when
one of the builds is there and the work is large enough, ``FAST_MIN_SIZE`` elements (below
that, numba's load would cost more than the steps save, and NumPy's own passes are cheap).
The environment variable ``GDLAB_FAST`` sets the choice for the whole process (estimators and
CLI included): ``0`` (or off, false, no) turns the automatic choice off; ``c`` or ``numba``
names the only build to use; unset (or 1, on, auto) prefers C, then numba.

Both builds keep one contract (:mod:`gdlab.kernels.contract`: the same exceptions for the same
input) and run on the threads of :mod:`gdlab.kernels.threads` (the BLAS's setting).
"""

from __future__ import annotations

import importlib
import os

import numpy as np

FAST_MIN_SIZE = 65536

BACKENDS = {"c": "gdlab.kernels._ckernels", "numba": "gdlab.kernels.numba_kernels"}
_OFF = ("0", "off", "false", "no")
_AUTO = ("", "1", "on", "true", "yes", "auto")

# backend name -> module, or None once its import failed (Python would retry a failed import
# every time, and even a successful one costs a lookup per training step)
_loaded: dict = {}

__all__ = ["FAST_MIN_SIZE", "BACKENDS", "auto_enabled", "check_fast", "select", "backend",
           "build"]


def _setting() -> str:
    return os.environ.get("GDLAB_FAST", "").strip().lower()


def auto_enabled() -> bool:
    """False when ``GDLAB_FAST`` is set to 0, off, false or no."""
    return _setting() not in _OFF


def _preference() -> tuple:
    setting = _setting()
    if setting in BACKENDS:
        return (setting,)
    if setting in _OFF or setting in _AUTO:
        return tuple(BACKENDS)
    raise ValueError(f"GDLAB_FAST must be 0, 1, auto, c or numba, got {setting!r}")


def check_fast(fast):
    """``fast`` as None, True or False, or a ValueError."""
    if fast is not None and not isinstance(fast, (bool, np.bool_)):
        raise ValueError(f"fast must be None, True or False, got {fast!r}")
    return None if fast is None else bool(fast)


def select(fast, size):
    """The kernels module if ``fast`` asks for it or allows it for work of ``size`` elements,
    else None. ``fast=True`` with neither build available is an ImportError."""
    if fast is False or (fast is None and (size < FAST_MIN_SIZE or not auto_enabled())):
        return None
    name = backend()
    if name is not None:
        return build(name)
    if fast:
        preference = _preference()
        raise ImportError(
            "fast=True needs gdlab's compiled kernels: " + (
                "the C build (gdlab.kernels._ckernels, made by 'pip install .' where a C compiler is "
                "found) or numba (pip install 'gdlab[fast]')" if len(preference) > 1 else
                f"{BACKENDS[preference[0]]} (GDLAB_FAST={preference[0]}) could not be imported"))
    return None


def backend() -> str | None:
    """The name of the build that ``fast=True`` would use now ("c" or "numba"), or None."""
    for name in _preference():
        if build(name) is not None:
            return name
    return None


def build(name):
    """The module of the build ``name`` ("c" or "numba"), or None where it cannot be imported
    (the C extension was not compiled, numba is not installed)."""
    if name not in _loaded:
        from gdlab.kernels import threads

        set_here = threads.prepare_openmp(name)  # before the OpenMP runtime is loaded
        try:
            module = importlib.import_module(BACKENDS[name])
        except ImportError:
            module = None
            if set_here:  # a build that is not there loaded no OpenMP runtime: the next may
                os.environ.pop("GOMP_SPINCOUNT", None)
        if module is not None and name == "c":
            threads.attach(module)  # its threads follow the BLAS's setting from now on
        _loaded[name] = module
    return _loaded[name]
