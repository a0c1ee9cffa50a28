"""The training loop: batch, stochastic and mini-batch gradient descent.

One step, in the order the code runs it::

    batch (rows gathered into a preallocated buffer)
      -> net.forward -> loss._compute (value and gradient in one pass)
      -> net.backward(grad, input_grad=False)          fills net.flat_gradients
      -> [allreduce across workers] -> [+ L2 penalty] -> [clip]
      -> optimizer.step(grads)                          updates net.flat_parameters
      -> [schedule per step]

and after each epoch: validation, history, callbacks, schedule per epoch, stopping rules and
periodic checkpoints. Build optimizers on the ONE flat parameter vector for speed,
``Adam([net.flat_parameters])``; ``Adam(net.parameters())`` works too.
"""

from __future__ import annotations

import math

import numpy as np

from gdlab import fitdata
from gdlab.distributed import SingleProcess
from gdlab.errors import DivergenceError
from gdlab.fitdata import nonneg_float as _nonneg_float
from gdlab.fitdata import positive_int as _positive_int
from gdlab.history import Callback, FitResult, History, ProgressBar
from gdlab.losses import get_loss
from gdlab.normalization import BatchNorm
from gdlab.stopping import NoImprovement, check_monitor, check_target, target_reached
from gdlab.trainloop import TrainLoop

__all__ = ["Trainer", "fit", "History", "FitResult", "Callback"]

_FIT_KWARGS = ("sample_weight", "validation_data", "validation_fraction")


#: rows of the training data that estimate the initial loss (the divergence test's reference)
INITIAL_LOSS_ROWS = 4096


