"""Losses: the value and its gradient with respect to the network's output.

Each loss is a callable ``loss(output, y) -> float`` reduced as PyTorch's loss of the same
name reduces by default (the mean), with ``loss.grad(output, y)`` the gradient of exactly
that value and ``loss.value_and_grad(output, y)`` both from one pass. An optional
``sample_weight`` of shape ``(n,)`` turns the mean over samples into a weighted mean,
``sum_i w_i l_i / sum_i w_i`` (scikit-learn's convention).

``loss(output, y)``, ``grad`` and ``value_and_grad`` check shapes and labels; the training
loop, which has validated its data once, calls :meth:`Loss.compute`, the same numbers without
the checks.
"""

from __future__ import annotations

import numpy as np

from gdlab import _checks


class Loss:
    """Base class: subclasses implement :meth:`compute` and may extend ``_check``."""

    def __call__(self, output, y, sample_weight=None) -> float:
        output, y, sample_weight = self._check(output, y, sample_weight)
        return self.compute(output, y, sample_weight, need_grad=False)[0]

    def grad(self, output, y, sample_weight=None) -> np.ndarray:
        output, y, sample_weight = self._check(output, y, sample_weight)
        return self.compute(output, y, sample_weight, need_grad=True)[1]

    def value_and_grad(self, output, y, sample_weight=None) -> tuple[float, np.ndarray]:
        output, y, sample_weight = self._check(output, y, sample_weight)
        return self.compute(output, y, sample_weight, need_grad=True)

    def compute(self, output, y, sample_weight=None, need_grad=True):
        """``(value, gradient)`` of the loss on arrays already checked: the training loop's
        call, one pass for both. ``output`` is a float (n, k) array; ``y`` the target in the
        form :meth:`value_and_grad` accepts, converted (int64 labels, or floats of the output's
        dtype and shape); ``sample_weight`` None or a non-negative (n,) array of the output's
        dtype with a positive sum. The gradient is None when ``need_grad`` is false."""
        raise NotImplementedError

    def supports_fused_counting(self) -> bool:
        """Whether :meth:`compute_counting` gives this loss's value and gradient together with
        the number of correct predictions, in one compiled pass (a declared capability: only
        the plain softmax cross-entropy has it)."""
        return False

    def _check(self, output, y, sample_weight):
        output = _as_float_2d(output, "output")
        y = np.asarray(y)
        if y.shape[:1] != output.shape[:1]:
            raise ValueError(
                f"y has {y.shape[0] if y.ndim else 'no'} samples but output has "
                f"{output.shape[0]}; lengths must match"
            )
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=output.dtype)
            if sample_weight.shape != (output.shape[0],):
                raise ValueError(
                    f"sample_weight must have shape ({output.shape[0]},), got {sample_weight.shape}"
                )
            if np.any(sample_weight < 0) or not sample_weight.sum() > 0:
                raise ValueError("sample_weight must be non-negative with a positive sum")
        return output, y, sample_weight

    def __getstate__(self):
        # work arrays are scratch: copies and pickles leave them behind
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_work_")}

    def __repr__(self):
        return f"{type(self).__name__}()"


def _as_float_2d(a, name):
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array, got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_outputs), got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    return a


def _same_shape_target(output, y):
    if y.dtype.kind not in "fiub":
        raise TypeError(f"y must be numeric, got dtype {y.dtype}")
    if y.shape != output.shape:
        raise ValueError(
            f"y has shape {y.shape} but output has shape {output.shape}; they must match "
            "(nothing is broadcast: reshape y, e.g. y.reshape(-1, 1))"
        )
    return y.astype(output.dtype, copy=False)


def _row_weights(n, dtype, sample_weight):
    """Per-row factors w_i / sum(w) that turn per-sample losses into the reduced mean."""
    if sample_weight is None:
        return None
    return (sample_weight / sample_weight.sum()).astype(dtype, copy=False)


