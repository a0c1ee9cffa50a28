"""The numba build of gdlab's kernels (``gdlab[fast]``); gdlab/kernels/_ckernels.c is the C build of the
same functions, preferred when installed (see :mod:`gdlab.kernels`). Any change here is made there
too: tests/test_fast.py and tests/test_fusion.py run both against the NumPy reference.

Optimizer steps: one pass over a flat parameter vector per step.

The NumPy code in :mod:`gdlab.optim` is the reference; it makes about a dozen passes over the
arrays per Adam step, these kernels make one. Each kernel performs the same floating-point
operations in the same order as the reference (no ``fastmath``: no reassociation, no fused
multiply-add), so on the same inputs it gives the same bits; tests/test_fast.py checks that.

Scalars must be passed in the arrays' dtype (``p.dtype.type(x)``) so that float32 maths stays
float32, as in the reference. This module imports numba, so :mod:`gdlab.optim` imports it only
when an optimizer takes the fast path; ``import gdlab`` never does.
"""

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")  # IEEE division (inf, NaN), as NumPy: vectorises
def sgd_step(p, g, buf, sign, wd, neg_lr, momentum, damp1, first, nesterov):
    """SGD (see :class:`gdlab.optim.SGD`); ``buf`` is empty when there is no momentum."""
    has_momentum = buf.size > 0
    for i in range(p.size):
        gi = sign * g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        if has_momentum:
            b = gi if first else momentum * buf[i] + damp1 * gi
            buf[i] = b
            gi = gi + momentum * b if nesterov else b
        p[i] = p[i] + neg_lr * gi


@njit(cache=True, error_model="numpy")  # IEEE division (inf, NaN), as NumPy: vectorises
def adam_step(p, g, m, v, vmax, sign, wd, decay, omb1, b2, omb2, eps_c2, neg_step):
    """Adam/AdamW (see :class:`gdlab.optim.Adam`); ``vmax`` is empty without AMSGrad.

    ``wd`` is the coupled weight decay (0 for AdamW), ``decay`` = 1 - lr lambda the decoupled
    one (1 for Adam), ``eps_c2`` = eps sqrt(1 - beta2^t), ``neg_step`` = -lr sqrt(1 - beta2^t)
    / (1 - beta1^t).
    """
    # two loops rather than a branch inside one: LLVM vectorises each (not a branchy one)
    if vmax.size == 0:
        for i in range(p.size):
            pi = p[i]
            gi = sign * g[i]
            if wd != 0:
                gi = gi + wd * pi
            mi = m[i] + omb1 * (gi - m[i])
            vi = b2 * v[i] + omb2 * (gi * gi)
            m[i] = mi
            v[i] = vi
            p[i] = pi * decay + neg_step * (mi / (np.sqrt(vi) + eps_c2))
    else:
        for i in range(p.size):
            pi = p[i]
            gi = sign * g[i]
            if wd != 0:
                gi = gi + wd * pi
            mi = m[i] + omb1 * (gi - m[i])
            vi = b2 * v[i] + omb2 * (gi * gi)
            m[i] = mi
            v[i] = vi
            vm = vmax[i]
            vm = vi if (vi > vm or vi != vi) else vm  # np.maximum: NaN from either side
            vmax[i] = vm
            p[i] = pi * decay + neg_step * (mi / (np.sqrt(vm) + eps_c2))


# ---- Dense + ReLU, fused (gdlab.nn.fused) ---------------------------------------------------------

@njit(cache=True)
def bias_relu_(Y, b):
    """``Y <- max(Y + b, 0)`` in place: Dense's bias and the ReLU in one pass, the same float
    operations as ``Y += b; np.maximum(Y, 0, out=Y)`` (NaN kept, as np.maximum keeps it)."""
    n, m = Y.shape
    zero = Y.dtype.type(0)
    for i in range(n):
        y = Y[i]
        for j in range(m):
            v = y[j] + b[j]
            y[j] = v if (v >= 0 or v != v) else zero


