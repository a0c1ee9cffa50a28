"""Stopping rules that look at a monitored quantity: scikit-learn's ``tol``/``n_iter_no_change``
patience, targets, divergence, and the bookkeeping of the best epoch for early stopping
(:class:`StoppingRules`, what the trainer asks after every epoch)."""

from __future__ import annotations

import math

import numpy as np

from gdlab import _checks
from gdlab.errors import DivergenceError

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
        close = _checks.did_you_mean(name, known)
        listed = ", ".join(known)
        raise ValueError(f"{what} {name!r} is not recorded by this run"
                         + (f"{close} Choose from: {listed}" if close else
                            f"; choose from: {listed}") + hint)
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


class StoppingRules:
    """The rules that end a fit after an epoch, with the state a checkpoint carries.

    Divergence: the epoch's training loss above ``divergence_factor`` times ``initial_loss``
    (the loss of the initial network, measured by the trainer) raises DivergenceError. The
    patience rule (``tol``/``n_iter_no_change``, :class:`NoImprovement`) on the monitored
    quantity stops with ``"tol"``, or ``"early_stopping"`` when ``early_stopping`` keeps the
    weights of the best epoch (restored by :meth:`restore_best`). ``target`` and ``grad_tol``
    stop when reached. See :class:`gdlab.Trainer` for the arguments.
    """

    def __init__(self, *, tol, n_iter_no_change, grad_tol, target, early_stopping, monitor,
                 divergence_factor):
        self.tol = _checks.non_negative("tol", tol, allow_none=True)
        self.n_iter_no_change = _checks.positive_int("n_iter_no_change", n_iter_no_change)
        self.grad_tol = _checks.non_negative("grad_tol", grad_tol, allow_none=True)
        self.target = target
        self.early_stopping = bool(early_stopping)
        if monitor is not None and not isinstance(monitor, str):
            raise ValueError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        factor = _checks.non_negative("divergence_factor", divergence_factor, allow_none=True)
        if factor is not None and factor <= 1:
            raise ValueError(f"divergence_factor must be > 1 or None, got {divergence_factor!r}")
        self.divergence_factor = factor
        self.initial_loss = None
        self.monitor_name = monitor or "loss"
        self.last_stop = None
        self._targets: dict[str, float] = {}
        self._tracker = None
        self._tracker_state = None
        self._best = None  # (flat params, buffers) of the best epoch, for early stopping

    def start(self, task: str, has_validation: bool) -> None:
        """Check the monitored quantity and the target against what this fit records, and set
        up the patience counter (kept across fits that monitor the same quantity)."""
        monitor = self.monitor or ("val_loss" if has_validation else "loss")
        check_monitor(monitor, task, has_validation)
        if self.early_stopping and not monitor.startswith("val_"):
            raise ValueError(f"early_stopping monitors a validation metric, got monitor="
                             f"{monitor!r}")
        self._targets = check_target(self.target, task, has_validation)
        self.monitor_name = monitor
        tol = self.tol if self.tol is not None else (0.0 if self.early_stopping else None)
        if tol is None:
            self._tracker = None
            return
        if self._tracker is None or self._tracker.monitor != monitor:
            self._tracker = NoImprovement(monitor, tol, self.n_iter_no_change)
        self._tracker.tol, self._tracker.n_iter_no_change = tol, self.n_iter_no_change
        if self._tracker_state is not None:
            self._tracker.load_state_dict(self._tracker_state)
        self._tracker_state = None
        if self.last_stop in ("tol", "early_stopping"):
            self._tracker.count = 0  # a stopped run asked to continue gets a fresh patience

    def check_divergence(self, logs: dict, epoch: int, step: int) -> None:
        loss, ref = logs["loss"], self.initial_loss
        if self.divergence_factor is not None and ref is not None and ref > 0 and (
                loss > self.divergence_factor * ref):
            raise DivergenceError(
                f"training diverged at epoch {epoch} (step {step}): the epoch's loss "
                f"{loss:.4g} is more than divergence_factor={self.divergence_factor:g} times "
                f"the initial loss {ref:.4g} with learning rate {logs['lr']:g}; try a smaller "
                "learning rate", epoch=epoch, step=step, lr=logs["lr"])

    def monitored(self, logs: dict) -> float:
        return logs.get(self.monitor_name, math.nan)

    def after_epoch(self, logs: dict, epoch: int, net) -> str | None:
        """The patience rule, the best weights, the target and grad_tol; the stop reason."""
        stop = None
        if self._tracker is not None:
            improved = self._tracker.update(self.monitored(logs), epoch)
            if improved and self.early_stopping:
                self._keep_best(net)
            if self._tracker.exhausted:
                stop = "early_stopping" if self.early_stopping else "tol"
        if self._targets and target_reached(self._targets, logs):
            stop = "target"
        elif self.grad_tol is not None and logs["grad_norm"] <= self.grad_tol:
            stop = "grad_tol"
        return stop

    def _keep_best(self, net):
        if self._best is None:
            self._best = (net.flat_parameters.copy(),
                          {k: v.copy() for k, v in net.buffers().items()})
        else:
            np.copyto(self._best[0], net.flat_parameters)
            for key, array in net.buffers().items():
                np.copyto(self._best[1][key], array)

    def restore_best(self, net) -> None:
        """With early stopping, put the best epoch's weights back into ``net``."""
        if self.early_stopping and self._best is not None:
            net.load_state_dict({"params": self._best[0], "buffers": self._best[1]})

    @property
    def best_epoch(self) -> int | None:
        return None if self._tracker is None else self._tracker.best_epoch

    @property
    def best_score(self) -> float | None:
        return None if self._tracker is None else self._tracker.best_score

    def state_dict(self) -> dict:
        tracker = self._tracker.state_dict() if self._tracker is not None else self._tracker_state
        return {"initial_loss": self.initial_loss, "tracker": tracker,
                "best": None if self._best is None else {"params": self._best[0].copy(),
                                                         "buffers": dict(self._best[1])},
                "last_stop": self.last_stop}

    def load_state_dict(self, state: dict, net) -> None:
        """Restore :meth:`state_dict` (the keys of a Trainer state); checks the best weights
        against ``net``."""
        self.initial_loss = state["initial_loss"]
        self._tracker = None
        self._tracker_state = state["tracker"]
        best = state["best"]
        if best is not None:
            shapes = [(np.shape(best["params"]), net.flat_parameters.shape)] + [
                (np.shape(best["buffers"].get(k)), v.shape) for k, v in net.buffers().items()]
            if set(best["buffers"]) != set(net.buffers()) or any(a != b for a, b in shapes):
                raise ValueError("the best weights kept for early stopping do not fit this "
                                 "network (other shapes)")
            best = (np.array(best["params"], dtype=net.dtype),
                    {k: np.array(v, dtype=net.dtype) for k, v in best["buffers"].items()})
        self._best = best
        self.last_stop = state["last_stop"]
