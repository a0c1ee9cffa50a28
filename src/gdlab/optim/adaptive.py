"""The per-coordinate learning-rate methods: Adagrad, RMSprop and Adadelta.

Each scales its step, coordinate by coordinate, by a running record of past squared gradients
(its sum, or a moving average), as ``torch.optim`` does; see :mod:`gdlab.optim` for the
common contract and notation.
"""

import numpy as np

from gdlab import _checks
from gdlab.optim.base import Optimizer, axpy_, ema_, ema_of_squares_


class Adagrad(Optimizer):
    r"""Adagrad: per-coordinate step sizes from the sum of squared gradients.

    .. math::
        g_t &\leftarrow g_t + \lambda\theta_{t-1}, \qquad
        \tilde\gamma_t = \gamma / (1 + (t - 1)\eta) \\
        s_t &= s_{t-1} + g_t^2 \quad (s_0 = \text{initial\_accumulator\_value}) \\
        \theta_t &= \theta_{t-1} - \tilde\gamma_t \, g_t / (\sqrt{s_t} + \epsilon)

    with learning-rate decay :math:`\eta`. Duchi, Hazan & Singer (2011), "Adaptive subgradient
    methods for online learning and stochastic optimization", JMLR 12; as ``torch.optim.Adagrad``.
    """

    _hyper = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize")

    def __init__(self, params, lr=0.01, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False):
        super().__init__(params, lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps,
                         maximize=maximize)

    def _set_hyper(self, *, lr_decay, weight_decay, initial_accumulator_value, eps, maximize):
        super()._set_hyper(weight_decay=weight_decay, maximize=maximize)
        self.lr_decay = _checks.non_negative("lr_decay", lr_decay)
        self.initial_accumulator_value = _checks.non_negative("initial_accumulator_value",
                                                              initial_accumulator_value)
        self.eps = _checks.positive("eps", eps)

    def _state_names(self):
        return ("sum",)

    def _initial_value(self, name):
        return self.initial_accumulator_value

    def _update(self, i, p, g):
        g = self._grad(i, p, g)
        s, tmp = self.state[i]["sum"], self._scratch[0][i]
        clr = self.lr / (1.0 + (self.step_count - 1) * self.lr_decay)
        np.multiply(g, g, out=tmp)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        axpy_(p, -clr, tmp, tmp)


class RMSprop(Optimizer):
    r"""RMSprop: divide the gradient by a moving root mean square of recent gradients.

    .. math::
        g_t &\leftarrow g_t + \lambda\theta_{t-1}, \qquad
        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2 \\
        \bar g_t &= \alpha \bar g_{t-1} + (1 - \alpha) g_t, \quad
        \tilde v_t = v_t - \bar g_t^2 \text{ (centered)}, \quad
        \tilde v_t = v_t \text{ (otherwise)} \\
        b_t &= \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon), \quad \theta_t = \theta_{t-1}
        - \gamma b_t \quad (\mu > 0) \\
        \theta_t &= \theta_{t-1} - \gamma g_t / (\sqrt{\tilde v_t} + \epsilon) \quad (\mu = 0)

    Hinton, "Neural Networks for Machine Learning", lecture 6e (2012); centered variant from
    Graves (2013), "Generating sequences with recurrent neural networks";
    as ``torch.optim.RMSprop``.
    """

    _hyper = ("alpha", "eps", "weight_decay", "momentum", "centered", "maximize")

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        super().__init__(params, lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered, maximize=maximize)

    def _set_hyper(self, *, alpha, eps, weight_decay, momentum, centered, maximize):
        super()._set_hyper(weight_decay=weight_decay, maximize=maximize)
        self.alpha = _checks.real("alpha", alpha, low=0.0, high=1.0)
        self.eps = _checks.positive("eps", eps)
        self.momentum = _checks.non_negative("momentum", momentum)
        self.centered = bool(centered)

    def _state_names(self):
        return (("square_avg",) + (("grad_avg",) if self.centered else ())
                + (("momentum_buffer",) if self.momentum > 0.0 else ()))

    def _update(self, i, p, g):
        g = self._grad(i, p, g)
        st, tmp = self.state[i], self._scratch[0][i]
        v = st["square_avg"]
        ema_of_squares_(v, g, self.alpha, tmp)
        if self.centered:
            ga = st["grad_avg"]
            ema_(ga, g, 1.0 - self.alpha, tmp)
            np.multiply(ga, ga, out=tmp)
            np.subtract(v, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum > 0.0:
            buf = st["momentum_buffer"]
            buf *= self.momentum
            buf += tmp
            axpy_(p, -self.lr, buf, tmp)
        else:
            axpy_(p, -self.lr, tmp, tmp)


class Adadelta(Optimizer):
    r"""Adadelta: step sizes from the ratio of moving RMS of updates and of gradients.

    .. math::
        g_t &\leftarrow g_t + \lambda\theta_{t-1}, \qquad
        v_t = \rho v_{t-1} + (1 - \rho) g_t^2 \\
        \Delta_t &= \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t, \qquad
        u_t = \rho u_{t-1} + (1 - \rho)\Delta_t^2 \\
        \theta_t &= \theta_{t-1} - \gamma \Delta_t

    Zeiler (2012), "ADADELTA: an adaptive learning rate method", arXiv:1212.5701; as
    ``torch.optim.Adadelta``.
    """

    _hyper = ("rho", "eps", "weight_decay", "maximize")
    _n_scratch = 2

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        super().__init__(params, lr, rho=rho, eps=eps, weight_decay=weight_decay,
                         maximize=maximize)

    def _set_hyper(self, *, rho, eps, weight_decay, maximize):
        super()._set_hyper(weight_decay=weight_decay, maximize=maximize)
        self.rho = _checks.real("rho", rho, low=0.0, high=1.0)
        self.eps = _checks.positive("eps", eps)

    def _state_names(self):
        return ("square_avg", "acc_delta")

    def _update(self, i, p, g):
        g = self._grad(i, p, g)
        st, tmp, delta = self.state[i], self._scratch[0][i], self._scratch[1][i]
        v, u = st["square_avg"], st["acc_delta"]
        ema_of_squares_(v, g, self.rho, tmp)
        np.add(v, self.eps, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.add(u, self.eps, out=delta)
        np.sqrt(delta, out=delta)
        delta /= tmp
        delta *= g
        ema_of_squares_(u, delta, self.rho, tmp)
        axpy_(p, -self.lr, delta, delta)
