"""The contract of gdlab's kernels, in Python: what every argument of every kernel must be, checked
before any loop runs. The C build (``_ckernels.c``) checks the same things in the same order
with the same exceptions and messages; the numba build (:mod:`gdlab.kernels.numba_kernels`) calls
these functions, because numba checks neither lengths nor bounds. So for the same input both
builds raise the same ``TypeError``/``ValueError``, naming the argument, or run.

The contract, as a maintainer of NumPy's C API would ask of an extension that takes user arrays:

- every float array is float32 or float64 in native byte order (TypeError), all of one call of
  one type (TypeError); labels and indices are int64 (TypeError);
- each has the number of dimensions its kernel names; 1-D ones are contiguous, 2-D ones have
  contiguous rows (ValueError);
- each is aligned to its item size (ValueError);
- outputs are writable, and the rows of a 2-D output do not overlap one another (ValueError);
- lengths and shapes agree as each kernel says (ValueError naming the argument);
- no output shares memory with any other argument, judged by the bounds of the buffers as
  :func:`numpy.may_share_memory` does (ValueError); the one identity allowed is
  ``relu_backward_bias_(grad, out)`` with ``grad`` the very array ``out``, an elementwise
  update that NumPy's path allows too.

Each ``check_*`` function takes a kernel's arrays and returns them as ``numpy.ndarray`` views of
the same memory (an object that exports a buffer, such as a ``memoryview``, is viewed, never
copied), or raises.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
INT64 = np.dtype(np.int64)

__all__ = ["Arg", "SPECS", "check_arrays", "check_length", "check_overlap", "check_sgd_step",
           "check_adam_step", "check_sum_squares", "check_bias_relu_",
           "check_relu_backward_bias_", "check_bias_relu_dot_",
           "check_outer_relu_backward_bias_", "check_softmax_xent_", "check_take_rows_"]


class Arg(NamedTuple):
    """One array argument: its name, dimensions, whether the kernel writes it, and the index of
    the one argument it may be identical to (-1: none)."""

    name: str
    ndim: int
    output: bool = False
    same_ok: int = -1


#: each kernel's array arguments, in the order of its signature
SPECS = {
    "sgd_step": (Arg("p", 1, True), Arg("g", 1), Arg("buf", 1, True)),
    "adam_step": (Arg("p", 1, True), Arg("g", 1), Arg("m", 1, True), Arg("v", 1, True),
                  Arg("vmax", 1, True)),
    "sum_squares": (Arg("x", 1),),
    "bias_relu_": (Arg("Y", 2, True), Arg("b", 1)),
    "relu_backward_bias_": (Arg("grad", 2), Arg("out", 2, True, same_ok=0),
                            Arg("db", 1, True)),
    "bias_relu_dot_": (Arg("Y", 2, True), Arg("b", 1), Arg("w", 1), Arg("o", 2, True)),
    "outer_relu_backward_bias_": (Arg("d", 2), Arg("w", 1), Arg("out", 2, True),
                                  Arg("db", 1, True), Arg("dw", 1, True), Arg("dc", 1, True)),
    "softmax_xent_": (Arg("z", 2), Arg("y", 1), Arg("g", 2, True)),
    "take_rows_": (Arg("X", 2), Arg("idx", 1), Arg("out", 2, True)),
}


def _as_array(x) -> np.ndarray:
    if type(x) is np.ndarray:
        return x
    if isinstance(x, np.ndarray):
        return x.view(np.ndarray)
    return np.asarray(memoryview(x))  # a TypeError for an object without a buffer


def _check_array(x, arg: Arg) -> np.ndarray:
    if type(x) is np.ndarray and x.ndim == arg.ndim and x.dtype in FLOATS:
        flags = x.flags  # the common case in a few attribute reads: every test below holds
        if flags.c_contiguous and flags.aligned and (flags.writeable or not arg.output):
            return x
    x = _as_array(x)
    name = arg.name
    if x.dtype not in FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got format {memoryview(x).format}")
    if x.ndim != arg.ndim:
        raise ValueError(f"{name} must be {arg.ndim}-D, got {x.ndim}-D")
    item = x.itemsize
    if x.size == 0:  # NumPy exports an empty array's buffer with contiguous strides
        pass
    elif arg.ndim == 1:
        if x.shape[0] > 1 and x.strides[0] != item:
            raise ValueError(f"{name} must be contiguous")
    elif (x.shape[1] > 1 and x.strides[1] != item) or x.strides[0] % item != 0:
        raise ValueError(f"{name} must have contiguous rows")
    if x.size and not x.flags.aligned:
        raise ValueError(f"{name} is not aligned to its item size ({item} bytes)")
    if arg.output:
        if not x.flags.writeable:
            raise ValueError(f"{name} is read-only; the kernel writes it")
        if arg.ndim == 2 and x.shape[0] > 1 and x.shape[1] > 0 and \
                abs(x.strides[0] // item) < x.shape[1]:
            raise ValueError(f"{name} has rows that overlap one another")
    return x


def check_arrays(values, args) -> list[np.ndarray]:
    """Each of ``values`` checked as its :class:`Arg` says, then all of one dtype."""
    arrays = [_check_array(x, arg) for x, arg in zip(values, args)]
    first = arrays[0].dtype
    for x, arg in zip(arrays[1:], args[1:]):
        if x.dtype != first:
            raise TypeError(f"{arg.name} is {x.dtype.name} but {args[0].name} is {first.name}: "
                            "all arrays of one call must have the same dtype")
    return arrays


def check_length(got: int, want: int, name: str) -> None:
    """A ValueError unless ``got == want``."""
    if got != want:
        raise ValueError(f"{name} has {got} elements, expected {want}")


def _identical(a, b) -> bool:
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.dtype == b.dtype
            and (a.ndim == 1 or a.strides[0] == b.strides[0]))


def _pairs(args):
    """The pairs of arguments (in argument order) of which at least one is an output."""
    n = len(args)
    return tuple((i, j) for i in range(n) for j in range(i + 1, n)
                 if args[i].output or args[j].output)


_PAIRS = {}


def check_overlap(arrays, args) -> None:
    """A ValueError if an output shares memory with another argument (pairs in argument
    order), but for the identity that an output's :class:`Arg` allows."""
    pairs = _PAIRS.get(args)
    if pairs is None:
        pairs = _PAIRS[args] = _pairs(args)
    may_share = np.may_share_memory
    for i, j in pairs:
        if not may_share(arrays[i], arrays[j]):
            continue
        if (args[i].same_ok == j or args[j].same_ok == i) and _identical(arrays[i], arrays[j]):
            continue
        raise ValueError(f"{args[i].name} and {args[j].name} overlap in memory; a "
                         "kernel's output may share no memory with its other arguments")


