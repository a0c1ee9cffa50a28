r"""Learning-rate schedules that drive an optimizer's ``lr``, after ``torch.optim.lr_scheduler``.

A schedule wraps any object with a settable ``lr`` attribute (every gdlab optimizer)::

    opt = Adam([w], lr=0.1)
    sched = CosineAnnealingLR(opt, T_max=50)
    for epoch in range(50):
        ...                # optimizer steps
        sched.step()       # sets opt.lr for the next unit

The base learning rate :math:`\eta_0` is read from ``opt.lr`` when the schedule is built, and
the schedule sets ``opt.lr = lr(0)`` at once, as torch does. ``step()`` advances one *unit*
(:math:`t \to t + 1`); the training loop decides whether a unit is an optimizer step or an
epoch. ``ReduceLROnPlateau.step(metric)`` takes the monitored value instead (see
:func:`is_plateau`).

Every schedule except the plateau one is computed in *closed form* from :math:`t`, so a
checkpoint needs only :math:`t` and resuming is exact. Torch updates some schedules
recursively (``lr *= ratio``); the two agree to a few ulps (tests check 1e-12 relative).
Argument names and defaults are torch's.
"""

from __future__ import annotations

import math
from bisect import bisect_right

__all__ = [
    "Schedule", "ConstantSchedule", "StepLR", "MultiStepLR", "ExponentialLR",
    "InverseScalingLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
    "LinearWarmup", "OneCycleLR", "ReduceLROnPlateau", "make_schedule",
    "is_plateau",
]


