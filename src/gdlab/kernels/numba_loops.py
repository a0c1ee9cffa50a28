"""The loops of the numba build of gdlab's kernels, each compiled twice: ``serial.NAME`` and
``parallel.NAME`` (``parallel=True``, the blocks shared by numba's threads with ``prange``).
Call them through :mod:`gdlab.kernels.numba_kernels`, which checks the arguments first (numba
checks neither lengths nor bounds) and chooses the twin; gdlab/kernels/_ckernels_loops.h holds
the same loops in C, block for block.

Every loop splits its work into FIXED blocks (``CHUNK`` elements, ``ROWS`` rows, ``COLS``
columns, as in the C build) and reductions keep one partial sum per block, added in block order
afterwards: the twins give the same bits, at any thread count. Each loop performs the NumPy
reference's floating-point operations in the same order (no ``fastmath`` but the row sums of
``bias_relu_dot_`` and the block sums of ``sum_squares``), so that elementwise results are the
same bits as NumPy's. Scalars come in
the arrays' dtype, so that float32 maths stays float32. ``nogil=True``: the loops run while other
Python threads do. This module imports numba: ``import gdlab`` never imports it.
"""

from types import FunctionType, SimpleNamespace

import numpy as np
from numba import njit, prange

CHUNK, ROWS, COLS, XENT_ROWS = 8192, 256, 64, 64

_serial, _parallel = {}, {}


def _twins(**options):
    """Compile ``fn`` as a serial and a parallel kernel, registered under its name. The
    parallel twin is a copy of the function under another qualified name, so that numba's disk
    cache (keyed by the name, not by ``parallel=``) keeps the two apart."""
    def register(fn):
        twin = FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                            fn.__closure__)
        twin.__qualname__ = fn.__qualname__ + "_parallel"
        _serial[fn.__name__] = njit(cache=True, nogil=True, **options)(fn)
        _parallel[fn.__name__] = njit(cache=True, nogil=True, parallel=True, **options)(twin)
        return fn
    return register


# ---- optimizer steps: elementwise ---------------------------------------------------------

@_twins(error_model="numpy")  # IEEE division (inf, NaN), as NumPy: vectorises
def sgd_step(p, g, buf, sign, wd, neg_lr, momentum, damp1, first, nesterov):
    """SGD (see :class:`gdlab.optim.SGD`); ``buf`` is empty when there is no momentum."""
    n = p.size
    has_momentum = buf.size > 0
    for blk in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = blk * CHUNK, min(n, blk * CHUNK + CHUNK)
        # views of the block: loops that count from 0 vectorise (numba's negative-index test
        # goes away only for an index it knows to be >= 0)
        pb, gb = p[lo:hi], g[lo:hi]
        bb = buf[lo:hi] if has_momentum else buf
        for i in range(hi - lo):
            gi = sign * gb[i]
            if wd != 0:
                gi = gi + wd * pb[i]
            if has_momentum:
                b = gi if first else momentum * bb[i] + damp1 * gi
                bb[i] = b
                gi = gi + momentum * b if nesterov else b
            pb[i] = pb[i] + neg_lr * gi


@_twins(error_model="numpy")
def adam_step(p, g, m, v, vmax, sign, wd, decay, omb1, b2, omb2, eps_c2, neg_step):
    """Adam/AdamW (see :class:`gdlab.optim.Adam`); ``vmax`` is empty without AMSGrad.

    ``wd`` is the coupled weight decay (0 for AdamW), ``decay`` = 1 - lr lambda the decoupled
    one (1 for Adam), ``eps_c2`` = eps sqrt(1 - beta2^t), ``neg_step`` = -lr sqrt(1 - beta2^t)
    / (1 - beta1^t).
    """
    n = p.size
    ams = vmax.size > 0
    for blk in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = blk * CHUNK, min(n, blk * CHUNK + CHUNK)
        pb, gb, mb, vb = p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]  # loops from 0 vectorise
        # two loops rather than a branch inside one: LLVM vectorises each (not a branchy one)
        if not ams:
            for i in range(hi - lo):
                pi = pb[i]
                gi = sign * gb[i]
                if wd != 0:
                    gi = gi + wd * pi
                mi = mb[i] + omb1 * (gi - mb[i])
                vi = b2 * vb[i] + omb2 * (gi * gi)
                mb[i] = mi
                vb[i] = vi
                pb[i] = pi * decay + neg_step * (mi / (np.sqrt(vi) + eps_c2))
        else:
            xb = vmax[lo:hi]
            for i in range(hi - lo):
                pi = pb[i]
                gi = sign * gb[i]
                if wd != 0:
                    gi = gi + wd * pi
                mi = mb[i] + omb1 * (gi - mb[i])
                vi = b2 * vb[i] + omb2 * (gi * gi)
                mb[i] = mi
                vb[i] = vi
                vm = xb[i]
                vm = vi if (vi > vm or vi != vi) else vm  # np.maximum: NaN from either side
                xb[i] = vm
                pb[i] = pi * decay + neg_step * (mi / (np.sqrt(vm) + eps_c2))


