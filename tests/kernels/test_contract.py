"""The one contract of gdlab's kernels (gdlab.kernels.contract; _ckernels.c checks the same):
every kernel of both builds rejects what it cannot take with a TypeError/ValueError that names
the argument, and the C and numba builds raise the same exception with the same message for the
same input. The numba build checked none of this before (short outputs were written past, a
float64 gradient was cast into float32 parameters without a word); both builds took
overlapping and misaligned buffers, and two of the C messages said "rows" for columns."""

import re

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

from gdlab.kernels import builds

F, D = np.float32, np.float64
SGD = (1.0, 0.0, -0.1, 0.0, 1.0, True, False)
ADAM = (1.0, 0.0, 1.0, 0.1, 0.999, 0.001, 1e-8, -1e-3)


def z(*shape, dtype=F):
    return np.zeros(shape, dtype)


def misaligned(n, dtype=F):
    item = np.dtype(dtype).itemsize
    return np.frombuffer(bytearray(n * item + 1), dtype, offset=1, count=n)


def read_only(a):
    a.flags.writeable = False
    return a


def empty():
    return np.empty(0, F)


def _overlapping_rows():
    base = z(8)
    return as_strided(base, shape=(3, 4), strides=(4, 4))  # rows 1 element apart, writable


def _flat_pair():
    base = z(9)
    return base[:5], base[4:]  # one element in common