def _int(name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _float(name, value, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value


class Schedule:
    """Base class: ``lr_at(t)`` gives the rate after ``t`` calls to ``step()``."""

    needs_metric = False

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError("optimizer must have an 'lr' attribute, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if not hasattr(self, "base_lr"):
            self.base_lr = _float("optimizer.lr", optimizer.lr, low=0.0)
        self.last_epoch = 0
        self._apply()

    def lr_at(self, t: int) -> float:
        raise NotImplementedError

    def _apply(self):
        self._last_lr = float(self.lr_at(self.last_epoch))
        self.optimizer.lr = self._last_lr

    def step(self) -> None:
        """Advance one unit and set ``optimizer.lr``."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The rate set by the last ``step()`` (a list of one float, like torch)."""
        return [self._last_lr]

    def _extra_state(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        """The schedule's state, JSON types only."""
        return {"type": type(self).__name__, "base_lr": self.base_lr,
                "last_epoch": self.last_epoch, "last_lr": self._last_lr, **self._extra_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict` and set ``optimizer.lr`` to its last rate."""
        if not isinstance(state, dict) or state.get("type") != type(self).__name__:
            found = state.get("type") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state_dict is for {found!r}, not {type(self).__name__!r}")
        missing = [k for k in self.state_dict() if k not in state]
        if missing:
            raise ValueError(f"state_dict lacks {missing}")
        self.base_lr = float(state["base_lr"])
        self.last_epoch = int(state["last_epoch"])
        self._load_extra(state)
        self._last_lr = float(state["last_lr"])
        self.optimizer.lr = self._last_lr

    def _load_extra(self, state: dict) -> None:
        pass


class ConstantSchedule(Schedule):
    r"""No change: :math:`\eta_t = \eta_0`."""

    def lr_at(self, t):
        return self.base_lr


class StepLR(Schedule):
    r"""Decay by ``gamma`` every ``step_size`` units.

    :math:`\eta_t = \eta_0\,\gamma^{\lfloor t/s \rfloor}` with :math:`s` = ``step_size``.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = _int("step_size", step_size)
        self.gamma = _float("gamma", gamma, low=0.0)
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
        self.milestones = sorted(_int("milestones", m) for m in milestones)
        self.gamma = _float("gamma", gamma, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** bisect_right(self.milestones, t)


class ExponentialLR(Schedule):
    r"""Decay by ``gamma`` every unit: :math:`\eta_t = \eta_0\,\gamma^t`."""

    def __init__(self, optimizer, gamma):
        self.gamma = _float("gamma", gamma, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** t


class InverseScalingLR(Schedule):
    r"""scikit-learn's ``invscaling``: :math:`\eta_t = \eta_0 / (t + 1)^{p}`, ``p = power_t``.

    scikit-learn's MLP passes :math:`t` = number of training samples seen so far; call
    ``step(t=n_samples_seen)`` to do the same, or ``step()`` to count units.
    """

    def __init__(self, optimizer, power_t=0.5):
        self.power_t = _float("power_t", power_t, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr / (t + 1) ** self.power_t

    def step(self, t=None) -> None:
        """Advance one unit, or jump to the explicit time ``t`` (an integer >= 0)."""
        if t is None:
            self.last_epoch += 1
        else:
            self.last_epoch = _int("t", t, low=0)
        self._apply()


class PolynomialLR(Schedule):
    r"""Polynomial decay to zero.

    :math:`\eta_t = \eta_0 (1 - \min(t, T)/T)^{p}`, ``T = total_iters``."""

    def __init__(self, optimizer, total_iters=5, power=1.0):
        self.total_iters = _int("total_iters", total_iters)
        self.power = _float("power", power, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * (1.0 - min(self.total_iters, t) / self.total_iters) ** self.power


class CosineAnnealingLR(Schedule):
    r"""Cosine annealing, closed form (torch's recursive form agrees to ~1e-14):

    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi t / T_{max}))`.

    As in torch, past ``T_max`` the cosine continues (the rate rises again, period ``2 T_max``).
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = _int("T_max", T_max)
        self.eta_min = _float("eta_min", eta_min, low=0.0)
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
        self.T_0 = _int("T_0", T_0)
        self.T_mult = _int("T_mult", T_mult)
        self.eta_min = _float("eta_min", eta_min, low=0.0)
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


class LinearWarmup(Schedule):
    r"""Linear warm-up for ``warmup_steps`` units, then the schedule ``then`` (or a constant):

    :math:`\eta_t = \eta_0 (f + (1 - f)\, t / W)` for :math:`t < W`, then
    :math:`\eta_t = \text{then}(t - W)`, with :math:`f` = ``start_factor``.

    Same numbers as torch's ``SequentialLR([LinearLR(start_factor, total_iters=W), then],
    milestones=[W])``. Build ``then`` on the same optimizer first; its base rate is used.
    """

    def __init__(self, optimizer, warmup_steps, then=None, start_factor=1.0 / 3):
        self.warmup_steps = _int("warmup_steps", warmup_steps)
        self.start_factor = _float("start_factor", start_factor, low=0.0, high=1.0, low_open=True)
        if then is not None:
            if not isinstance(then, Schedule) or then.needs_metric:
                raise ValueError(f"then must be a step-driven Schedule, got {then!r}")
            if then.optimizer is not optimizer:
                raise ValueError("then must wrap the same optimizer as the warm-up")
            self.base_lr = then.base_lr
        self.then = then
        super().__init__(optimizer)

    def lr_at(self, t):
        w = self.warmup_steps
        if t < w:
            return self.base_lr * (self.start_factor + (1.0 - self.start_factor) * t / w)
        return self.base_lr if self.then is None else self.then.lr_at(t - w)

    def _apply(self):
        if self.then is not None:
            self.then.last_epoch = max(0, self.last_epoch - self.warmup_steps)
            self.then._last_lr = float(self.then.lr_at(self.then.last_epoch))
        super()._apply()

    def _extra_state(self):
        return {"then": None if self.then is None else self.then.state_dict()}

    def _load_extra(self, state):
        if (state.get("then") is None) != (self.then is None):
            raise ValueError("state_dict's 'then' schedule does not match this warm-up")
        if self.then is not None:
            self.then.load_state_dict(state["then"])


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
            total_steps = _int("epochs", epochs) * _int("steps_per_epoch", steps_per_epoch)
        self.total_steps = _int("total_steps", total_steps)
        self.max_lr = _float("max_lr", max_lr, low=0.0, low_open=True)
        self.pct_start = _float("pct_start", pct_start, low=0.0, high=1.0)
        self.anneal_strategy = _choice("anneal_strategy", anneal_strategy, {"cos", "linear"})
        self.div_factor = _float("div_factor", div_factor, low=0.0, low_open=True)
        self.final_div_factor = _float("final_div_factor", final_div_factor, low=0.0,
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


class ReduceLROnPlateau(Schedule):
    r"""Multiply the rate by ``factor`` when a metric stops improving (torch's rule).

    A value :math:`m` improves on the best :math:`b` when, for ``mode='min'``,
    :math:`m < b(1 - \theta)` (``threshold_mode='rel'``) or :math:`m < b - \theta` (``'abs'``);
    mirrored for ``'max'``. After more than ``patience`` non-improving calls,
    :math:`\eta \leftarrow \max(\eta\,\text{factor}, \text{min\_lr})` (skipped when the
    change is below ``eps``), then ``cooldown`` calls are ignored. Call ``step(metric)``.
    """

    needs_metric = True

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        self.mode = _choice("mode", mode, {"min", "max"})
        self.factor = _float("factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
        self.patience = _int("patience", patience, low=0)
        self.threshold = _float("threshold", threshold, low=0.0)
        self.threshold_mode = _choice("threshold_mode", threshold_mode, {"rel", "abs"})
        self.cooldown = _int("cooldown", cooldown, low=0)
        self.min_lr = _float("min_lr", min_lr, low=0.0)
        self.eps = _float("eps", eps, low=0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr if t == 0 else self.optimizer.lr

    def _is_better(self, a):
        th, best = self.threshold, self.best
        if self.mode == "min":
            return a < (best * (1.0 - th) if self.threshold_mode == "rel" else best - th)
        return a > (best * (1.0 + th) if self.threshold_mode == "rel" else best + th)

    def step(self, metric) -> None:
        """Record ``metric`` (a float; NaN counts as no improvement) and maybe reduce the rate."""
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = float(self.optimizer.lr)
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = float(self.optimizer.lr)

    def _extra_state(self):
        # JSON has no infinity: "no best yet" is stored as None
        return {"best": self.best if math.isfinite(self.best) else None,
                "num_bad_epochs": self.num_bad_epochs, "cooldown_counter": self.cooldown_counter}

    def _load_extra(self, state):
        best = state["best"]
        self.best = float(best) if best is not None else (
            math.inf if self.mode == "min" else -math.inf)
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])


def is_plateau(schedule) -> bool:
    """True when ``schedule.step`` needs the monitored metric (``step(metric)``)."""
    return bool(getattr(schedule, "needs_metric", False))


# The name table and the spec parser live in gdlab.schedule_spec, which imports this module;
# they are reached from here lazily so that either module can be imported first.
def make_schedule(spec, optimizer, *, horizon=None):
    """Build a schedule from ``"NAME[:key=value,...]"``: see :func:`gdlab.schedule_spec.make_schedule`."""
    from gdlab.schedule_spec import make_schedule as build

    return build(spec, optimizer, horizon=horizon)


def __getattr__(name):
    if name == "SCHEDULES":
        from gdlab.schedule_spec import SCHEDULES

        return SCHEDULES
    raise AttributeError(f"module 'gdlab.schedules' has no attribute {name!r}")
