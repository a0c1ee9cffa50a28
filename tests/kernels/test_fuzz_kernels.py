"""hypothesis fuzz of every kernel, in both builds at 1 and 2 threads (the kernel_backend
fixture), against NumPy: shapes from empty to several blocks of rows and columns, rows strided
in memory, both dtypes, NaN, infinities and signed zeros among the values. Every output lies in
a larger buffer whose guard region (the bytes before, after and between its rows) holds a
sentinel pattern: no kernel may write a byte outside its outputs, nor into its inputs.

Elementwise results must be NumPy's bits; sums formed in another order (float64 partial sums per
block) agree to rounding, as does the cross-entropy (the C library's exp and log)."""

import math

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import example, given, settings

from gdlab.kernels import builds
from gdlab.nn.losses import CrossEntropyLoss

GUARD = 17  # elements of guard before and after each buffer
SENTINEL = 0xA5  # the guard's byte pattern


class Guarded:
    """An array (``.a``) inside a larger buffer filled with the sentinel around it."""

    def __init__(self, values, pad=0):
        values = np.asarray(values)
        shape = values.shape
        rows, cols = (1, shape[0]) if values.ndim == 1 else shape
        width = cols + pad
        raw = np.full((2 * GUARD + rows * width) * values.itemsize, SENTINEL, np.uint8)
        self.buffer = raw.view(values.dtype)
        inner = self.buffer[GUARD:GUARD + rows * width].reshape(rows, width)[:, :cols]
        self.a = inner.reshape(shape) if values.ndim == 1 else inner
        self.a[...] = values
        self.mask = np.zeros(self.buffer.shape, bool)
        self.mask[GUARD:GUARD + rows * width].reshape(rows, width)[:, :cols] = True
        self.before = raw.copy()
        self.raw = raw

    def guard_intact(self):
        item = self.buffer.itemsize
        outside = np.repeat(~self.mask, item)
        return np.array_equal(self.raw[outside], self.before[outside])

    def unchanged(self):
        return np.array_equal(self.raw, self.before)


def values(rng, shape, dtype, look):
    """Normal values of a drawn scale, with special values (NaN, infinities, signed zeros) at
    a drawn share of the places: ``look = (scale, share)``."""
    scale, share = look
    x = (rng.normal(size=shape) * scale).astype(dtype)
    if x.size and share:
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], dtype)
        where = rng.random(x.shape) < share
        x[where] = rng.choice(specials, size=int(where.sum()))
    return x


seeds = st.integers(0, 2**32 - 1)
looks = st.tuples(st.sampled_from([1e-3, 1.0, 30.0]), st.sampled_from([0.0, 0.0, 0.01, 0.2]))
shapes = st.tuples(st.integers(0, 300), st.integers(0, 150))
dtypes = st.sampled_from([np.float32, np.float64])
pads = st.sampled_from([0, 0, 3])
LARGE = (520, 140)  # 72,800 elements: more than 2 threads' worth, 3 blocks of rows


@pytest.fixture(scope="module")
def k(kernel_backend):
    return builds.select(True, 0)


def _equal(got, want):
    return np.array_equal(got, want, equal_nan=True)


def _near(got, want, rtol):
    both_nan = np.isnan(got) & np.isnan(want)
    ok = np.isclose(got, want, rtol=rtol, atol=rtol, equal_nan=True) | both_nan
    return bool(ok.all())


