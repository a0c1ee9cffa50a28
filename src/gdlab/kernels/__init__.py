"""The optional compiled kernels, on arrays only (they know arrays, never layers or optimizers):
one-pass optimizer updates, the fused Dense + ReLU passes and the softmax cross-entropy.

Two builds of the same functions: ``_ckernels.c``, compiled by ``pip install .`` where a C
compiler is found, and :mod:`gdlab.kernels.numba_kernels` (``gdlab[fast]``). Which one runs,
and when, is decided in :mod:`gdlab.kernels.builds`; what every argument must be (both builds
raise the same errors) in :mod:`gdlab.kernels.contract`; on how many threads they run (the
BLAS's setting, the same bits at any count) in :mod:`gdlab.kernels.threads`.
"""

from gdlab.kernels.builds import (
    BACKENDS,
    FAST_MIN_SIZE,
    auto_enabled,
    backend,
    build,
    check_fast,
    select,
)

__all__ = ["BACKENDS", "FAST_MIN_SIZE", "auto_enabled", "backend", "build", "check_fast",
           "select"]