# (kernel, arguments, exception, message): each an input the kernels must reject
CASES = {
    "sgd-dtypes": ("sgd_step", lambda: (z(4), z(4, dtype=D), empty(), *SGD), TypeError,
                   "g is float64 but p is float32: all arrays of one call must have the same dtype"),
    "sgd-int": ("sgd_step", lambda: (np.zeros(4, np.int64), np.zeros(4, np.int64),
                                     np.zeros(0, np.int64), *SGD), TypeError,
                "p must be float32 or float64, got format l"),
    "sgd-big-endian": ("sgd_step", lambda: (z(4, dtype=">f4"), z(4), empty(), *SGD), TypeError,
                       "p must be float32 or float64, got format >f"),
    "sgd-short-g": ("sgd_step", lambda: (z(4), z(3), empty(), *SGD), ValueError,
                    "g has 3 elements, expected 4"),
    "sgd-short-buf": ("sgd_step", lambda: (z(4), z(4), z(2), *SGD), ValueError,
                      "buf has 2 elements, expected 4"),
    "sgd-strided": ("sgd_step", lambda: (z(8)[::2], z(4), empty(), *SGD), ValueError,
                    "p must be contiguous"),
    "sgd-2d": ("sgd_step", lambda: (z(2, 2), z(4), empty(), *SGD), ValueError,
               "p must be 1-D, got 2-D"),
    "sgd-read-only": ("sgd_step", lambda: (read_only(z(4)), z(4), empty(), *SGD), ValueError,
                      "p is read-only; the kernel writes it"),
    "sgd-misaligned": ("sgd_step", lambda: (misaligned(4), z(4), empty(), *SGD), ValueError,
                       "p is not aligned to its item size (4 bytes)"),
    "sgd-overlap": ("sgd_step", lambda: (*_flat_pair(), empty(), *SGD), ValueError,
                    "p and g overlap in memory"),
    "sgd-same": ("sgd_step", lambda: (lambda p: (p, p, empty(), *SGD))(z(4)), ValueError,
                 "p and g overlap in memory"),
    "adam-short-m": ("adam_step", lambda: (z(100), z(100), z(10), z(100), empty(), *ADAM),
                     ValueError, "m has 10 elements, expected 100"),
    "adam-short-v": ("adam_step", lambda: (z(100), z(100), z(100), z(99), empty(), *ADAM),
                     ValueError, "v has 99 elements, expected 100"),
    "adam-short-vmax": ("adam_step", lambda: (z(100), z(100), z(100), z(100), z(7), *ADAM),
                        ValueError, "vmax has 7 elements, expected 100"),
    "adam-m-is-v": ("adam_step", lambda: (lambda m: (z(5), z(5), m, m, empty(), *ADAM))(z(5)),
                    ValueError, "m and v overlap in memory"),
    "adam-misaligned-g": ("adam_step", lambda: (z(5, dtype=D), misaligned(5, D), z(5, dtype=D),
                                                z(5, dtype=D), z(0, dtype=D), *ADAM),
                          ValueError, "g is not aligned to its item size (8 bytes)"),
    "sumsq-2d": ("sum_squares", lambda: (z(2, 3),), ValueError, "x must be 1-D, got 2-D"),
    "sumsq-list": ("sum_squares", lambda: ([1.0, 2.0],), TypeError, "bytes-like object"),
    "bias-relu-own-row": ("bias_relu_", lambda: (lambda Y: (Y, Y[0]))(z(2, 3)), ValueError,
                          "Y and b overlap in memory"),
    "bias-relu-short-b": ("bias_relu_", lambda: (z(2, 3), z(2)), ValueError,
                          "b has 2 elements, expected 3"),
    "bias-relu-strided": ("bias_relu_", lambda: (z(3, 8)[:, ::2], z(4)), ValueError,
                          "Y must have contiguous rows"),
    "bias-relu-row-overlap": ("bias_relu_", lambda: (_overlapping_rows(), z(4)), ValueError,
                              "Y has rows that overlap one another"),
    "relu-bwd-short-db": ("relu_backward_bias_", lambda: (z(3, 4), z(3, 4), z(3)), ValueError,
                          "db has 3 elements, expected 4"),
    "relu-bwd-columns": ("relu_backward_bias_", lambda: (z(3, 3), z(3, 4), z(4)), ValueError,
                         "grad's columns has 3 elements, expected 4"),
    "relu-bwd-rows": ("relu_backward_bias_", lambda: (z(2, 4), z(3, 4), z(4)), ValueError,
                      "grad's rows has 2 elements, expected 3"),
    "relu-bwd-shifted": ("relu_backward_bias_",
                         lambda: (lambda b: (b[:-1], b[1:], z(4)))(z(4, 4)), ValueError,
                         "grad and out overlap in memory"),
    "relu-bwd-db-in-out": ("relu_backward_bias_", lambda: (lambda o: (z(3, 4), o, o[2]))(z(3, 4)),
                           ValueError, "out and db overlap in memory"),
    "dot-short-o": ("bias_relu_dot_", lambda: (z(3, 4), z(4), z(4), 0.5, z(2, 1)), ValueError,
                    "o's rows has 2 elements, expected 3"),
    "dot-wide-o": ("bias_relu_dot_", lambda: (z(3, 4), z(4), z(4), 0.5, z(3, 2)), ValueError,
                   "o's columns has 2 elements, expected 1"),
    "dot-short-w": ("bias_relu_dot_", lambda: (z(3, 4), z(4), z(3), 0.5, z(3, 1)), ValueError,
                    "w has 3 elements, expected 4"),
    "dot-o-in-Y": ("bias_relu_dot_", lambda: (lambda Y: (Y, z(4), z(4), 0.5, Y[:, :1]))(z(3, 4)),
                   ValueError, "Y and o overlap in memory"),
    "outer-wide-d": ("outer_relu_backward_bias_",
                     lambda: (z(3, 2), z(4), z(3, 4), z(4), z(4), z(1)), ValueError,
                     "d's columns has 2 elements, expected 1"),
    "outer-short-d": ("outer_relu_backward_bias_",
                      lambda: (z(2, 1), z(4), z(3, 4), z(4), z(4), z(1)), ValueError,
                      "d's rows has 2 elements, expected 3"),
    "outer-short-db": ("outer_relu_backward_bias_",
                       lambda: (z(3, 1), z(4), z(3, 4), z(2), z(4), z(1)), ValueError,
                       "db has 2 elements, expected 4"),
    "outer-short-dw": ("outer_relu_backward_bias_",
                       lambda: (z(3, 1), z(4), z(3, 4), z(4), z(1), z(1)), ValueError,
                       "dw has 1 elements, expected 4"),
    "outer-empty-dc": ("outer_relu_backward_bias_",
                       lambda: (z(3, 1), z(4), z(3, 4), z(4), z(4), empty()), ValueError,
                       "dc has 0 elements, expected 1"),
    "outer-db-dw": ("outer_relu_backward_bias_",
                    lambda: (lambda s: (z(3, 1), z(4), z(3, 4), s[:4], s[3:7], z(1)))(z(8)),
                    ValueError, "db and dw overlap in memory"),
    "xent-label": ("softmax_xent_", lambda: (z(4, 3), np.array([0, 1, 2, 3]), z(4, 3), 0.25),
                   ValueError, "label y[3] = 3 is outside [0, 3)"),
    "xent-negative": ("softmax_xent_", lambda: (z(4, 3), np.array([0, -1, 2, 2]), z(4, 3), 0.25),
                      ValueError, "label y[1] = -1 is outside [0, 3)"),
    "xent-int32": ("softmax_xent_", lambda: (z(4, 3), np.zeros(4, np.int32), z(4, 3), 0.25),
                   TypeError, "y must hold int64 labels"),
    "xent-short-y": ("softmax_xent_", lambda: (z(4, 3), np.zeros(3, np.int64), z(4, 3), 0.25),
                     ValueError, "y must be 1-D with 4 labels"),
    "xent-strided-y": ("softmax_xent_",
                       lambda: (z(4, 3), np.zeros(8, np.int64)[::2], z(4, 3), 0.25), ValueError,
                       "y must be contiguous"),
    "xent-misaligned-y": ("softmax_xent_",
                          lambda: (z(4, 3), misaligned(4, np.int64), z(4, 3), 0.25), ValueError,
                          "y is not aligned to its item size (8 bytes)"),
    "xent-columns": ("softmax_xent_", lambda: (z(4, 3), np.zeros(4, np.int64), z(4, 2), 0.25),
                     ValueError, "g's columns has 2 elements, expected 3"),
    "xent-dtypes": ("softmax_xent_", lambda: (z(4, 3), np.zeros(4, np.int64), z(4, 3, dtype=D),
                                              0.25), TypeError, "g is float64 but z is float32"),
    "xent-no-columns": ("softmax_xent_", lambda: (z(4, 0), np.zeros(4, np.int64), z(4, 0), 0.25),
                        ValueError, "z must have at least one column"),
    "xent-y-in-g": ("softmax_xent_",
                    lambda: (lambda g: (z(4, 4, dtype=D), g[0].view(np.int64), g, 0.25))(
                        z(4, 4, dtype=D)), ValueError, "y and g overlap in memory"),
    "xent-g-is-z": ("softmax_xent_", lambda: (lambda g: (g, np.zeros(4, np.int64), g, 0.25))(
        z(4, 3)), ValueError, "z and g overlap in memory"),
    "take-index": ("take_rows_", lambda: (z(5, 3), np.array([0, 5, 1]), z(3, 3)),
                   ValueError, "index idx[1] = 5 is outside [0, 5)"),
    "take-negative": ("take_rows_", lambda: (z(5, 3), np.array([0, 1, -1]), z(3, 3)),
                      ValueError, "index idx[2] = -1 is outside [0, 5)"),
    "take-int32": ("take_rows_", lambda: (z(5, 3), np.zeros(3, np.int32), z(3, 3)),
                   TypeError, "idx must hold int64 indices"),
    "take-short-idx": ("take_rows_", lambda: (z(5, 3), np.zeros(2, np.int64), z(3, 3)),
                       ValueError, "idx must be 1-D with 3 indices"),
    "take-strided-idx": ("take_rows_", lambda: (z(5, 3), np.zeros(6, np.int64)[::2], z(3, 3)),
                         ValueError, "idx must be contiguous"),
    "take-columns": ("take_rows_", lambda: (z(5, 3), np.zeros(3, np.int64), z(3, 2)),
                     ValueError, "out's columns has 2 elements, expected 3"),
    "take-dtypes": ("take_rows_", lambda: (z(5, 3), np.zeros(3, np.int64), z(3, 3, dtype=D)),
                    TypeError, "out is float64 but X is float32"),
    "take-read-only": ("take_rows_", lambda: (z(5, 3), np.zeros(3, np.int64),
                                              read_only(z(3, 3))),
                       ValueError, "out is read-only"),
    "take-out-in-X": ("take_rows_", lambda: (lambda X: (X, np.zeros(3, np.int64), X[2:]))(
        z(5, 3)), ValueError, "X and out overlap in memory"),
    "take-idx-in-out": ("take_rows_", lambda: (lambda o: (z(5, 1, dtype=D),
                                                          o.reshape(3).view(np.int64), o))(
        z(3, 1, dtype=D)), ValueError, "idx and out overlap in memory"),
}


