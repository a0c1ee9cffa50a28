"""Schedules that decay the rate by a closed-form rule of the unit count ``t``: step, multi-step,
exponential, inverse scaling (scikit-learn's ``invscaling``) and polynomial."""

from __future__ import annotations

from bisect import bisect_right

from gdlab import _checks
from gdlab.schedules.base import Schedule


class StepLR(Schedule):
    r"""Decay by ``gamma`` every ``step_size`` units.

    :math:`\eta_t = \eta_0\,\gamma^{\lfloor t/s \rfloor}` with :math:`s` = ``step_size``.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = _checks.integer("step_size", step_size)
        self.gamma = _checks.real("gamma", gamma, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class MultiStepLR(Schedule):
    r"""Decay by ``gamma`` at each milestone.

    :math:`\eta_t = \eta_0\,\gamma^{|\{m_i \le t\}|}`.

    A milestone listed twice decays twice, as in torch.
    """

    def __init__(self, optimizer, milestones, gamma=0.1):
        if isinstance(milestones, int) and not isinstance(milestones, bool):
            milestones = [milestones]
        if not isinstance(milestones, (list, tuple)) or not milestones:
            raise ValueError(f"milestones must be a non-empty list of integers, got {milestones!r}")
        self.milestones = sorted(_checks.integer("milestones", m) for m in milestones)
        self.gamma = _checks.real("gamma", gamma, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** bisect_right(self.milestones, t)


class ExponentialLR(Schedule):
    r"""Decay by ``gamma`` every unit: :math:`\eta_t = \eta_0\,\gamma^t`."""

    def __init__(self, optimizer, gamma):
        self.gamma = _checks.real("gamma", gamma, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** t


class InverseScalingLR(Schedule):
    r"""scikit-learn's ``invscaling``: :math:`\eta_t = \eta_0 / (t + 1)^{p}`, ``p = power_t``.

    scikit-learn's MLP passes :math:`t` = number of training samples seen so far; call
    ``step(t=n_samples_seen)`` to do the same, or ``step()`` to count units.
    """

    def __init__(self, optimizer, power_t=0.5):
        self.power_t = _checks.real("power_t", power_t, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr / (t + 1) ** self.power_t

    def step(self, t=None) -> None:
        """Advance one unit, or jump to the explicit time ``t`` (an integer >= 0)."""
        if t is None:
            self.last_epoch += 1
        else:
            self.last_epoch = _checks.integer("t", t, low=0)
        self._apply()


class PolynomialLR(Schedule):
    r"""Polynomial decay to zero.

    :math:`\eta_t = \eta_0 (1 - \min(t, T)/T)^{p}`, ``T = total_iters``."""

    def __init__(self, optimizer, total_iters=5, power=1.0):
        self.total_iters = _checks.integer("total_iters", total_iters)
        self.power = _checks.real("power", power, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * (1.0 - min(self.total_iters, t) / self.total_iters) ** self.power
