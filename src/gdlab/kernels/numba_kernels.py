"""The numba build of gdlab's kernels (``gdlab[fast]``): the functions of the C build
``gdlab.kernels._ckernels``, with the same arguments, results, checks and threads.

Each function checks its arguments with :mod:`gdlab.kernels.contract` (numba itself checks
neither lengths nor bounds, and would cast a float64 gradient into a float32 parameter without a
word), so that both builds raise the same exceptions for the same input; then it runs the loop
of :mod:`gdlab.kernels.numba_loops` on one thread, or on several (its ``parallel`` twin) when
the work pays for them, following :func:`gdlab.kernels.threads.current` as the C build does.

Several Python threads may call the kernels at once: the loops release the GIL, and numba's
``tbb`` and ``omp`` threading layers take parallel launches from several threads. Where
neither is installed numba falls back to ``workqueue``, which does not: the parallel launches are
then serialised by a lock. In the child of a ``fork()`` the kernels run on one thread (GNU
OpenMP's pool does not survive a fork). This module imports numba; ``import gdlab`` never does.
"""

import os
import threading

import numba
import numpy as np

from gdlab.kernels import contract
from gdlab.kernels import threads as _threads
from gdlab.kernels.numba_loops import parallel, serial

_state = {"forked": False, "layer": None}
_launch_lock = threading.Lock()
_last = threading.local()  # the team of this thread's last call


def _in_child():
    _state["forked"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)


def _layer_lock():
    """None where the threading layer takes concurrent launches, else a lock (workqueue)."""
    layer = _state["layer"]
    if layer is None:
        numba.get_num_threads()  # launches numba's threads, so that the layer is known
        layer = _state["layer"] = numba.threading_layer()
    return _launch_lock if layer == "workqueue" else None


def _run(name, work, *args):
    """Loop ``name`` on as many threads as ``work`` elements pay for (at most the setting)."""
    team = 1 if _state["forked"] else _threads.team_for(work)
    if team > 1:
        team = min(team, numba.config.NUMBA_NUM_THREADS)
    _last.team = team
    if team < 2:
        return getattr(serial, name)(*args)
    lock = _layer_lock()
    if lock is None:
        numba.set_num_threads(team)
        return getattr(parallel, name)(*args)
    with lock:
        numba.set_num_threads(team)
        return getattr(parallel, name)(*args)


def threads_used() -> int:
    """The threads that this thread's last kernel call ran on."""
    return getattr(_last, "team", 1)


# ---- optimizer steps ------------------------------------------------------------------------

def sgd_step(p, g, buf, sign, wd, neg_lr, momentum, damp1, first, nesterov):
    """SGD (see :class:`gdlab.optim.SGD`) in one pass; ``buf`` is empty without momentum."""
    p, g, buf = contract.check_sgd_step(p, g, buf)
    t = p.dtype.type
    _run("sgd_step", p.size, p, g, buf, t(sign), t(wd), t(neg_lr), t(momentum), t(damp1),
         bool(first), bool(nesterov))


def adam_step(p, g, m, v, vmax, sign, wd, decay, omb1, b2, omb2, eps_c2, neg_step):
    """Adam/AdamW (see :class:`gdlab.optim.Adam`) in one pass; ``vmax`` is empty without
    AMSGrad (see :func:`gdlab.kernels.numba_loops.adam_step` for the scalars)."""
    p, g, m, v, vmax = contract.check_adam_step(p, g, m, v, vmax)
    t = p.dtype.type
    _run("adam_step", p.size, p, g, m, v, vmax, t(sign), t(wd), t(decay), t(omb1), t(b2),
         t(omb2), t(eps_c2), t(neg_step))


def sum_squares(x) -> float:
    """The sum of ``x**2`` in float64, the same bits at any thread count (the gradient norm)."""
    (x,) = contract.check_sum_squares(x)
    return float(_run("sum_squares", x.size, x))


# ---- Dense + ReLU, fused --------------------------------------------------------------------

def bias_relu_(Y, b):
    """``Y <- max(Y + b, 0)`` in place (see :func:`gdlab.kernels.numba_loops.bias_relu_`)."""
    Y, b = contract.check_bias_relu_(Y, b)
    _run("bias_relu_", Y.size, Y, b)


def relu_backward_bias_(grad, out, db):
    """``out <- grad * (out > 0)`` and ``db = out.sum(axis=0)`` in one pass (``grad`` may be
    ``out`` itself)."""
    grad, out, db = contract.check_relu_backward_bias_(grad, out, db)
    _run("relu_backward_bias_", out.size, grad, out, db)


def bias_relu_dot_(Y, b, w, c, o):
    """:func:`bias_relu_` and ``o = Y w + c`` in the same pass."""
    Y, b, w, o = contract.check_bias_relu_dot_(Y, b, w, o)
    _run("bias_relu_dot_", Y.size, Y, b, w, Y.dtype.type(c), o)


def outer_relu_backward_bias_(d, w, out, db, dw, dc):
    """:func:`relu_backward_bias_` for ``grad = d w^T``, with ``dw = out^T d`` and
    ``dc = sum d``, in one pass."""
    d, w, out, db, dw, dc = contract.check_outer_relu_backward_bias_(d, w, out, db, dw, dc)
    _run("outer_relu_backward_bias_", out.size, d, w, out, db, dw, dc)


# ---- softmax cross-entropy --------------------------------------------------------------------

def softmax_xent_(z, y, g, scale):
    """``g = (softmax(z) - onehot(y)) * scale`` and ``(summed per-row losses, rows whose first
    largest logit is the label)``, in one pass; a label outside ``[0, z.shape[1])`` is a
    ValueError (checked where the loop uses it, on a private copy of the labels)."""
    z, y, g = contract.check_softmax_xent_(z, y, g)
    y = np.array(y, copy=True)  # no other thread can change the labels the loop reads
    total, hits, bad, label = _run("softmax_xent_", z.size, z, y, g, z.dtype.type(scale))
    if bad >= 0:
        raise ValueError(f"label y[{bad}] = {label} is outside [0, {z.shape[1]})")
    return float(total), int(hits)


# ---- the rows of a batch ----------------------------------------------------------------------

def take_rows_(X, idx, out):
    """``out[i] = X[idx[i]]`` for every row of ``out`` (``np.take(X, idx, axis=0, out=out)``
    on the threads); an index outside ``[0, X.shape[0])`` is a ValueError (checked where the loop
    uses it, on a private copy of the indices)."""
    X, idx, out = contract.check_take_rows_(X, idx, out)
    idx = np.array(idx, copy=True)  # no other thread can change the indices the loop reads
    bad, value = _run("take_rows_", out.size, X, idx, out)
    if bad >= 0:
        raise ValueError(f"index idx[{bad}] = {value} is outside [0, {X.shape[0]})")