def _call(kernels, case):
    name, make, _, _ = CASES[case]
    return getattr(kernels, name)(*make())


@pytest.fixture
def kernels(kernel_backend):
    return builds.select(True, 0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_kernel_names_what_it_cannot_take(case, kernels):
    _, _, exc, message = CASES[case]
    with pytest.raises(exc, match=re.escape(message)):
        _call(kernels, case)


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_builds_raise_the_same_exception_and_message(case):
    c, numba = builds.build("c"), builds.build("numba")
    if c is None or numba is None:
        pytest.skip("needs both builds")
    errors = []
    for kernels in (c, numba):
        with pytest.raises((TypeError, ValueError)) as info:
            _call(kernels, case)
        errors.append(info.value)
    assert type(errors[0]) is type(errors[1])
    if case != "sumsq-list":  # Python's own messages for an object without a buffer differ
        assert str(errors[0]) == str(errors[1])


def test_a_rejected_call_writes_nothing(kernels):
    out = np.arange(12, dtype=F).reshape(3, 4) - 5
    keep = out.copy()
    with pytest.raises(ValueError, match="db has 3 elements"):
        kernels.relu_backward_bias_(np.ones((3, 4), F), out, z(3))
    np.testing.assert_array_equal(out, keep)


def test_grad_may_be_out_itself_in_relu_backward(kernels, rng):
    out = np.maximum(rng.normal(size=(300, 70)), 0)
    want, want_db = out * (out > 0), (out * (out > 0)).sum(axis=0)
    db = np.empty(70)
    kernels.relu_backward_bias_(out, out, db)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_allclose(db, want_db, rtol=1e-13)


def test_the_kernels_take_views_buffers_and_empty_arrays(kernels, rng):
    big = rng.normal(size=(5, 9)).astype(F)
    view, copy = big[:, 2:7], big[:, 2:7].copy()  # rows 9 apart, 5 wide
    b = rng.normal(size=5).astype(F)
    kernels.bias_relu_(view, b)
    np.testing.assert_array_equal(view, np.maximum(copy + b, 0))
    np.testing.assert_array_equal(big[:, :2], big[:, :2])
    p = np.ones(6, F)
    kernels.sgd_step(memoryview(p), memoryview(np.full(6, 2, F)), memoryview(empty()), *SGD)
    np.testing.assert_array_equal(p, np.ones(6, F) - F(0.1) * 2)
    kernels.sgd_step(empty(), empty(), empty(), *SGD)
    kernels.bias_relu_(z(0, 3), z(3))
    db = np.full(3, 7, F)
    kernels.relu_backward_bias_(z(0, 3), z(0, 3), db)
    np.testing.assert_array_equal(db, 0)
    dc = np.full(1, 7, F)
    kernels.outer_relu_backward_bias_(z(0, 1), z(3), z(0, 3), db, db.copy(), dc)
    assert dc[0] == 0
    assert kernels.softmax_xent_(z(0, 3), np.zeros(0, np.int64), z(0, 3), 1.0) == (0.0, 0)
    assert kernels.sum_squares(empty()) == 0.0
