"""Linear warm-up, then another schedule (or a constant rate)."""

from __future__ import annotations

from gdlab import _checks
from gdlab.schedules.base import Schedule


class LinearWarmup(Schedule):
    r"""Linear warm-up for ``warmup_steps`` units, then the schedule ``then`` (or a constant):

    :math:`\eta_t = \eta_0 (f + (1 - f)\, t / W)` for :math:`t < W`, then
    :math:`\eta_t = \text{then}(t - W)`, with :math:`f` = ``start_factor``.

    Same numbers as torch's ``SequentialLR([LinearLR(start_factor, total_iters=W), then],
    milestones=[W])``. Build ``then`` on the same optimizer first; its base rate is used.
    """

    def __init__(self, optimizer, warmup_steps, then=None, start_factor=1.0 / 3):
        self.warmup_steps = _checks.integer("warmup_steps", warmup_steps)
        self.start_factor = _checks.real("start_factor", start_factor, low=0.0, high=1.0, low_open=True)
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
            self.then.seek(max(0, self.last_epoch - self.warmup_steps))
        super()._apply()

    def _extra_state(self):
        return {"then": None if self.then is None else self.then.state_dict()}

    def _load_extra(self, state):
        if (state.get("then") is None) != (self.then is None):
            raise ValueError("state_dict's 'then' schedule does not match this warm-up")
        if self.then is not None:
            self.then.load_state_dict(state["then"])
