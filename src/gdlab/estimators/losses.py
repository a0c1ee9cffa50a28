"""The losses of scikit-learn's MLP in its scaling: summed over outputs, averaged over samples,
the squared error halved; and the half Poisson deviance with a log link."""

from __future__ import annotations

import numpy as np

from gdlab.nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, Loss, MSELoss


class SumOverOutputs:
    """Mixin: ``factor`` times a gdlab loss. gdlab's losses average over every element;
    scikit-learn's MLP sums over outputs and averages over samples (and halves its squared
    error): for ``k`` outputs that is ``factor = k`` (``k / 2`` for the squared error). The
    subclasses stay instances of the gdlab loss, so the training loop checks targets as usual."""

    factor = 1.0

    def compute(self, output, y, sample_weight=None, need_grad=True):
        value, grad = super().compute(output, y, sample_weight, need_grad)
        if grad is not None:
            grad *= self.factor
        return value * self.factor, grad

    def __repr__(self):
        return f"{self.factor:g} * {super().__repr__()}"


class _SummedMSE(SumOverOutputs, MSELoss):
    pass


class _SummedL1(SumOverOutputs, L1Loss):
    pass


class _SummedHuber(SumOverOutputs, HuberLoss):
    pass


class _SummedBCE(SumOverOutputs, BCEWithLogitsLoss):
    pass


class _PoissonLogLink(Loss):
    """scikit-learn's half Poisson deviance with a log link, on ``z = log(prediction)``:
    ``l = y log(y / e^z) - y + e^z`` per output, summed over outputs and averaged over samples
    (weighted by ``sample_weight``); ``dl/dz = e^z - y``."""

    def compute(self, output, y, sample_weight=None, need_grad=True):
        mu = np.exp(output)
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0)
        elem = ylogy - y * output - y + mu
        n = output.shape[0]
        w = None if sample_weight is None else sample_weight / sample_weight.sum()
        value = float(elem.sum()) / n if w is None else float(elem.sum(axis=1) @ w)
        if not need_grad:
            return value, None
        grad = mu - y
        grad *= (1.0 / n) if w is None else w[:, None].astype(grad.dtype)
        return value, grad.astype(output.dtype, copy=False)


def make_loss(kind, n_outputs):
    """The training loss for the output ``kind`` in scikit-learn's scaling.

    kind: "multiclass" (softmax + cross-entropy on labels), "logistic" (binary and multilabel:
    sigmoid + binary cross-entropy on indicators), or a regression loss name.
    """
    if kind == "multiclass":
        return CrossEntropyLoss()
    if kind == "poisson":
        return _PoissonLogLink()
    cls, factor = {
        "logistic": (_SummedBCE, n_outputs),
        "squared_error": (_SummedMSE, n_outputs / 2.0),
        "absolute_error": (_SummedL1, n_outputs),
        "huber": (_SummedHuber, n_outputs),
    }[kind]
    loss = cls()
    loss.factor = float(factor)
    return loss