class Trainer(TrainLoop):
    """Trains ``net`` on ``loss`` with ``optimizer``; see the module docstring for the step.

    Parameters (all keyword-only after ``optimizer``)
    ----------
    net : gdlab.Sequential.
    loss : a gdlab loss or its name (``"cross_entropy"``, ``"mse"``, ...).
    optimizer : a gdlab optimizer built on ``[net.flat_parameters]`` (fastest) or
        ``net.parameters()``; or a name for ``make_optimizer(name, [net.flat_parameters])``.
    batch_size : int ``k >= 1`` (1 = stochastic gradient descent) or ``"full"`` (batch
        gradient descent). Larger than the number of samples is a ValueError at ``fit``.
    shuffle : reshuffle the samples every epoch (``"full"`` batches are never shuffled).
    drop_last : skip the last batch of an epoch when it is shorter than ``batch_size``.
    epochs : epochs per ``fit`` call (None: no limit, then ``max_steps`` must be set).
    max_steps : optimizer steps per ``fit`` call (None: no limit).
    tol, n_iter_no_change : stop when the monitored quantity has not improved by more than
        ``tol`` for more than ``n_iter_no_change`` consecutive epochs (scikit-learn's rule,
        see :class:`gdlab.stopping.NoImprovement`); ``tol=None`` turns the rule off.
    grad_tol : stop when the global gradient norm of an epoch's last step is ``<= grad_tol``.
    target : ``{"val_accuracy": 0.97}`` or ``{"loss": 0.01}``: stop when reached (``>=`` for
        accuracy and r2, ``<=`` for losses and mse).
    early_stopping : apply the patience rule to a validation metric and restore the weights of
        the best epoch at the end of ``fit``. Without validation data, 10% of the training data
        is split off (scikit-learn's default ``validation_fraction``).
    monitor : the History key watched by ``tol``, early stopping and ReduceLROnPlateau;
        default ``"val_loss"`` when there is validation data, else ``"loss"``.
    alpha : L2 penalty on the weights (not biases), scikit-learn's: the batch loss gets
        ``alpha / (2 s) * sum ||W||^2`` and the weight gradients ``alpha W / s``, where ``s`` is
        the batch size, or the batch's sum of sample weights when they are given.
    schedule, schedule_interval : a gdlab schedule (or a ``make_schedule`` spec) stepped after
        every ``"step"`` or every ``"epoch"``; ReduceLROnPlateau is stepped every epoch with the
        monitored value.
    clip_norm, clip_value : gradient clipping (global norm, then elementwise) before the step.
    divergence_factor : DivergenceError when an epoch's training loss exceeds this factor times
        the loss of the initial network on the training data (on at most 4,096 of its rows,
        evenly spaced, so that this reference costs a fraction of an epoch on large data), or
        on any non-finite loss or gradient (checked at every step, before the update).
    task : ``"classification"`` or ``"regression"`` (default: from the loss) picks the metrics.
    callbacks : objects with any of ``on_train_begin``, ``on_step_end``, ``on_epoch_end``,
        ``on_train_end`` (see :class:`gdlab.Callback`).
    progress : show a rich progress bar (on rank 0).
    record_steps : keep every step's batch loss in ``history.step_loss``.
    seed : seed of the shuffling generator ``numpy.random.default_rng(seed)`` (its epoch
        ``e`` order is its ``e``-th ``permutation(n)``); the validation split uses a child.
    comm : a :class:`gdlab.distributed.Communicator` (default: one process).
    checkpoint_path, checkpoint_every : save the whole state every N epochs (rank 0).
    """

    #: set by a caller that has already checked X for NaN and infinity (the estimators)
    _X_checked_finite = False

    def __init__(self, net, loss, optimizer, *, batch_size=32, shuffle=True, drop_last=False,
                 epochs=200, max_steps=None, tol=1e-4, n_iter_no_change=10, grad_tol=None,
                 target=None, early_stopping=False, monitor=None, alpha=0.0, schedule=None,
                 schedule_interval="epoch", clip_norm=None, clip_value=None,
                 divergence_factor=100.0, task=None, callbacks=(), progress=False,
                 record_steps=False, seed=0, comm=None, checkpoint_path=None,
                 checkpoint_every=None):
        self.net = net
        self.loss = get_loss(loss)
        if isinstance(optimizer, str):
            from gdlab.optim import make_optimizer

            optimizer = make_optimizer(optimizer, [net.flat_parameters])
        self.optimizer = optimizer
        self._opt_grads = self._gradients_for(optimizer)
        fitdata.check_batch_size(batch_size, None)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.epochs = _positive_int("epochs", epochs, allow_none=True)
        self.max_steps = _positive_int("max_steps", max_steps, allow_none=True)
        if self.epochs is None and self.max_steps is None:
            raise ValueError("epochs and max_steps cannot both be None: training would not stop")
        self.tol = _nonneg_float("tol", tol, allow_none=True)
        self.n_iter_no_change = _positive_int("n_iter_no_change", n_iter_no_change)
        self.grad_tol = _nonneg_float("grad_tol", grad_tol, allow_none=True)
        self.target = target
        self.early_stopping = bool(early_stopping)
        if monitor is not None and not isinstance(monitor, str):
            raise ValueError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        self.alpha = _nonneg_float("alpha", alpha)
        if schedule_interval not in ("epoch", "step"):
            raise ValueError(f"schedule_interval must be 'epoch' or 'step', got "
                             f"{schedule_interval!r}")
        self.schedule_interval = schedule_interval
        if isinstance(schedule, str):
            from gdlab.schedules import make_schedule

            horizon = self.epochs if schedule_interval == "epoch" else self.max_steps
            schedule = make_schedule(schedule, optimizer, horizon=horizon)
        self.schedule = schedule
        self.clip_norm = _nonneg_float("clip_norm", clip_norm, allow_none=True)
        self.clip_value = _nonneg_float("clip_value", clip_value, allow_none=True)
        factor = _nonneg_float("divergence_factor", divergence_factor, allow_none=True)
        if factor is not None and factor <= 1:
            raise ValueError(f"divergence_factor must be > 1 or None, got {divergence_factor!r}")
        self.divergence_factor = factor
        self.task = fitdata.infer_task(self.loss, task)
        callbacks = [callbacks] if hasattr(callbacks, "on_epoch_end") or hasattr(
            callbacks, "on_step_end") else list(callbacks)
        self.callbacks = callbacks
        self.progress = bool(progress)
        self.record_steps = bool(record_steps)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.seed = seed
        self.comm = SingleProcess() if comm is None else comm
        if checkpoint_every is not None and checkpoint_path is None:
            raise ValueError("checkpoint_every needs checkpoint_path")
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = _positive_int("checkpoint_every", checkpoint_every,
                                              allow_none=True)
        if checkpoint_path is not None and self.checkpoint_every is None:
            self.checkpoint_every = 1
        # the state that a checkpoint carries
        self._rng = np.random.default_rng(seed)
        self.epoch = 0
        self.step = 0
        self.history = History()
        self._initial_loss = None
        self._tracker = None
        self._tracker_state = None
        self._best = None  # (flat params, buffers) of the best epoch, for early stopping
        self._last_stop = None

    def _gradients_for(self, optimizer):
        params = getattr(optimizer, "params", None)
        if params is None:
            raise TypeError(f"optimizer {optimizer!r} has no 'params': use a gdlab optimizer")
        flat = self.net.flat_parameters
        if len(params) == 1 and params[0] is flat or (
                len(params) == 1 and params[0].shape == flat.shape
                and np.shares_memory(params[0], flat)):
            return [self.net.flat_gradients]
        views = self.net.parameters()
        if len(params) == len(views) and all(
                p.shape == v.shape and np.shares_memory(p, v) for p, v in zip(params, views)):
            return self.net.gradients()
        raise ValueError("the optimizer does not hold this network's parameters; build it on "
                         "[net.flat_parameters] (fastest) or net.parameters()")

    # ---- fit ----------------------------------------------------------------------------------
    def fit(self, X, y, *, sample_weight=None, validation_data=None, validation_fraction=0.0,
            epochs=None, max_steps=None) -> FitResult:
        """Train until a stopping rule holds; continue from the current state if called again.

        ``epochs``/``max_steps`` override the trainer's limits for this call (``fit(X, y,
        epochs=1)`` runs one more epoch). ``validation_data`` is ``(X_val, y_val)`` or
        ``(X_val, y_val, sample_weight_val)``; ``validation_fraction`` splits that share of the
        training data off instead (stratified for classification, seeded by ``seed``).
        """
        data = self._prepare(X, y, sample_weight, validation_data, validation_fraction)
        epochs = self.epochs if epochs is None else _positive_int("epochs", epochs)
        max_steps = self.max_steps if max_steps is None else _positive_int("max_steps", max_steps)
        if epochs is None and max_steps is None:
            raise ValueError("epochs and max_steps cannot both be None: training would not stop")
        end_epoch = None if epochs is None else self.epoch + epochs
        end_step = None if max_steps is None else self.step + max_steps
        return self._run(data, end_epoch, end_step)

    def partial_fit(self, X, y, *, sample_weight=None, validation_data=None) -> FitResult:
        """Exactly one more pass over the data."""
        return self.fit(X, y, sample_weight=sample_weight, validation_data=validation_data,
                        epochs=1, max_steps=None)

    def _prepare(self, X, y, sample_weight, validation_data, validation_fraction):
        net = self.net
        X = fitdata.check_X(net, X, assume_finite=self._X_checked_finite)
        n = X.shape[0]
        y = fitdata.check_y(net, self.loss, self.task, y, n)
        w = fitdata.check_weights(net, sample_weight, n)
        if isinstance(validation_fraction, bool) or not isinstance(
                validation_fraction, (int, float)) or not 0 <= validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
        if validation_data is not None and validation_fraction > 0:
            raise ValueError("give validation_data or validation_fraction, not both")
        if self.early_stopping and validation_data is None and validation_fraction == 0:
            validation_fraction = 0.1
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (X_val, y_val) or (X_val, y_val, "
                                 "sample_weight_val)")
            Xv = fitdata.check_X(net, validation_data[0], "X_val")
            yv = fitdata.check_y(net, self.loss, self.task, validation_data[1], Xv.shape[0],
                                 "y_val")
            wv = None if len(validation_data) == 2 else fitdata.check_weights(
                net, validation_data[2], Xv.shape[0], "sample_weight_val")
            val = (Xv, yv, wv)
        elif validation_fraction > 0:
            train, held = fitdata.split_validation(y, validation_fraction, self.task, self.seed)
            val = (X[held], y[held], None if w is None else w[held])
            X, y, w = X[train], y[train], None if w is None else w[train]
            n = X.shape[0]
        k = fitdata.check_batch_size(self.batch_size, n)
        if k == 1 or (n % k == 1 and not self.drop_last):
            if any(isinstance(layer, BatchNorm) for layer in net.layers):
                raise ValueError(f"batch_size={self.batch_size} with {n} samples gives a batch "
                                 "of 1 sample, which BatchNorm cannot normalise in training; "
                                 "use drop_last=True or another batch size")
        has_val = val is not None
        monitor = self.monitor or ("val_loss" if has_val else "loss")
        check_monitor(monitor, self.task, has_val)
        if self.early_stopping and not monitor.startswith("val_"):
            raise ValueError(f"early_stopping monitors a validation metric, got monitor="
                             f"{monitor!r}")
        target = check_target(self.target, self.task, has_val)
        self._monitor_name = monitor
        self._target = target
        tol = self.tol if self.tol is not None else (0.0 if self.early_stopping else None)
        if tol is not None:
            if self._tracker is None or self._tracker.monitor != monitor:
                self._tracker = NoImprovement(monitor, tol, self.n_iter_no_change)
            self._tracker.tol, self._tracker.n_iter_no_change = tol, self.n_iter_no_change
            if self._tracker_state is not None:
                self._tracker.load_state_dict(self._tracker_state)
            self._tracker_state = None
        else:
            self._tracker = None
        return {"X": X, "y": y, "w": w, "val": val, "batch_size": k,
                "full": self.batch_size == "full"}

    # ---- the epoch loop -------------------------------------------------------------------
    def _run(self, data, end_epoch, end_step):
        comm = self.comm
        root = comm.rank == 0
        if self._last_stop in ("tol", "early_stopping") and self._tracker is not None:
            self._tracker.count = 0  # a stopped run asked to continue gets a fresh patience
        self._setup_step(data)
        if comm.size > 1:  # every rank starts from rank 0's parameters and buffers
            comm.start_fit(self.net, data["X"].shape[0], data["batch_size"], self.drop_last)
        # the initial loss only serves the divergence test, whose factor (100) is coarse: an
        # evenly spaced sample of the rows estimates it well and spares a pass over big data
        if self._initial_loss is None and self.divergence_factor is not None:
            X, y, w = data["X"], data["y"], data["w"]
            if X.shape[0] > INITIAL_LOSS_ROWS:
                k = INITIAL_LOSS_ROWS
                rows = np.arange(k, dtype=np.intp) * (X.shape[0] - 1) // (k - 1)
                X, y, w = X[rows], y[rows], None if w is None else w[rows]
            self._initial_loss = fitdata.evaluate(self.net, self.loss, self.task, X, y, w)["loss"]
        cbs = {name: [getattr(c, name) for c in self.callbacks if _overrides(c, name)]
               for name in ("on_train_begin", "on_step_end", "on_epoch_end", "on_train_end")}
        self._step_callbacks = cbs["on_step_end"]
        for cb in cbs["on_train_begin"]:
            cb(self, {"epoch": self.epoch, "step": self.step})
        bar = ProgressBar(end_epoch, self.epoch) if self.progress and root else None
        # overflow is expected when training diverges: it is detected and reported as a
        # DivergenceError, not as NumPy warnings
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                stop = self._epochs(data, end_epoch, end_step, cbs, bar, root)
        except KeyboardInterrupt:
            stop = "interrupted"
        finally:
            if bar is not None:
                bar.close()
        if stop is None:
            stop = "max_steps" if end_step is not None and self.step >= end_step else "max_epochs"
        self._last_stop = stop
        if self.early_stopping and self._best is not None:
            self.net.load_state_dict({"params": self._best[0], "buffers": self._best[1]})
        tr = self._tracker
        result = FitResult(self.history, stop, self.epoch, self.step,
                           None if tr is None else tr.best_epoch,
                           None if tr is None else tr.best_score, self._monitor_name)
        for cb in cbs["on_train_end"]:
            cb(self, {"stopped_because": stop, "epoch": self.epoch, "step": self.step})
        return result

    def _epochs(self, data, end_epoch, end_step, cbs, bar, root):
        """Run epochs until a rule stops them; returns the reason."""
        while True:
            if end_epoch is not None and self.epoch >= end_epoch:
                return "max_epochs"
            if end_step is not None and self.step >= end_step:
                return "max_steps"
            logs = self._epoch(data, end_step)
            self.history.append(logs)
            stop = self._end_of_epoch(logs, cbs["on_epoch_end"])
            if self.comm.size > 1 and self.comm.any(stop is not None) and stop is None:
                stop = "callback"  # only callbacks can disagree across ranks
            if bar is not None:
                bar.update(self.epoch, logs)
            if self.checkpoint_path is not None and root and (
                    self.epoch % self.checkpoint_every == 0):
                self.save(self.checkpoint_path)
            if stop is not None:
                return stop

    def _end_of_epoch(self, logs, epoch_callbacks):
        """Divergence, schedule, stopping rules; returns the stop reason or None."""
        loss = logs["loss"]
        ref = self._initial_loss
        if self.divergence_factor is not None and ref is not None and ref > 0 and (
                loss > self.divergence_factor * ref):
            raise DivergenceError(
                f"training diverged at epoch {self.epoch} (step {self.step}): the epoch's loss "
                f"{loss:.4g} is more than divergence_factor={self.divergence_factor:g} times "
                f"the initial loss {ref:.4g} with learning rate {logs['lr']:g}; try a smaller "
                "learning rate", epoch=self.epoch, step=self.step, lr=logs["lr"])
        monitored = logs.get(self._monitor_name, math.nan)
        stop = None
        if self._tracker is not None:
            improved = self._tracker.update(monitored, self.epoch)
            if improved and self.early_stopping:
                self._keep_best()
            if self._tracker.exhausted:
                stop = "early_stopping" if self.early_stopping else "tol"
        if self.schedule is not None:
            if getattr(self.schedule, "needs_metric", False):
                self.schedule.step(monitored)
            elif self.schedule_interval == "epoch":
                self.schedule.step()
        if self._target and target_reached(self._target, logs):
            stop = "target"
        elif self.grad_tol is not None and logs["grad_norm"] <= self.grad_tol:
            stop = "grad_tol"
        full_logs = dict(logs, epoch=self.epoch, step=self.step)
        for cb in epoch_callbacks:
            if cb(self, full_logs) is True and stop is None:
                stop = "callback"
        return stop

    def _keep_best(self):
        net = self.net
        if self._best is None:
            self._best = (net.flat_parameters.copy(),
                          {k: v.copy() for k, v in net.buffers().items()})
        else:
            np.copyto(self._best[0], net.flat_parameters)
            for key, array in net.buffers().items():
                np.copyto(self._best[1][key], array)

    # ---- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue bit for bit: network (parameters, buffers, random
        streams), optimizer, schedule, shuffling generator, counters, history, patience
        counters and the best weights kept for early stopping."""
        tracker = self._tracker.state_dict() if self._tracker is not None else self._tracker_state
        return {
            "format": "gdlab.Trainer",
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": None if self.schedule is None else self.schedule.state_dict(),
            "shuffle_rng": self._rng.bit_generator.state,
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history.as_dict(),
            "initial_loss": self._initial_loss,
            "tracker": tracker,
            "best": None if self._best is None else {"params": self._best[0].copy(),
                                                     "buffers": dict(self._best[1])},
            "last_stop": self._last_stop,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` into this trainer (same network and optimizer kinds).

        All or nothing: a state that does not fit this trainer (missing entries, arrays of
        other shapes, damaged random-generator states) raises ValueError and leaves the
        trainer as it was.
        """
        backup = self.state_dict()
        try:
            self._load_state(state)
        except (KeyError, IndexError, AttributeError, OverflowError, TypeError,
                ValueError) as exc:
            self._load_state(backup)
            if isinstance(exc, KeyError):
                raise ValueError(f"the saved training state lacks the entry {exc}") from None
            if isinstance(exc, (TypeError, ValueError)):
                raise
            raise ValueError(f"the saved training state is inconsistent "
                             f"({type(exc).__name__}: {exc})") from None

    def _load_state(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("format") != "gdlab.Trainer":
            raise ValueError("not a Trainer state (missing format 'gdlab.Trainer')")
        if (state["schedule"] is None) != (self.schedule is None):
            raise ValueError("the saved state and this trainer disagree on having a schedule")
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        self._rng.bit_generator.state = state["shuffle_rng"]
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = History.from_dict(state["history"])
        self._initial_loss = state["initial_loss"]
        self._tracker = None
        self._tracker_state = state["tracker"]
        best = state["best"]
        if best is not None:
            shapes = [(np.shape(best["params"]), self.net.flat_parameters.shape)] + [
                (np.shape(best["buffers"].get(k)), v.shape) for k, v in self.net.buffers().items()]
            if set(best["buffers"]) != set(self.net.buffers()) or any(a != b for a, b in shapes):
                raise ValueError("the best weights kept for early stopping do not fit this "
                                 "network (other shapes)")
        self._best = None if best is None else (
            np.array(best["params"], dtype=self.net.dtype),
            {k: np.array(v, dtype=self.net.dtype) for k, v in best["buffers"].items()})
        self._last_stop = state["last_stop"]

    def save(self, path, config=None) -> None:
        """Write :meth:`state_dict` to ``path`` atomically (see :mod:`gdlab.checkpoint`)."""
        from gdlab.checkpoint import save_checkpoint

        save_checkpoint(path, self.state_dict(), config=config)

    def load(self, path) -> dict | None:
        """Load a checkpoint written by :meth:`save`; returns its ``config``."""
        from gdlab.checkpoint import load_checkpoint

        state, config = load_checkpoint(path)
        self.load_state_dict(state)
        return config


def _overrides(obj, name):
    method = getattr(obj, name, None)
    if method is None:
        return False
    base = getattr(Callback, name)
    return getattr(type(obj), name, None) is not base


def fit(net, loss, optimizer, X, y, **kwargs) -> FitResult:
    """``Trainer(net, loss, optimizer, **options).fit(X, y, ...)`` in one call.

    ``sample_weight``, ``validation_data`` and ``validation_fraction`` go to ``fit``; every
    other keyword to :class:`Trainer`.
    """
    fit_kwargs = {k: kwargs.pop(k) for k in _FIT_KWARGS if k in kwargs}
    return Trainer(net, loss, optimizer, **kwargs).fit(X, y, **fit_kwargs)
