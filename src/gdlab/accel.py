"""The optional numba kernels of ``gdlab[fast]``: where they are loaded, and the switch.

Optimizers (``fast=``) and :class:`gdlab.Sequential` (``fast=``) choose between their NumPy code
and the kernels of :mod:`gdlab._fast`: ``True`` insists on the kernels, ``False`` keeps NumPy,
``None`` (the default) takes the kernels when numba is installed and the work is large
enough, ``FAST_MIN_SIZE`` elements: below that, numba's one-time import and cache load (about
0.5 to 0.8 s and 140 MB a process) would cost more than the steps save. The environment variable
``GDLAB_FAST=0`` turns that automatic choice off everywhere (estimators and CLI included).
"""

from __future__ import annotations

import os

import numpy as np

FAST_MIN_SIZE = 65536

# [module] once loaded, [None] once numba failed to import (Python would retry a failed import
# every time, and even a successful one costs a lookup per training step)
_loaded = []


def auto_enabled() -> bool:
    """False when ``GDLAB_FAST`` is set to 0, off, false or no."""
    return os.environ.get("GDLAB_FAST", "").strip().lower() not in ("0", "off", "false", "no")


def check_fast(fast):
    """``fast`` as None, True or False, or a ValueError."""
    if fast is not None and not isinstance(fast, (bool, np.bool_)):
        raise ValueError(f"fast must be None, True or False, got {fast!r}")
    return None if fast is None else bool(fast)


def kernels(fast, size):
    """:mod:`gdlab._fast` if ``fast`` asks for it or allows it for work of ``size`` elements,
    else None. ``fast=True`` without numba is an ImportError."""
    if fast is False or (fast is None and (size < FAST_MIN_SIZE or not auto_enabled())):
        return None
    module = _load()
    if module is None and fast:
        raise ImportError("fast=True needs numba: pip install 'gdlab[fast]'")
    return module


def _load():
    if not _loaded:
        try:
            from gdlab import _fast
        except ImportError:
            _fast = None
        _loaded.append(_fast)
    return _loaded[0]