# ---- each kernel's checks, in the C build's order ------------------------------------------

def check_sgd_step(p, g, buf):
    args = SPECS["sgd_step"]
    p, g, buf = a = check_arrays((p, g, buf), args)
    check_length(g.size, p.size, "g")
    if buf.size:
        check_length(buf.size, p.size, "buf")
    check_overlap(a, args)
    return a


def check_adam_step(p, g, m, v, vmax):
    args = SPECS["adam_step"]
    p, g, m, v, vmax = a = check_arrays((p, g, m, v, vmax), args)
    check_length(g.size, p.size, "g")
    check_length(m.size, p.size, "m")
    check_length(v.size, p.size, "v")
    if vmax.size:
        check_length(vmax.size, p.size, "vmax")
    check_overlap(a, args)
    return a


def check_sum_squares(x):
    return check_arrays((x,), SPECS["sum_squares"])


def check_bias_relu_(Y, b):
    args = SPECS["bias_relu_"]
    Y, b = a = check_arrays((Y, b), args)
    check_length(b.shape[0], Y.shape[1], "b")
    check_overlap(a, args)
    return a


def check_relu_backward_bias_(grad, out, db):
    args = SPECS["relu_backward_bias_"]
    grad, out, db = a = check_arrays((grad, out, db), args)
    check_length(grad.shape[0], out.shape[0], "grad's rows")
    check_length(grad.shape[1], out.shape[1], "grad's columns")
    check_length(db.shape[0], out.shape[1], "db")
    check_overlap(a, args)
    return a


def check_bias_relu_dot_(Y, b, w, o):
    args = SPECS["bias_relu_dot_"]
    Y, b, w, o = a = check_arrays((Y, b, w, o), args)
    check_length(b.shape[0], Y.shape[1], "b")
    check_length(w.shape[0], Y.shape[1], "w")
    check_length(o.shape[0], Y.shape[0], "o's rows")
    check_length(o.shape[1], 1, "o's columns")
    check_overlap(a, args)
    return a


def check_outer_relu_backward_bias_(d, w, out, db, dw, dc):
    args = SPECS["outer_relu_backward_bias_"]
    d, w, out, db, dw, dc = a = check_arrays((d, w, out, db, dw, dc), args)
    check_length(d.shape[0], out.shape[0], "d's rows")
    check_length(d.shape[1], 1, "d's columns")
    check_length(w.shape[0], out.shape[1], "w")
    check_length(db.shape[0], out.shape[1], "db")
    check_length(dw.shape[0], out.shape[1], "dw")
    check_length(dc.shape[0], 1, "dc")
    check_overlap(a, args)
    return a


def _check_int64s(x, n, name="y", what="labels") -> np.ndarray:
    x = _as_array(x)
    if x.dtype != INT64:
        raise TypeError(f"{name} must hold int64 {what}")
    if x.ndim != 1 or x.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with {n} {what}")
    if n > 1 and x.strides[0] != 8:
        raise ValueError(f"{name} must be contiguous")
    if n and not x.flags.aligned:
        raise ValueError(f"{name} is not aligned to its item size (8 bytes)")
    return x


def _check_same_dtype(out, out_name, x, x_name):
    if out.dtype != x.dtype:
        raise TypeError(f"{out_name} is {out.dtype.name} but {x_name} is {x.dtype.name}: all "
                        "arrays of one call must have the same dtype")


def check_softmax_xent_(z, y, g):
    """The arrays of ``softmax_xent_``; the labels' bounds are checked where each is used."""
    args = SPECS["softmax_xent_"]
    z = _check_array(z, args[0])
    g = _check_array(g, args[2])
    _check_same_dtype(g, "g", z, "z")
    check_length(g.shape[0], z.shape[0], "g's rows")
    check_length(g.shape[1], z.shape[1], "g's columns")
    if z.shape[1] < 1:
        raise ValueError("z must have at least one column")
    y = _check_int64s(y, z.shape[0])
    check_overlap((z, y, g), args)
    return z, y, g


def check_take_rows_(X, idx, out):
    """The arrays of ``take_rows_``; the indices' bounds are checked where each is used."""
    args = SPECS["take_rows_"]
    X = _check_array(X, args[0])
    out = _check_array(out, args[2])
    _check_same_dtype(out, "out", X, "X")
    check_length(out.shape[1], X.shape[1], "out's columns")
    idx = _check_int64s(idx, out.shape[0], "idx", "indices")
    check_overlap((X, idx, out), args)
    return X, idx, out
