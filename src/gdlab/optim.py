"""Gradient-descent optimizers on lists of NumPy arrays, from the simplest to the most complex.

Every optimizer follows PyTorch's ``torch.optim`` (constructor names, defaults, coupled or
decoupled weight decay, ``maximize``) and is tested against it. The contract:

* ``params`` is a list of floating arrays, updated **in place**; the maths runs in each
  array's own dtype (float32 stays float32), as torch does;
* ``opt.step(grads)`` takes the gradients in the same order; they are never modified;
* ``opt.lr`` may be read and set between steps (schedules do that);
* ``opt.state_dict()`` holds only JSON types and NumPy arrays, and ``load_state_dict``
  restores it so that training resumes bit for bit.

Notation in the update rules: :math:`\\theta` parameters, :math:`g_t` the gradient at step
:math:`t` (negated when ``maximize``), :math:`\\gamma` the learning rate, :math:`\\lambda` the
weight decay. "Coupled" weight decay means :math:`g_t \\leftarrow g_t + \\lambda\\theta_{t-1}`;
"decoupled" means :math:`\\theta_{t-1} \\leftarrow (1 - \\gamma\\lambda)\\theta_{t-1}` (AdamW).

The training loop passes one flat parameter vector and one flat gradient vector, so each
update is a handful of in-place ufuncs over preallocated scratch buffers: no allocation per step.
SGD, Adam and AdamW can also run that update as one compiled loop (``fast=``, gdlab.accel).
"""
from functools import partial
from math import sqrt

import numpy as np

from gdlab.adaptive import Adadelta, Adagrad, RMSprop
from gdlab.optimizer import (  # noqa: F401 - FAST_MIN_SIZE and Optimizer are public here too
    FAST_MIN_SIZE,
    Optimizer,
    _axpy,
    _betas,
    _ema_sq,
    _kernels,
    _lerp,
    _real,
)

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adamax", "Adam", "AdamW",
    "NAdam", "RAdam", "OPTIMIZERS", "make_optimizer",
]


