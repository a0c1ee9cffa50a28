"""Adam and its relatives: Adamax, Adam (AMSGrad), AdamW, NAdam and RAdam, each tested against
its ``torch.optim`` twin. See :mod:`gdlab.optim` for the common contract and notation.
"""

from math import sqrt

import numpy as np

from gdlab import _checks
from gdlab.optim.base import Optimizer, axpy_, check_betas, ema_, ema_of_squares_, kernel_takes, kernels_for


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
        self.betas = check_betas(betas)
        self.eps = _checks.positive("eps", eps)

    def _state_names(self):
        return ("exp_avg", "exp_inf")

    def _update(self, i, p, g):
        g = self._grad(i, p, g)
        st, tmp = self.state[i], self._scratch[0][i]
        m, u = st["exp_avg"], st["exp_inf"]
        b1, b2 = self.betas
        ema_(m, g, 1.0 - b1, tmp)
        u *= b2
        np.abs(g, out=tmp)
        tmp += self.eps
        np.maximum(u, tmp, out=u)
        np.divide(m, u, out=tmp)
        axpy_(p, -self.lr / (1.0 - b1 ** self.step_count), tmp, tmp)


class _AdamBase(Optimizer):
    """The parts Adam, NAdam and RAdam share: betas, eps, both moments, weight-decay mode."""

    def _set_hyper(self, *, betas, eps, weight_decay, maximize, decoupled_weight_decay=False):
        super()._set_hyper(weight_decay=weight_decay, maximize=maximize)
        self.betas = check_betas(betas)
        self.eps = _checks.positive("eps", eps)
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
        ema_(m, g, 1.0 - b1, tmp)
        ema_of_squares_(v, g, b2, tmp)
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

    ``fast``: None (auto), True or False: the one-pass compiled kernel (:mod:`gdlab.kernels`)
    for a single flat parameter vector (see :func:`gdlab.optim.base.kernels_for`); it gives
    the same bits as the NumPy code.
    """

    _hyper = ("betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")
    has_kernel = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, decoupled_weight_decay=False, *, fast=None):
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize,
                         decoupled_weight_decay=decoupled_weight_decay)
        self.kernels = kernels_for(fast, self.params)
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
        if self.kernels is not None and kernel_takes(p, g):
            st, f = self.state[0], p.dtype.type
            coupled = self._coupled_decay
            self.kernels.adam_step(
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
        axpy_(p, -self.lr * c2 / (1.0 - b1 ** t), tmp, tmp)


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
        self.momentum_decay = _checks.non_negative("momentum_decay", momentum_decay)

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
        axpy_(p, -self.lr * (1.0 - mu) / (1.0 - prod), tmp, tmp)
        np.divide(m, d, out=tmp)
        axpy_(p, -self.lr * mu_next / (1.0 - prod * mu_next), tmp, tmp)

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
            axpy_(p, -self.lr * rect * sqrt(bc2) / bc1, tmp, tmp)
        else:
            axpy_(p, -self.lr / bc1, m, tmp)
