"""Inverted dropout, with the semantics of ``torch.nn.Dropout`` (PyTorch is the oracle for
its numbers); backward reuses the mask that forward drew."""

from __future__ import annotations

import numpy as np

from gdlab import _checks
from gdlab.nn.layers import Layer


class Dropout(Layer):
    r"""Inverted dropout (Srivastava et al., 2014), as ``torch.nn.Dropout``.

    In training mode each element is kept with probability :math:`1 - p` and scaled by
    :math:`1 / (1 - p)`, so that its expectation is unchanged; the others are set to 0:

    .. math::
        y = \frac{m \odot x}{1 - p}, \quad m_{ij} \sim \text{Bernoulli}(1 - p), \qquad
        \frac{\partial L}{\partial x} = \frac{m \odot g}{1 - p}

    In evaluation mode, and when ``p == 0``, it is the identity (and draws no random numbers).
    The mask comes from ``self.rng``, a ``numpy.random.Generator`` that :class:`gdlab.Sequential`
    assigns from its seed; the uniform draws are float32 whatever the network's dtype, so a
    float32 network and its float64 clone drop the same elements.
    """

    stochastic = True

    def __init__(self, p: float = 0.5):
        self.p = _checks.fraction("p", p)
        self.rng = None
        self._mask = None

    def forward(self, X, training=True):
        if not training or self.p == 0.0:
            self._mask = None
            return X
        if self.rng is None:
            raise RuntimeError(
                "Dropout has no random generator: use it inside gdlab.Sequential, or set "
                "layer.rng = numpy.random.default_rng(seed)"
            )
        keep = self.rng.random(X.shape, dtype=np.float32) >= self.p
        mask = keep.astype(X.dtype)
        mask *= 1.0 / (1.0 - self.p)
        self._mask = mask
        return X * mask

    def backward(self, grad, need_input_grad=True):
        if not need_input_grad:
            return None
        if self._mask is None:
            return grad
        return grad * self._mask

    def __repr__(self):
        return f"Dropout(p={self.p})"