# --- the algorithms, simplest first (Adagrad, RMSprop and Adadelta are in gdlab.adaptive) ---

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

    ``fast``: None (auto), True or False: the one-pass compiled kernel (:mod:`gdlab.accel`) for a
    single flat parameter vector (see ``_kernels``); it gives the same bits as the NumPy code.
    """

    _hyper = ("momentum", "dampening", "nesterov", "weight_decay", "maximize")

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, maximize=False, *, fast=None):
        super().__init__(params, lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay, maximize=maximize)
        self._kernels = _kernels(fast, self.params)
        self._empty = np.empty(0, self.params[0].dtype)

    def _set_hyper(self, *, momentum, dampening, nesterov, weight_decay, maximize):
        super()._set_hyper(weight_decay=weight_decay, maximize=maximize)
        self.momentum = _real("momentum", momentum, low=0.0)
        self.dampening = _real("dampening", dampening)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening = 0, got "
                             f"momentum={momentum!r}, dampening={dampening!r}")

    def _state_names(self):
        return ("momentum_buffer",) if self.momentum != 0.0 else ()

    def _update(self, i, p, g):
        if self._kernels is not None and g.flags.c_contiguous:
            t = p.dtype.type
            self._kernels.sgd_step(
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
                _axpy(buf, 1.0 - self.dampening, g, tmp)
            if self.nesterov:
                np.multiply(buf, self.momentum, out=tmp)
                tmp += g
                d = tmp
            else:
                d = buf
        _axpy(p, -self.lr, d, tmp)


class Adamax(Optimizer):
    r"""Adamax: Adam with the infinity norm in place of the second moment.

    .. math::
        g_t &\leftarrow g_t + \lambda\theta_{t-1}, \qquad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        u_t &= \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \qquad
        \theta_t = \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t} \frac{m_t}{u_t}

    Kingma & Ba (2015), "Adam: a method for stochastic optimization", section 7.1; as
    ``torch.optim.Adamax``.
    """

    _hyper = ("betas", "eps", "weight_decay", "maximize")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 maximize=False):
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         maximize=maximize)

    def _set_hyper(self, *, betas, eps, weight_decay, maximize):
        super()._set_hyper(weight_decay=weight_decay, maximize=maximize)
        self.betas = _betas(betas)
        self.eps = _real("eps", eps, low=0.0, low_open=True)

    def _state_names(self):
        return ("exp_avg", "exp_inf")

    def _update(self, i, p, g):
        g = self._grad(i, p, g)
        st, tmp = self.state[i], self._scratch[0][i]
        m, u = st["exp_avg"], st["exp_inf"]
        b1, b2 = self.betas
        _lerp(m, g, 1.0 - b1, tmp)
        u *= b2
        np.abs(g, out=tmp)
        tmp += self.eps
        np.maximum(u, tmp, out=u)
        np.divide(m, u, out=tmp)
        _axpy(p, -self.lr / (1.0 - b1 ** self.step_count), tmp, tmp)


class _AdamBase(Optimizer):
    """The parts Adam, NAdam and RAdam share: betas, eps, both moments, weight-decay mode."""

    def _set_hyper(self, *, betas, eps, weight_decay, maximize, decoupled_weight_decay=False):
        super()._set_hyper(weight_decay=weight_decay, maximize=maximize)
        self.betas = _betas(betas)
        self.eps = _real("eps", eps, low=0.0, low_open=True)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)

    @property
    def _coupled_decay(self):
        return not self.decoupled_weight_decay

    def _state_names(self):
        return ("exp_avg", "exp_avg_sq")

    def _moments(self, i, p, g):
        """Weight decay, then m_t and v_t; return (g_t, m_t, v_t)."""
        self._decay(p)
        g = self._grad(i, p, g)
        m, v = self.state[i]["exp_avg"], self.state[i]["exp_avg_sq"]
        tmp = self._scratch[0][i]
        b1, b2 = self.betas
        _lerp(m, g, 1.0 - b1, tmp)
        _ema_sq(v, g, b2, tmp)
        return g, m, v


class Adam(_AdamBase):
    r"""Adam (and AdamW with ``decoupled_weight_decay=True``), with the AMSGrad option.

    .. math::
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \text{ (AMSGrad)}, \quad \hat v_t = v_t
        \text{ (otherwise)} \\
        \theta_t &= \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
        \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    after coupled (:math:`g_t \leftarrow g_t + \lambda\theta_{t-1}`) or decoupled weight decay.
    Kingma & Ba (2015), "Adam: a method for stochastic optimization"; Reddi, Kale & Kumar
    (2018), "On the convergence of Adam and beyond" (AMSGrad); as ``torch.optim.Adam``.

    ``fast``: None (auto), True or False: the one-pass compiled kernel (:mod:`gdlab.accel`) for a
    single flat parameter vector (see ``_kernels``); it gives the same bits as the NumPy code.
    """

    _hyper = ("betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, decoupled_weight_decay=False, *, fast=None):
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize,
                         decoupled_weight_decay=decoupled_weight_decay)
        self._kernels = _kernels(fast, self.params)
        self._empty = np.empty(0, self.params[0].dtype)

    def _set_hyper(self, *, amsgrad, **hyper):
        super()._set_hyper(**hyper)
        self.amsgrad = bool(amsgrad)

    def _state_names(self):
        return super()._state_names() + (("max_exp_avg_sq",) if self.amsgrad else ())

    def _update(self, i, p, g):
        b1, b2 = self.betas
        t = self.step_count
        c2 = sqrt(1.0 - b2 ** t)
        if self._kernels is not None and g.flags.c_contiguous:
            st, f = self.state[0], p.dtype.type
            coupled = self._coupled_decay
            self._kernels.adam_step(
                p, g, st["exp_avg"], st["exp_avg_sq"], st.get("max_exp_avg_sq", self._empty),
                f(-1.0 if self.maximize else 1.0), f(self.weight_decay if coupled else 0.0),
                f(1.0 if coupled else 1.0 - self.lr * self.weight_decay), f(1.0 - b1), f(b2),
                f(1.0 - b2), f(self.eps * c2), f(-self.lr * c2 / (1.0 - b1 ** t)))
            return
        _, m, v = self._moments(i, p, g)
        tmp = self._scratch[0][i]
        if self.amsgrad:
            v = np.maximum(self.state[i]["max_exp_avg_sq"], v,
                           out=self.state[i]["max_exp_avg_sq"])
        # the rule's m / (sqrt(v) / c2 + eps) / c1 as c2 / c1 * m / (sqrt(v) + c2 eps): one
        # pass over the array fewer (Kingma & Ba, end of section 2)
        np.sqrt(v, out=tmp)
        tmp += self.eps * c2
        np.divide(m, tmp, out=tmp)
        _axpy(p, -self.lr * c2 / (1.0 - b1 ** t), tmp, tmp)


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, :math:`\theta \leftarrow (1 - \gamma\lambda)\theta`
    before the Adam step (see :class:`Adam` for the rule).

    Loshchilov & Hutter (2019), "Decoupled weight decay regularization"; as ``torch.optim.AdamW``.
    ``fast`` as for :class:`Adam`.
    """

    _hyper = ("betas", "eps", "weight_decay", "amsgrad", "maximize")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False, *, fast=None):
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True,
                         fast=fast)

    def _set_hyper(self, *, decoupled_weight_decay=True, **hyper):
        super()._set_hyper(**hyper, decoupled_weight_decay=True)