class _ElementwiseLoss(Loss):
    """Losses that compare output and target elementwise and reduce by the mean."""

    def _check(self, output, y, sample_weight):
        output, y, sample_weight = super()._check(output, y, sample_weight)
        return output, _same_shape_target(output, y), sample_weight

    def compute(self, output, y, sample_weight=None, need_grad=True):
        d = output - y
        elem, delem = self._elementwise(d, need_grad)
        n, k = output.shape
        w = _row_weights(n, output.dtype, sample_weight)
        if w is None:
            value = float(elem.sum()) / elem.size
            scale = output.dtype.type(1.0 / elem.size)
        else:
            value = float(elem.sum(axis=1) @ w) / k
            scale = (w / k)[:, None]
        if not need_grad:
            return value, None
        delem *= scale
        return value, delem


class MSELoss(_ElementwiseLoss):
    """Mean squared error ``L = mean((output - y)^2)``; ``dL/doutput = 2 (output - y) / N``."""

    def _elementwise(self, d, need_grad):
        return d * d, (2 * d if need_grad else None)


class L1Loss(_ElementwiseLoss):
    """Mean absolute error ``L = mean(|output - y|)``; gradient ``sign(output - y) / N``."""

    def _elementwise(self, d, need_grad):
        return np.abs(d), (np.sign(d) if need_grad else None)


class HuberLoss(_ElementwiseLoss):
    """Huber loss (PyTorch's): ``0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``."""

    def __init__(self, delta: float = 1.0):
        self.delta = _checks.positive("delta", delta)

    def _elementwise(self, d, need_grad):
        a = np.abs(d)
        small = a < self.delta
        elem = np.where(small, 0.5 * d * d, self.delta * (a - 0.5 * self.delta))
        grad = np.where(small, d, self.delta * np.sign(d)) if need_grad else None
        return elem, grad

    def __repr__(self):
        return f"HuberLoss(delta={self.delta})"


class CrossEntropyLoss(Loss):
    """Softmax and cross-entropy fused, on logits ``z`` (n, C) and labels in ``[0, C)``.

    ``l_i = logsumexp(z_i) - z_{i, y_i}``, computed as ``log sum exp(z_i - max z_i) - (z_{i,y_i}
    - max z_i)`` so that logits of any magnitude stay finite. The reduction is the mean, or with
    class weights ``weight`` (PyTorch's) the weighted mean ``sum_i w_{y_i} l_i / sum_i w_{y_i}``.

    Gradient: ``dL/dz_i = (softmax(z_i) - onehot(y_i)) * r_i`` where ``r_i`` is sample i's share
    of the reduction (``1/n`` for the plain mean).
    """

    def __init__(self, weight=None):
        if weight is not None:
            weight = np.asarray(weight, dtype=np.float64)
            if weight.ndim != 1 or np.any(weight < 0) or not np.all(np.isfinite(weight)):
                raise ValueError("weight must be a 1-D array of non-negative finite class weights")
        self.weight = weight

    def _check(self, output, y, sample_weight):
        output, y, sample_weight = super()._check(output, y, sample_weight)
        if y.dtype.kind not in "iu":
            raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D class labels, got shape {y.shape}")
        n_classes = output.shape[1]
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            bad = y[(y < 0) | (y >= n_classes)][0]
            raise ValueError(f"label {bad} is outside [0, {n_classes}) for {n_classes} classes")
        if self.weight is not None and self.weight.shape[0] != n_classes:
            raise ValueError(
                f"weight has {self.weight.shape[0]} entries but output has {n_classes} classes"
            )
        return output, y, sample_weight

    def compute(self, output, y, sample_weight=None, need_grad=True):
        # One temporary, the logits transposed to (C, n): NumPy reduces across the C rows of
        # that layout several times faster than along short rows of the (n, C) one. It turns in
        # place from z into exp(z), the softmax and the gradient, returned as its (n, C) view.
        n = output.shape[0]
        rows = self._rows(n)
        zt = output.T.copy()  # C order (a copy even where output.T is already contiguous)
        zt -= np.maximum.reduce(zt, axis=0)
        picked = zt[y, rows]
        e = np.exp(zt, out=zt)
        sums = np.add.reduce(e, axis=0)
        per_sample = np.log(sums)
        per_sample -= picked
        r = self._row_shares(y, sample_weight, output.dtype)
        value = float(np.add.reduce(per_sample)) / n if r is None else float(per_sample @ r)
        if not need_grad:
            return value, None
        e /= sums
        e[y, rows] -= 1
        e *= (1.0 / n) if r is None else r
        return value, e.T

    #: the class's declaration that :meth:`compute_counting` computes what :meth:`compute` does;
    #: a subclass that overrides ``compute`` declares False unless it sets this itself
    fused_counting = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "compute" in vars(cls) and "fused_counting" not in vars(cls):
            cls.fused_counting = False

    def supports_fused_counting(self) -> bool:
        """True for the class's declaration and no class weights."""
        return self.fused_counting and self.weight is None

    def compute_counting(self, output, y, kernels):
        """``compute(output, y)`` and the number of rows whose largest logit is the label
        (:func:`gdlab.training.metrics.correct`) in one compiled pass of ``kernels``
        (:mod:`gdlab.kernels`): a training step's loss, for int64 labels and no weights, where
        :meth:`supports_fused_counting` holds. Equal to the NumPy code to rounding (the
        library's exp and log; the losses summed in float64). Returns ``(value, gradient,
        hits)``; the gradient is a work array of the loss, overwritten by the next call."""
        n = output.shape[0]
        g = self.__dict__.get("_work_grad")
        if g is None or g.shape != output.shape or g.dtype != output.dtype:
            g = self._work_grad = np.empty(output.shape, output.dtype)
        total, hits = kernels.softmax_xent_(output, y, g, output.dtype.type(1.0 / n))
        return total / n, g, float(hits)

    def _rows(self, n):
        """``arange(n)``, kept between calls of the same batch size."""
        rows = self.__dict__.get("_rows_cache")
        if rows is None or rows.shape[0] != n:
            rows = self._rows_cache = np.arange(n)
        return rows

    def _row_shares(self, y, sample_weight, dtype):
        if self.weight is None and sample_weight is None:
            return None
        w = np.ones(y.shape[0]) if self.weight is None else self.weight[y]
        if sample_weight is not None:
            w = w * sample_weight
        total = w.sum()
        if not total > 0:
            raise ValueError("the class/sample weights of this batch sum to zero")
        return (w / total).astype(dtype, copy=False)

    def __repr__(self):
        return "CrossEntropyLoss()" if self.weight is None else "CrossEntropyLoss(weight=...)"


