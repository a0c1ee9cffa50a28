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

This module holds the base class and the constant schedule; the others are in
:mod:`~gdlab.schedules.decay` (step, multi-step, exponential, inverse scaling, polynomial),
:mod:`~gdlab.schedules.cyclic` (cosine, warm restarts, 1cycle),
:mod:`~gdlab.schedules.warmup` and :mod:`~gdlab.schedules.plateau`; the names and the
``NAME:key=value`` grammar in :mod:`~gdlab.schedules.spec`.
"""

from __future__ import annotations

from gdlab import _checks


class Schedule:
    """Base class: ``lr_at(t)`` gives the rate after ``t`` calls to ``step()``."""

    needs_metric = False

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError("optimizer must have an 'lr' attribute, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if not hasattr(self, "base_lr"):
            self.base_lr = _checks.non_negative("optimizer.lr", optimizer.lr)
        self.last_epoch = 0
        self._apply()

    def lr_at(self, t: int) -> float:
        raise NotImplementedError

    def _apply(self):
        self.optimizer.lr = self.seek(self.last_epoch)

    def seek(self, t: int) -> float:
        """Move to unit ``t`` and return its rate, without setting the optimizer's rate (a
        warm-up moves the schedule it hands over to this way)."""
        self.last_epoch = t
        self._last_lr = float(self.lr_at(t))
        return self._last_lr

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


def is_plateau(schedule) -> bool:
    """True when ``schedule.step`` needs the monitored metric (``step(metric)``)."""
    return bool(getattr(schedule, "needs_metric", False))