class NAdam(_AdamBase):
    r"""NAdam: Adam with Nesterov momentum and a momentum-decay schedule.

    .. math::
        \mu_t &= \beta_1\left(1 - \tfrac12\, 0.96^{t\psi}\right), \qquad
        P_t = \prod_{i \le t} \mu_i \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad
        d_t = \sqrt{v_t / (1 - \beta_2^t)} + \epsilon \\
        \theta_t &= \theta_{t-1} - \gamma\,\frac{1 - \mu_t}{1 - P_t}\,\frac{g_t}{d_t}
        - \gamma\,\frac{\mu_{t+1}}{1 - P_t\mu_{t+1}}\,\frac{m_t}{d_t}

    with momentum decay :math:`\psi`, after coupled or decoupled weight decay.
    Dozat (2016), "Incorporating Nesterov momentum into Adam"; as ``torch.optim.NAdam``.
    """

    _hyper = ("betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay",
              "maximize")
    _n_scratch = 2

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
        self.mu_product = 1.0
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay, maximize=maximize,
                         decoupled_weight_decay=decoupled_weight_decay)

    def _set_hyper(self, *, momentum_decay, **hyper):
        super()._set_hyper(**hyper)
        self.momentum_decay = _real("momentum_decay", momentum_decay, low=0.0)

    def _mu(self, t):
        return self.betas[0] * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def _update(self, i, p, g):
        t = self.step_count
        if i == 0:  # all parameters share one step count, hence one product
            self.mu_product *= self._mu(t)
        g, m, v = self._moments(i, p, g)
        d, tmp = self._scratch[0][i], self._scratch[1][i]
        np.divide(v, 1.0 - self.betas[1] ** t, out=d)
        np.sqrt(d, out=d)
        d += self.eps
        mu, mu_next, prod = self._mu(t), self._mu(t + 1), self.mu_product
        np.divide(g, d, out=tmp)
        _axpy(p, -self.lr * (1.0 - mu) / (1.0 - prod), tmp, tmp)
        np.divide(m, d, out=tmp)
        _axpy(p, -self.lr * mu_next / (1.0 - prod * mu_next), tmp, tmp)

    def _extra_state(self):
        return {"mu_product": self.mu_product}

    def _load_extra_state(self, d):
        self.mu_product = float(d["mu_product"])


class RAdam(_AdamBase):
    r"""RAdam: Adam whose adaptive step is switched on once its variance is tractable.

    .. math::
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \rho_\infty &= \frac{2}{1 - \beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}, \qquad
        r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}
        {(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}} \\
        \theta_t &= \theta_{t-1} - \gamma\,\frac{m_t}{1 - \beta_1^t}\, r_t\,
        \frac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon} \quad (\rho_t > 5), \qquad
        \theta_t = \theta_{t-1} - \gamma\,\frac{m_t}{1 - \beta_1^t} \quad \text{otherwise}

    after coupled or decoupled weight decay. Liu et al. (2020), "On the variance of the adaptive
    learning rate and beyond"; as ``torch.optim.RAdam``.
    """

    _hyper = ("betas", "eps", "weight_decay", "decoupled_weight_decay", "maximize")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False):
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)

    def _update(self, i, p, g):
        _, m, v = self._moments(i, p, g)
        tmp = self._scratch[0][i]
        b1, b2 = self.betas
        t = self.step_count
        bc1, bc2 = 1.0 - b1 ** t, 1.0 - b2 ** t
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * t * b2 ** t / bc2
        if rho_t > 5.0:
            rect = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            np.sqrt(v, out=tmp)
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            _axpy(p, -self.lr * rect * sqrt(bc2) / bc1, tmp, tmp)
        else:
            _axpy(p, -self.lr / bc1, m, tmp)


# --- names for the CLI and the estimators ----------------------------------------------------

OPTIMIZERS = {
    "sgd": SGD,
    "gd": SGD,
    "momentum": partial(SGD, momentum=0.9),
    "nesterov": partial(SGD, momentum=0.9, nesterov=True),
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adadelta": Adadelta,
    "adamax": Adamax,
    "adam": Adam,
    "adamw": AdamW,
    "nadam": NAdam,
    "radam": RAdam,
}


def make_optimizer(name, params, **kwargs):
    """Build the optimizer called ``name`` (a key of ``OPTIMIZERS``) over ``params``.

    ``kwargs`` are the class's constructor arguments; they override the presets of
    ``"momentum"`` and ``"nesterov"``.
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known names: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](params, **kwargs)