class BCEWithLogitsLoss(Loss):
    """Sigmoid and binary cross-entropy fused, on logits ``x`` with targets ``y`` in [0, 1].

    ``l = max(x, 0) - x y + log(1 + exp(-|x|))`` (stable for any ``x``), reduced by the mean
    over all elements; ``dl/dx = sigmoid(x) - y``.
    """

    def _check(self, output, y, sample_weight):
        output, y, sample_weight = super()._check(output, y, sample_weight)
        return output, _same_shape_target(output, y), sample_weight

    def compute(self, output, y, sample_weight=None, need_grad=True):
        x = output
        e = np.exp(-np.abs(x))
        elem = np.maximum(x, 0) - x * y + np.log1p(e)
        n, k = x.shape
        w = _row_weights(n, x.dtype, sample_weight)
        value = float(elem.mean()) if w is None else float(elem.sum(axis=1) @ w) / k
        if not need_grad:
            return value, None
        sig = np.where(x >= 0, 1.0, e) / (1.0 + e)
        grad = sig - y
        grad *= (1.0 / elem.size) if w is None else (w / k)[:, None]
        return value, grad.astype(x.dtype, copy=False)


LOSSES = {
    "mse": MSELoss,
    "squared_error": MSELoss,
    "l1": L1Loss,
    "absolute_error": L1Loss,
    "huber": HuberLoss,
    "cross_entropy": CrossEntropyLoss,
    "bce_with_logits": BCEWithLogitsLoss,
}


def get_loss(name) -> Loss:
    """A fresh loss for ``name``; raise ValueError for unknown names."""
    if isinstance(name, Loss):
        return name
    if not isinstance(name, str):
        raise TypeError(f"loss must be a gdlab loss or its name, got {type(name).__name__}")
    return LOSSES[_checks.choice("loss", name, LOSSES)]()
