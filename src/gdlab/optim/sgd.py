"""Stochastic gradient descent with (Nesterov) momentum: the rule every other optimizer refines.

See :mod:`gdlab.optim` for the common contract and the notation of the update rules.
"""

import numpy as np

from gdlab import _checks
from gdlab.optim.base import Optimizer, axpy_, kernel_takes, kernels_for


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional (Nesterov) momentum.

    .. math::
        g_t &\leftarrow g_t + \lambda\theta_{t-1} \\
        b_1 &= g_1,\quad b_t = \mu b_{t-1} + (1 - \tau) g_t \quad (t > 1) \\
        d_t &= g_t + \mu b_t \text{ (Nesterov)}, \quad d_t = b_t \text{ (otherwise)},
        \quad d_t = g_t \text{ if } \mu = 0 \\
        \theta_t &= \theta_{t-1} - \gamma d_t

    with momentum :math:`\mu` and dampening :math:`\tau`. Plain gradient descent when
    ``momentum=0``. Nesterov momentum as in Sutskever et al. (2013), "On the importance of
    initialization and momentum in deep learning", written as in ``torch.optim.SGD``.

    ``fast``: None (auto), True or False: the one-pass compiled kernel (:mod:`gdlab.kernels`)
    for a single flat parameter vector (see :func:`gdlab.optim.base.kernels_for`); it gives
    the same bits as the NumPy code.
    """

    _hyper = ("momentum", "dampening", "nesterov", "weight_decay", "maximize")
    has_kernel = True

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, maximize=False, *, fast=None):
        super().__init__(params, lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay, maximize=maximize)
        self.kernels = kernels_for(fast, self.params)
        self._empty = np.empty(0, self.params[0].dtype)

    def _set_hyper(self, *, momentum, dampening, nesterov, weight_decay, maximize):
        super()._set_hyper(weight_decay=weight_decay, maximize=maximize)
        self.momentum = _checks.non_negative("momentum", momentum)
        self.dampening = _checks.real("dampening", dampening)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening = 0, got "
                             f"momentum={momentum!r}, dampening={dampening!r}")

    def _state_names(self):
        return ("momentum_buffer",) if self.momentum != 0.0 else ()

    def _update(self, i, p, g):
        if self.kernels is not None and kernel_takes(p, g):
            t = p.dtype.type
            self.kernels.sgd_step(
                p, g, self.state[0].get("momentum_buffer", self._empty),
                t(-1.0 if self.maximize else 1.0), t(self.weight_decay), t(-self.lr),
                t(self.momentum), t(1.0 - self.dampening), self.step_count == 1, self.nesterov)
            return
        g = self._grad(i, p, g)
        tmp = self._scratch[0][i]
        d = g
        if self.momentum != 0.0:
            buf = self.state[i]["momentum_buffer"]
            if self.step_count == 1:
                np.copyto(buf, g)
            else:
                buf *= self.momentum
                axpy_(buf, 1.0 - self.dampening, g, tmp)
            if self.nesterov:
                np.multiply(buf, self.momentum, out=tmp)
                tmp += g
                d = tmp
            else:
                d = buf
        axpy_(p, -self.lr, d, tmp)