@njit(cache=True)
def relu_backward_bias_(grad, out, db):
    """``out <- grad * (out > 0)`` in place and ``db = out.sum(axis=0)``, in one pass.

    ``out`` is the ReLU's forward output, no longer needed: writing over it rather than into a
    third array saves a stream of memory traffic. The product is by 1.0 or 0.0, as in the
    reference (NaN and inf in ``grad`` propagate through dead units too); the column sums
    accumulate in float64 and round once.
    """
    n, m = out.shape
    acc = np.zeros(m, np.float64)
    zero, one = out.dtype.type(0), out.dtype.type(1)
    for i in range(n):
        g, o = grad[i], out[i]
        for j in range(m):
            d = g[j] * (one if o[j] > 0 else zero)
            o[j] = d
            acc[j] += d
    for j in range(m):
        db[j] = acc[j]


@njit(cache=True, fastmath={"reassoc"})  # only to vectorise the row sums; no other licence
def bias_relu_dot_(Y, b, w, c, o):
    """:func:`bias_relu_` and, in the same pass, ``o = Y w + c``: the forward of a next Dense
    layer with one output (weight column ``w``, bias ``c``), so that the activations are read
    once rather than twice. The sum runs in another order than BLAS's: equal to rounding."""
    n, m = Y.shape
    zero = Y.dtype.type(0)
    for i in range(n):
        y = Y[i]
        s = zero
        for j in range(m):
            v = y[j] + b[j]
            v = v if (v >= 0 or v != v) else zero
            y[j] = v
            s += v * w[j]
        o[i, 0] = s + c


@njit(cache=True)
def outer_relu_backward_bias_(d, w, out, db, dw, dc):
    """As :func:`relu_backward_bias_` for ``grad = d w^T``, the input gradient of a Dense
    layer with one output (``d`` of shape (n, 1), ``w`` its weight column): the (n, m) outer
    product is never written, and each element is the same single product as NumPy's. The
    same pass gives that layer's gradients, ``dw = out^T d`` and ``dc = sum d`` (float64 sums),
    before ``out`` is overwritten."""
    n, m = out.shape
    acc = np.zeros(m, np.float64)
    acc_w = np.zeros(m, np.float64)
    acc_c = 0.0
    zero, one = out.dtype.type(0), out.dtype.type(1)
    for i in range(n):
        di, o = d[i, 0], out[i]
        acc_c += di
        for j in range(m):
            oj = o[j]
            acc_w[j] += oj * di
            v = (di * w[j]) * (one if oj > 0 else zero)
            o[j] = v
            acc[j] += v
    for j in range(m):
        db[j] = acc[j]
        dw[j] = acc_w[j]
    dc[0] = acc_c


# ---- softmax cross-entropy (gdlab.nn.losses.CrossEntropyLoss) ----------------------------------

@njit(cache=True)
def softmax_xent_(z, y, g, scale):
    """Softmax cross-entropy of the rows of logits ``z`` against int64 labels ``y``, in one
    pass: ``g = (softmax(z) - onehot(y)) * scale`` and ``(summed per-row losses, number of rows
    whose first largest logit is the label)``. ``scale`` (the arrays' dtype) is each row's share
    of the mean, ``1/n``. The same float operations as CrossEntropyLoss's NumPy code, with the
    library's exp and log (equal to rounding), and the losses summed in float64."""
    n, m = z.shape
    if m < 1:
        raise ValueError("z must have at least one column")
    if y.shape[0] != n or g.shape[0] != n or g.shape[1] != m:
        raise ValueError("y must have one label per row of z, and g the shape of z")
    for i in range(n):
        if y[i] < 0 or y[i] >= m:
            raise ValueError("a label is outside [0, n_classes)")
    total = 0.0
    hits = 0
    for i in range(n):
        row, out, t = z[i], g[i], y[i]
        top, arg = row[0], 0
        for j in range(1, m):
            if row[j] > top or (row[j] != row[j] and top == top):
                top, arg = row[j], j
        if arg == t:
            hits += 1
        picked = row[t] - top
        s = scale * 0
        for j in range(m):
            e = np.exp(row[j] - top)
            out[j] = e
            s += e
        total += np.log(s) - picked
        for j in range(m):
            q = out[j] / s
            if j == t:
                q = q - 1
            out[j] = q * scale
    return total, hits