@_twins(fastmath={"reassoc"})  # only to vectorise the sum of each block; no other licence
def sum_squares(x):
    """The sum of ``x**2`` in float64: a float64 partial sum per block (summed in vector lanes,
    in the order of the compiled loop, the same for every block), the blocks added in order;
    equal to the C build's to rounding."""
    n = x.size
    nb = (n + CHUNK - 1) // CHUNK
    part = np.zeros(nb, np.float64)
    for blk in prange(nb):
        xb = x[blk * CHUNK:min(n, blk * CHUNK + CHUNK)]
        s = 0.0
        for i in range(xb.size):
            xi = np.float64(xb[i])
            s += xi * xi
        part[blk] = s
    total = 0.0
    for blk in range(nb):
        total += part[blk]
    return total


# ---- Dense + ReLU, fused (gdlab.nn.fused) --------------------------------------------------

@_twins()
def bias_relu_(Y, b):
    """``Y <- max(Y + b, 0)`` in place: Dense's bias and the ReLU in one pass, the same float
    operations as ``Y += b; np.maximum(Y, 0, out=Y)`` (NaN kept, as np.maximum keeps it)."""
    n, m = Y.shape
    zero = Y.dtype.type(0)
    rows = max(1, CHUNK // max(1, m))
    for blk in prange((n + rows - 1) // rows):
        for i in range(blk * rows, min(n, blk * rows + rows)):
            y = Y[i]
            for j in range(m):
                v = y[j] + b[j]
                y[j] = v if (v >= 0 or v != v) else zero


@_twins()
def relu_backward_bias_(grad, out, db):
    """``out <- grad * (out > 0)`` in place and ``db = out.sum(axis=0)``, in one pass.

    ``out`` is the ReLU's forward output, no longer needed: writing over it rather than into a
    third array saves a stream of memory traffic. The product is by 1.0 or 0.0, as in the
    reference (NaN and inf in ``grad`` propagate through dead units too); the column sums
    accumulate in float64 per block of ``ROWS`` rows, and the blocks in order, then round once.
    """
    n, m = out.shape
    nrb, ncb = (n + ROWS - 1) // ROWS, (m + COLS - 1) // COLS
    part = np.zeros((nrb, m), np.float64)
    zero, one = out.dtype.type(0), out.dtype.type(1)
    for t in prange(nrb * ncb):
        rb, cb = t // ncb, t % ncb
        c0, c1 = cb * COLS, min(m, cb * COLS + COLS)
        acc = part[rb, c0:c1]
        for i in range(rb * ROWS, min(n, rb * ROWS + ROWS)):
            gr, o = grad[i, c0:c1], out[i, c0:c1]
            for j in range(c1 - c0):
                d = gr[j] * (one if o[j] > 0 else zero)
                o[j] = d
                acc[j] += d
    for j in prange(m):
        s = 0.0
        for rb in range(nrb):
            s += part[rb, j]
        db[j] = s


@_twins(fastmath={"reassoc"})  # only to vectorise the row sums; no other licence
def bias_relu_dot_(Y, b, w, c, o):
    """:func:`bias_relu_` and, in the same pass, ``o = Y w + c``: the forward of a next Dense
    layer with one output (weight column ``w``, bias ``c``), so that the activations are read
    once rather than twice. The sum runs in another order than BLAS's: equal to rounding."""
    n, m = Y.shape
    zero = Y.dtype.type(0)
    rows = max(1, CHUNK // max(1, m))
    for blk in prange((n + rows - 1) // rows):
        for i in range(blk * rows, min(n, blk * rows + rows)):
            y = Y[i]
            s = zero
            for j in range(m):
                v = y[j] + b[j]
                v = v if (v >= 0 or v != v) else zero
                y[j] = v
                s += v * w[j]
            o[i, 0] = s + c


@_twins()
def outer_relu_backward_bias_(d, w, out, db, dw, dc):
    """As :func:`relu_backward_bias_` for ``grad = d w^T``, the input gradient of a Dense
    layer with one output (``d`` of shape (n, 1), ``w`` its weight column): the (n, m) outer
    product is never written, and each element is the same single product as NumPy's. The
    same pass gives that layer's gradients, ``dw = out^T d`` and ``dc = sum d`` (float64 sums
    per block of rows, added in order), before ``out`` is overwritten."""
    n, m = out.shape
    nrb, ncb = (n + ROWS - 1) // ROWS, max(1, (m + COLS - 1) // COLS)
    part = np.zeros((nrb, 2 * m + 1), np.float64)
    zero, one = out.dtype.type(0), out.dtype.type(1)
    for t in prange(nrb * ncb):
        rb, cb = t // ncb, t % ncb
        c0, c1 = cb * COLS, min(m, cb * COLS + COLS)
        acc, acc_w, wb = part[rb, c0:c1], part[rb, m + c0:m + c1], w[c0:c1]
        sum_c = 0.0
        for i in range(rb * ROWS, min(n, rb * ROWS + ROWS)):
            di = d[i, 0]
            sum_c += di
            o = out[i, c0:c1]
            for j in range(c1 - c0):
                oj = o[j]
                acc_w[j] += oj * di
                v = (di * wb[j]) * (one if oj > 0 else zero)
                o[j] = v
                acc[j] += v
        if cb == 0:
            part[rb, 2 * m] = sum_c
    for j in prange(m):
        s, s_w = 0.0, 0.0
        for rb in range(nrb):
            s += part[rb, j]
            s_w += part[rb, m + j]
        db[j] = s
        dw[j] = s_w
    s_c = 0.0
    for rb in range(nrb):
        s_c += part[rb, 2 * m]
    dc[0] = s_c


# ---- softmax cross-entropy (gdlab.nn.losses.CrossEntropyLoss) -------------------------------

@_twins()
def softmax_xent_(z, y, g, scale):
    """Softmax cross-entropy of the rows of logits ``z`` against int64 labels ``y``, in one
    pass: ``g = (softmax(z) - onehot(y)) * scale`` and ``(summed per-row losses, number of rows
    whose first largest logit is the label, -1 or the first row whose label is out of bounds,
    that label)``. ``scale`` (the arrays' dtype) is each row's share of the mean, ``1/n``. The
    same float operations as CrossEntropyLoss's NumPy code, with the library's exp and log
    (equal to rounding), the losses summed in float64 per block of rows and the blocks in
    order. Each label is read once and checked where it is used; a bad one stops its block."""
    n, m = z.shape
    nb = (n + XENT_ROWS - 1) // XENT_ROWS
    sums = np.zeros(nb, np.float64)
    hits = np.zeros(nb, np.int64)
    bad = np.full(nb, -1, np.int64)
    labels = np.zeros(nb, np.int64)
    for blk in prange(nb):
        total, count = 0.0, 0
        for i in range(blk * XENT_ROWS, min(n, blk * XENT_ROWS + XENT_ROWS)):
            t = y[i]
            if t < 0 or t >= m:
                bad[blk], labels[blk] = i, t
                break
            top, arg = z[i, 0], 0
            for j in range(1, m):
                if z[i, j] > top or (z[i, j] != z[i, j] and top == top):
                    top, arg = z[i, j], j
            if arg == t:
                count += 1
            picked = z[i, t] - top
            s = scale * 0
            for j in range(m):
                e = np.exp(z[i, j] - top)
                g[i, j] = e
                s += e
            total += np.log(s) - picked
            for j in range(m):
                q = g[i, j] / s
                if j == t:
                    q = q - 1
                g[i, j] = q * scale
        sums[blk], hits[blk] = total, count
    total, count = 0.0, 0
    for blk in range(nb):
        if bad[blk] >= 0:
            return total, count, bad[blk], labels[blk]
        total += sums[blk]
        count += hits[blk]
    return total, count, -1, 0


# ---- the rows of a batch: a copy ----------------------------------------------------------

@_twins()
def take_rows_(X, idx, out):
    """``out[i] = X[idx[i]]`` for every row of ``out``, blocks of ``XENT_ROWS`` rows; returns
    ``(-1, 0)``, or the first position whose index is outside ``[0, X.shape[0])`` and that
    index (its row is left as it was). Each index is read once and checked where it is used."""
    n, n_src = out.shape[0], X.shape[0]
    nb = (n + XENT_ROWS - 1) // XENT_ROWS
    bad = np.full(nb, -1, np.int64)
    values = np.zeros(nb, np.int64)
    for blk in prange(nb):
        for i in range(blk * XENT_ROWS, min(n, blk * XENT_ROWS + XENT_ROWS)):
            r = idx[i]
            if r < 0 or r >= n_src:
                if bad[blk] < 0:
                    bad[blk], values[blk] = i, r
                continue
            src, dst = X[r], out[i]
            for j in range(dst.shape[0]):  # a loop: numba copies a slice assignment slower
                dst[j] = src[j]
    for blk in range(nb):
        if bad[blk] >= 0:
            return bad[blk], values[blk]
    return -1, 0


serial = SimpleNamespace(**_serial)
parallel = SimpleNamespace(**_parallel)