@settings(max_examples=25)
@given(n=st.integers(0, 70_000), dtype=dtypes, seed=seeds, look=looks)
@example(n=70_001, dtype=np.float32, seed=1, look=(1.0, 0.01))
def test_sgd_and_adam_steps(k, n, dtype, seed, look):
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        p, g = values(rng, (n,), dtype, look), values(rng, (n,), dtype, look)
        buf = np.abs(values(rng, (n,), dtype, look))
        t = dtype
        P, G, B = Guarded(p), Guarded(g), Guarded(buf)
        k.sgd_step(P.a, G.a, B.a, 1.0, 0.01, -0.1, 0.9, 0.7, False, False)
        gi = t(1.0) * g + t(0.01) * p
        b = t(0.9) * buf + t(0.7) * gi
        assert _equal(B.a, b) and _equal(P.a, p + t(-0.1) * b)
        assert P.guard_intact() and B.guard_intact() and G.unchanged()
        m, v = values(rng, (n,), dtype, look), np.abs(values(rng, (n,), dtype, look))
        P, M, V = Guarded(p), Guarded(m), Guarded(v)
        k.adam_step(P.a, G.a, M.a, V.a, np.empty(0, dtype), -1.0, 0.0, 0.99, 0.1, 0.999, 0.001,
                    1e-8, -1e-3)
        gi = t(-1.0) * g
        mi = m + t(0.1) * (gi - m)
        vi = t(0.999) * v + t(0.001) * (gi * gi)
        want = p * t(0.99) + t(-1e-3) * (mi / (np.sqrt(vi) + t(1e-8)))
        assert _equal(M.a, mi) and _equal(V.a, vi) and _equal(P.a, want)
        assert P.guard_intact() and M.guard_intact() and V.guard_intact() and G.unchanged()
        X = Guarded(g)
        total = k.sum_squares(X.a)
        exact = math.fsum(float(x) * float(x) for x in g.astype(np.float64)) if n < 5000 else \
            float(np.sum(g.astype(np.float64) ** 2))
        assert (math.isnan(total) and math.isnan(exact)) or total == pytest.approx(exact, rel=1e-9)
        assert X.unchanged()


@settings(max_examples=25)
@given(shape=shapes, dtype=dtypes, pad=pads, seed=seeds, look=looks)
@example(shape=LARGE, dtype=np.float64, pad=3, seed=2, look=(1.0, 0.01))
def test_bias_relu_and_its_backward(k, shape, dtype, pad, seed, look):
    rng = np.random.default_rng(seed)
    rows, cols = shape
    with np.errstate(all="ignore"):
        y, b = values(rng, shape, dtype, look), values(rng, (cols,), dtype, look)
        Y, B = Guarded(y, pad), Guarded(b)
        k.bias_relu_(Y.a, B.a)
        forward = np.maximum(y + b, 0)
        assert _equal(Y.a, forward) and Y.guard_intact() and B.unchanged()
        grad = values(rng, shape, dtype, look)
        Gr, O, DB = Guarded(grad, pad), Guarded(forward, pad), Guarded(np.zeros(cols, dtype))
        k.relu_backward_bias_(Gr.a, O.a, DB.a)
        d = grad * (forward > 0).astype(dtype)
        assert _equal(O.a, d) and O.guard_intact() and DB.guard_intact() and Gr.unchanged()
        assert _near(DB.a.astype(np.float64), d.astype(np.float64).sum(axis=0),
                     1e-5 if dtype == np.float32 else 1e-12)


