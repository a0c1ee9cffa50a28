"""The L2 penalty on a network's weight matrices, scikit-learn's ``alpha``: written once, used by
the training loop, the estimators' L-BFGS solver and the final loss a run reports.

For a batch whose samples weigh ``s`` in total (their number, or the sum of their sample
weights), the objective gains

.. math::
    \\frac{\\alpha}{2 s} \\sum_\\ell \\|W_\\ell\\|_F^2, \\qquad
    \\frac{\\partial}{\\partial W_\\ell} = \\frac{\\alpha}{s} W_\\ell

over the parameters that layers declare ``penalized`` (Dense's ``W``): found by what they are,
never by their names; biases and BatchNorm's ``gamma``/``beta`` are left alone.
"""

from __future__ import annotations

import numpy as np

from gdlab import _checks


class L2Penalty:
    """The penalty of ``alpha`` over the weight matrices of ``net`` (views of its flat buffers)."""

    def __init__(self, net, alpha: float):
        self.alpha = _checks.non_negative("alpha", alpha)
        flat_p, flat_g = net.flat_parameters, net.flat_gradients
        self._tmp = np.empty_like(flat_p) if self.alpha > 0 else None
        self._views = [(flat_p[s], flat_g[s], self._tmp[s])
                       for s in net.penalized_slices()] if self.alpha > 0 else []

    def __bool__(self):
        return bool(self._views)

    def value(self, total_weight: float) -> float:
        """``alpha / (2 s) * sum ||W||^2`` for a batch of total weight ``s``."""
        if not self._views:
            return 0.0
        c = self.alpha / total_weight
        return 0.5 * c * sum(float(np.dot(w, w)) for w, _, _ in self._views)

    def add_to_gradients(self, total_weight: float) -> float:
        """Add ``alpha W / s`` to the weight gradients in place; return :meth:`value`."""
        if not self._views:
            return 0.0
        c = self.alpha / total_weight
        sq = 0.0
        for w, g, tmp in self._views:
            sq += float(np.dot(w, w))
            np.multiply(w, c, out=tmp)
            g += tmp
        return 0.5 * c * sq
