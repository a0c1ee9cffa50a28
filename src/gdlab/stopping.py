"""Stopping rules that look at a monitored quantity: scikit-learn's ``tol``/``n_iter_no_change``
patience, targets, and the bookkeeping of the best epoch for early stopping."""

from __future__ import annotations

import math

# higher is better for these; lower for every loss and error
_HIGHER_IS_BETTER = ("accuracy", "r2")


def higher_is_better(name: str) -> bool:
    """True for accuracy and R^2 (with or without ``val_``), False for losses and errors."""
    return name.removeprefix("val_") in _HIGHER_IS_BETTER


def metric_names(task: str, validation: bool) -> list[str]:
    """The History keys a run records for ``task`` (what ``monitor`` and ``target`` may name)."""
    base = ["loss"] + (["accuracy"] if task == "classification" else ["mse", "r2"])
    names = list(base)
    if validation:
        names += [f"val_{name}" for name in base]
    return names


def check_monitor(name: str, task: str, validation: bool, what="monitor") -> str:
    """``name`` if the run records it, else a ValueError listing the names it records."""
    known = metric_names(task, validation)
    if name not in known:
        hint = (" (validation metrics need validation_data or validation_fraction > 0)"
                if name.startswith("val_") and not validation else "")
        raise ValueError(f"{what} {name!r} is not recorded by this run; choose from "
                         f"{known}{hint}")
    return name


def check_target(target, task: str, validation: bool) -> dict[str, float]:
    """``target`` as ``{name: value}`` with known names and finite values."""
    if target is None:
        return {}
    if not isinstance(target, dict) or not target:
        raise ValueError(f"target must be a dict such as {{'val_accuracy': 0.97}}, "
                         f"got {target!r}")
    out = {}
    for name, value in target.items():
        check_monitor(name, task, validation, what="target")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            raise ValueError(f"target[{name!r}] must be a finite number, got {value!r}")
        out[name] = float(value)
    return out


def target_reached(target: dict[str, float], logs: dict) -> str | None:
    """The first target reached by this epoch's ``logs`` (``>=`` for scores, ``<=`` for losses)."""
    for name, goal in target.items():
        value = logs.get(name, math.nan)
        if higher_is_better(name) and value >= goal:
            return name
        if not higher_is_better(name) and value <= goal:
            return name
    return None


class NoImprovement:
    """scikit-learn's ``_update_no_improvement_count`` on any monitored quantity.

    For a loss ``m`` (lower is better) an epoch counts as no improvement when
    ``m > best - tol``, and ``best`` becomes ``m`` when ``m < best``; for a score (accuracy,
    R^2) when ``m < best + tol``, and ``best`` moves when ``m > best``. A NaN is never an
    improvement. The run stops when ``count > n_iter_no_change`` (strictly, as scikit-learn).
    ``update`` returns True when the epoch set a new best (the early-stopping weights to keep).
    """

    def __init__(self, monitor: str, tol: float, n_iter_no_change: int):
        self.monitor = monitor
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.sign = -1.0 if higher_is_better(monitor) else 1.0
        self.best = math.inf  # kept as sign * value: smaller is better
        self.best_epoch: int | None = None
        self.count = 0

    def update(self, value: float, epoch: int) -> bool:
        v = self.sign * value
        if not v <= self.best - self.tol:  # also true for NaN
            self.count += 1
        else:
            self.count = 0
        if v < self.best:
            self.best = v
            self.best_epoch = epoch
            return True
        return False

    @property
    def exhausted(self) -> bool:
        return self.count > self.n_iter_no_change

    @property
    def best_score(self) -> float | None:
        return None if self.best_epoch is None else self.sign * self.best

    def state_dict(self) -> dict:
        return {"monitor": self.monitor, "best": None if math.isinf(self.best) else self.best,
                "best_epoch": self.best_epoch, "count": self.count}

    def load_state_dict(self, d: dict) -> None:
        if d["monitor"] != self.monitor:
            raise ValueError(f"the saved state monitors {d['monitor']!r}, this trainer "
                             f"monitors {self.monitor!r}")
        self.best = math.inf if d["best"] is None else float(d["best"])
        self.best_epoch = d["best_epoch"]
        self.count = int(d["count"])