@settings(max_examples=25)
@given(shape=shapes, dtype=dtypes, pad=pads, seed=seeds, look=looks)
@example(shape=LARGE, dtype=np.float32, pad=0, seed=3, look=(1.0, 0.0))
def test_a_pair_whose_head_has_one_output(k, shape, dtype, pad, seed, look):
    rng = np.random.default_rng(seed)
    rows, cols = shape
    rtol = 1e-4 if dtype == np.float32 else 1e-11
    with np.errstate(all="ignore"):
        y, b = values(rng, shape, dtype, look), values(rng, (cols,), dtype, look)
        w = values(rng, (cols,), dtype, look)
        Y, B, W = Guarded(y, pad), Guarded(b), Guarded(w)
        O = Guarded(np.zeros((rows, 1), dtype), pad)
        k.bias_relu_dot_(Y.a, B.a, W.a, 0.5, O.a)
        h = np.maximum(y + b, 0)
        assert _equal(Y.a, h) and Y.guard_intact() and O.guard_intact()
        assert B.unchanged() and W.unchanged()
        scale = np.abs(h).astype(np.float64) @ np.abs(w).astype(np.float64) + 1.0
        want = h.astype(np.float64) @ w.astype(np.float64) + 0.5
        err = np.abs(O.a[:, 0] - want)
        assert bool(np.all((err <= rtol * scale) | np.isnan(want) | ~np.isfinite(scale)))
        d = values(rng, (rows, 1), dtype, look)
        D, H = Guarded(d, pad), Guarded(h, pad)
        DB, DW, DC = (Guarded(np.zeros(cols, dtype)), Guarded(np.zeros(cols, dtype)),
                      Guarded(np.zeros(1, dtype)))
        k.outer_relu_backward_bias_(D.a, W.a, H.a, DB.a, DW.a, DC.a)
        v = (d * w) * (h > 0).astype(dtype)
        assert _equal(H.a, v) and H.guard_intact() and D.unchanged() and W.unchanged()
        assert DB.guard_intact() and DW.guard_intact() and DC.guard_intact()
        f64 = np.float64
        assert _near(DB.a.astype(f64), v.astype(f64).sum(axis=0), rtol)
        assert _near(DW.a.astype(f64), (h.astype(f64) * (d.astype(f64))).sum(axis=0) if rows else
                     np.zeros(cols), rtol)
        assert _near(DC.a.astype(f64), np.array([d.astype(f64).sum()]), rtol)


@settings(max_examples=25)
@given(rows=st.integers(0, 400), cols=st.integers(1, 40), dtype=dtypes, pad=pads, seed=seeds,
       scale=st.sampled_from([0.1, 3.0, 40.0]))
@example(rows=7_000, cols=10, dtype=np.float32, pad=2, seed=4, scale=3.0)
def test_softmax_cross_entropy(k, rows, cols, dtype, pad, seed, scale):
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(rows, cols)) * scale).astype(dtype)
    y = rng.integers(0, cols, rows)
    Z, Y, G = Guarded(z, pad), Guarded(y), Guarded(np.zeros((rows, cols), dtype), pad)
    total, hits = k.softmax_xent_(Z.a, Y.a, G.a, dtype(1.0 / max(rows, 1)))
    assert G.guard_intact() and Z.unchanged() and Y.unchanged()
    if rows == 0:
        assert (total, hits) == (0.0, 0)
        return
    value, g = CrossEntropyLoss().compute(z, y, None, True)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert total / rows == pytest.approx(value, rel=rtol, abs=rtol)
    np.testing.assert_allclose(G.a, g, rtol=rtol, atol=rtol * max(1.0, float(np.abs(g).max())))
    assert hits == int((np.argmax(z, axis=1) == y).sum())


@settings(max_examples=25)
@given(n_src=st.integers(0, 300), rows=st.integers(0, 400), cols=st.integers(0, 150),
       dtype=dtypes, pad=pads, seed=seeds, look=looks)
@example(n_src=2_000, rows=700, cols=150, dtype=np.float32, pad=3, seed=5, look=(1.0, 0.01))
def test_take_rows(k, n_src, rows, cols, dtype, pad, seed, look):
    rng = np.random.default_rng(seed)
    x = values(rng, (n_src, cols), dtype, look)
    rows = rows if n_src else 0
    idx = rng.integers(0, max(n_src, 1), rows)
    X, I, OUT = Guarded(x, pad), Guarded(idx), Guarded(np.zeros((rows, cols), dtype), pad)
    k.take_rows_(X.a, I.a, OUT.a)
    assert OUT.guard_intact() and X.unchanged() and I.unchanged()
    assert _equal(OUT.a.view(np.uint8), np.take(x, idx, axis=0).view(np.uint8))
