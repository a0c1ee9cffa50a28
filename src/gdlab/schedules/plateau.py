"""Reduce the rate when a monitored metric stops improving (torch's ``ReduceLROnPlateau``)."""

from __future__ import annotations

import math

from gdlab import _checks
from gdlab.schedules.base import Schedule


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
        self.mode = _checks.choice("mode", mode, {"min", "max"})
        self.factor = _checks.real("factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
        self.patience = _checks.integer("patience", patience, low=0)
        self.threshold = _checks.real("threshold", threshold, low=0.0)
        self.threshold_mode = _checks.choice("threshold_mode", threshold_mode, {"rel", "abs"})
        self.cooldown = _checks.integer("cooldown", cooldown, low=0)
        self.min_lr = _checks.real("min_lr", min_lr, low=0.0)
        self.eps = _checks.real("eps", eps, low=0.0)
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
