"""Schedules that follow a cosine or a cycle: cosine annealing, warm restarts (SGDR) and 1cycle."""

from __future__ import annotations

import math

from gdlab import _checks
from gdlab.schedules.base import Schedule


class CosineAnnealingLR(Schedule):
    r"""Cosine annealing, closed form (torch's recursive form agrees to ~1e-14):

    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi t / T_{max}))`.

    As in torch, past ``T_max`` the cosine continues (the rate rises again, period ``2 T_max``).
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = _checks.integer("T_max", T_max)
        self.eta_min = _checks.real("eta_min", eta_min, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * t / self.T_max)) / 2


class CosineAnnealingWarmRestarts(Schedule):
    r"""SGDR, cosine annealing with warm restarts.

    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi T_{cur}/T_i))`.

    :math:`T_{cur}` counts units since the last restart; cycle :math:`i` lasts
    :math:`T_i = T_0 \cdot T_{mult}^i` units.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0):
        self.T_0 = _checks.integer("T_0", T_0)
        self.T_mult = _checks.integer("T_mult", T_mult)
        self.eta_min = _checks.real("eta_min", eta_min, low=0.0)
        super().__init__(optimizer)

    def _cycle(self, t):
        if self.T_mult == 1:
            return t % self.T_0, self.T_0
        t_i = self.T_0
        while t >= t_i:  # integer arithmetic: exact, and only log(t) cycles
            t -= t_i
            t_i *= self.T_mult
        return t, t_i

    def lr_at(self, t):
        t_cur, t_i = self._cycle(t)
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * t_cur / t_i)) / 2


class OneCycleLR(Schedule):
    r"""1cycle (fastai's two phases, or three): anneal ``max_lr/div_factor`` -> ``max_lr`` over
    the first ``pct_start`` of ``total_steps``, then down to ``max_lr/div_factor/final_div_factor``.

    With :math:`a(s, e, p) = e + \tfrac12(s - e)(1 + \cos \pi p)` (``'cos'``) or
    :math:`s + (e - s)p` (``'linear'``), phase :math:`k` spanning steps
    :math:`(b_{k-1}, b_k]` gives :math:`\eta_t = a(s_k, e_k, (t - b_{k-1})/(b_k - b_{k-1}))`,
    with torch's phase ends :math:`b_1 = \text{pct\_start}\cdot N - 1`, :math:`b_2 = N - 1`.
    The optimizer's own ``lr`` is ignored (as in torch). Momentum is **not** cycled (torch's
    ``cycle_momentum=False``). Past ``total_steps`` the rate stays at its value at
    ``total_steps`` (torch raises instead).
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                 final_div_factor=1e4, three_phase=False):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
            total_steps = (_checks.integer("epochs", epochs)
                           * _checks.integer("steps_per_epoch", steps_per_epoch))
        self.total_steps = _checks.integer("total_steps", total_steps)
        self.max_lr = _checks.real("max_lr", max_lr, low=0.0, low_open=True)
        self.pct_start = _checks.real("pct_start", pct_start, low=0.0, high=1.0)
        self.anneal_strategy = _checks.choice("anneal_strategy", anneal_strategy, {"cos", "linear"})
        self.div_factor = _checks.real("div_factor", div_factor, low=0.0, low_open=True)
        self.final_div_factor = _checks.real("final_div_factor", final_div_factor, low=0.0,
                                       low_open=True)
        if not isinstance(three_phase, bool):
            raise ValueError(f"three_phase must be true or false, got {three_phase!r}")
        self.three_phase = three_phase
        self.base_lr = self.max_lr / self.div_factor
        lo, top, end = self.base_lr, self.max_lr, self.base_lr / self.final_div_factor
        n, p = self.total_steps, self.pct_start
        if three_phase:
            self._phases = [(p * n - 1, lo, top), (2 * p * n - 2, top, lo), (n - 1, lo, end)]
        else:
            self._phases = [(p * n - 1, lo, top), (n - 1, top, end)]
        super().__init__(optimizer)

    def lr_at(self, t):
        t = min(t, self.total_steps)
        begin = 0.0
        for i, (end_step, lo, hi) in enumerate(self._phases):
            if t <= end_step or i == len(self._phases) - 1:
                pct = (t - begin) / (end_step - begin)
                if self.anneal_strategy == "cos":
                    return hi + (lo - hi) / 2.0 * (math.cos(math.pi * pct) + 1)
                return (hi - lo) * pct + lo
            begin = end_step
        raise AssertionError("unreachable")
