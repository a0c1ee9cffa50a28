"""The trainer: batch, stochastic and mini-batch gradient descent until a stopping rule holds.

One step, in the order the code runs it (:mod:`gdlab.training.epoch`)::

    batch (rows gathered into a preallocated buffer)
      -> net.forward -> loss.compute (value and gradient in one pass)
      -> net.backward(grad, input_grad=False)          fills net.flat_gradients
      -> [allreduce across workers] -> [+ L2 penalty] -> [clip]
      -> optimizer.step(grads)                          updates net.flat_parameters
      -> [schedule per step]

and after each epoch: validation, history, callbacks, schedule per epoch, stopping rules and
periodic checkpoints. Build optimizers on the ONE flat parameter vector for speed,
``Adam([net.flat_parameters])``; ``Adam(net.parameters())`` works too.
"""

from __future__ import annotations

import numpy as np

from gdlab import _checks
from gdlab.distributed.comm import SingleProcess
from gdlab.kernels import threads as kernel_threads
from gdlab.nn.losses import get_loss
from gdlab.nn.penalty import L2Penalty
from gdlab.optim.registry import make_optimizer
from gdlab.schedules.spec import make_schedule
from gdlab.training import checkpoint, metrics
from gdlab.training.callbacks import Callback, ProgressBar, overridden
from gdlab.training.epoch import Counters, EpochRunner, StepRules, gradients_for
from gdlab.training.history import FitResult, History
from gdlab.training.prepared import check_batch_size, infer_task, prepare
from gdlab.training.stopping import StoppingRules

__all__ = ["Trainer", "fit", "History", "FitResult", "Callback"]

_FIT_KWARGS = ("sample_weight", "validation_data", "validation_fraction", "assume_finite")

#: rows of the training data that estimate the initial loss (the divergence test's reference)
INITIAL_LOSS_ROWS = 4096


class Trainer:
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
        see :class:`gdlab.training.stopping.NoImprovement`); ``tol=None`` turns the rule off.
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
    threads : BLAS and kernel threads, for the whole process while ``fit`` runs, restored after
        (threadpoolctl's context); None: the process's setting (:mod:`gdlab.kernels.threads`).
    """

    def __init__(self, net, loss, optimizer, *, batch_size=32, shuffle=True, drop_last=False,
                 epochs=200, max_steps=None, tol=1e-4, n_iter_no_change=10, grad_tol=None,
                 target=None, early_stopping=False, monitor=None, alpha=0.0, schedule=None,
                 schedule_interval="epoch", clip_norm=None, clip_value=None,
                 divergence_factor=100.0, task=None, callbacks=(), progress=False,
                 record_steps=False, seed=0, comm=None, checkpoint_path=None,
                 checkpoint_every=None, threads=None):
        self.net = net
        self.loss = get_loss(loss)
        if isinstance(optimizer, str):
            optimizer = make_optimizer(optimizer, [net.flat_parameters])
        self.optimizer = optimizer
        self._opt_grads = gradients_for(net, optimizer)
        check_batch_size(batch_size, None)
        self.batch_size, self.shuffle, self.drop_last = batch_size, bool(shuffle), bool(drop_last)
        self.epochs = _checks.positive_int("epochs", epochs, allow_none=True)
        self.max_steps = _checks.positive_int("max_steps", max_steps, allow_none=True)
        if self.epochs is None and self.max_steps is None:
            raise ValueError("epochs and max_steps cannot both be None: training would not stop")
        self.stopping = StoppingRules(tol=tol, n_iter_no_change=n_iter_no_change,
                                      grad_tol=grad_tol, target=target,
                                      early_stopping=early_stopping, monitor=monitor,
                                      divergence_factor=divergence_factor)
        self.alpha = _checks.non_negative("alpha", alpha)
        self.schedule_interval = _checks.choice("schedule_interval", schedule_interval,
                                                ("epoch", "step"))
        if isinstance(schedule, str):
            horizon = self.epochs if self.schedule_interval == "epoch" else self.max_steps
            schedule = make_schedule(schedule, optimizer, horizon=horizon)
        self.schedule = schedule
        self.clip_norm = _checks.non_negative("clip_norm", clip_norm, allow_none=True)
        self.clip_value = _checks.non_negative("clip_value", clip_value, allow_none=True)
        self.task = infer_task(self.loss, task)
        self.callbacks = [callbacks] if hasattr(callbacks, "on_epoch_end") or hasattr(
            callbacks, "on_step_end") else list(callbacks)
        self.progress, self.record_steps = bool(progress), bool(record_steps)
        self.seed = _checks.integer("seed", seed, low=0, allow_none=True)
        self.comm = SingleProcess() if comm is None else comm
        self.threads = kernel_threads.check_threads(threads)
        self._set_checkpoints(checkpoint_path, checkpoint_every)
        # the state that a checkpoint carries
        self._rng = np.random.default_rng(seed)
        self.counters = Counters()
        self.history = History()
        self._runner = None

    def _set_checkpoints(self, checkpoint_path, checkpoint_every):
        if checkpoint_every is not None and checkpoint_path is None:
            raise ValueError("checkpoint_every needs checkpoint_path")
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = _checks.positive_int("checkpoint_every", checkpoint_every,
                                                     allow_none=True)
        if checkpoint_path is not None and self.checkpoint_every is None:
            self.checkpoint_every = 1

    # ---- what the trainer has done -------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Epochs run so far, over every ``fit`` call."""
        return self.counters.epoch

    @property
    def step(self) -> int:
        """Optimizer steps taken so far, over every ``fit`` call."""
        return self.counters.step

    @property
    def initial_loss(self) -> float | None:
        """The loss of the initial network (the divergence rule's reference), once measured."""
        return self.stopping.initial_loss

    @property
    def loss_kernel(self):
        """The compiled kernels that the last ``fit`` used for the cross-entropy's value,
        gradient and accuracy count (:mod:`gdlab.kernels`), or None (NumPy)."""
        return None if self._runner is None else self._runner.kernel

    @property
    def rows_kernel(self):
        """The compiled gather (``take_rows_`` of :mod:`gdlab.kernels`) that the last ``fit``
        used for a shuffled batch's rows, or None (``np.take``)."""
        return None if self._runner is None else self._runner.take_rows

    # ---- fit ----------------------------------------------------------------------------------
    def fit(self, X, y, *, sample_weight=None, validation_data=None, validation_fraction=0.0,
            epochs=None, max_steps=None, assume_finite=False) -> FitResult:
        """Train until a stopping rule holds; continue from the current state if called again.

        ``epochs``/``max_steps`` override the trainer's limits for this call (``fit(X, y,
        epochs=1)`` runs one more epoch). ``validation_data`` is ``(X_val, y_val)`` or
        ``(X_val, y_val, sample_weight_val)``; ``validation_fraction`` splits that share of the
        training data off instead (stratified for classification, seeded by ``seed``).
        ``assume_finite=True`` skips the NaN/infinity check of ``X``, for a caller that has
        just made it (the estimators).
        """
        if self.stopping.early_stopping and validation_data is None and validation_fraction == 0:
            validation_fraction = 0.1
        data = prepare(self.net, self.loss, self.task, X, y, sample_weight=sample_weight,
                       validation_data=validation_data, validation_fraction=validation_fraction,
                       batch_size=self.batch_size, drop_last=self.drop_last, seed=self.seed,
                       assume_finite=assume_finite)
        self.stopping.start(self.task, data.validation is not None)
        epochs = self.epochs if epochs is None else _checks.positive_int("epochs", epochs)
        max_steps = (self.max_steps if max_steps is None
                     else _checks.positive_int("max_steps", max_steps))
        if epochs is None and max_steps is None:
            raise ValueError("epochs and max_steps cannot both be None: training would not stop")
        end_epoch = None if epochs is None else self.epoch + epochs
        end_step = None if max_steps is None else self.step + max_steps
        with kernel_threads.limit(self.threads):
            return self._run(data, end_epoch, end_step)

    def partial_fit(self, X, y, *, sample_weight=None, validation_data=None) -> FitResult:
        """Exactly one more pass over the data."""
        return self.fit(X, y, sample_weight=sample_weight, validation_data=validation_data,
                        epochs=1, max_steps=None)

    # ---- the epoch loop -------------------------------------------------------------------
    def _run(self, data, end_epoch, end_step):
        step_rules = StepRules(L2Penalty(self.net, self.alpha), self.clip_norm, self.clip_value)
        self._runner = EpochRunner(self.net, self.loss, self.optimizer, self._opt_grads, data,
                                   task=self.task, shuffle=self.shuffle, rules=step_rules,
                                   comm=self.comm, counters=self.counters)
        if self.comm.size > 1:  # every rank starts from rank 0's parameters and buffers
            self.comm.start_fit(self.net, data.n_samples, data.batch_size, self.drop_last)
        rules = self.stopping
        if rules.initial_loss is None and rules.divergence_factor is not None:
            rules.initial_loss = self._measure_initial_loss(data)
        cbs = {name: [getattr(c, name) for c in self.callbacks if overridden(c, name)]
               for name in ("on_train_begin", "on_step_end", "on_epoch_end", "on_train_end")}
        for cb in cbs["on_train_begin"]:
            cb(self, {"epoch": self.epoch, "step": self.step})
        root = self.comm.rank == 0
        bar = ProgressBar(end_epoch, self.epoch) if self.progress and root else None
        # overflow is expected when training diverges: it is detected and reported as a
        # DivergenceError, not as NumPy warnings
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                stop = self._epochs(end_epoch, end_step, cbs, bar, root)
        except KeyboardInterrupt:
            stop = "interrupted"
        finally:
            if bar is not None:
                bar.close()
        if stop is None:
            stop = "max_steps" if end_step is not None and self.step >= end_step else "max_epochs"
        rules.last_stop = stop
        rules.restore_best(self.net)
        result = FitResult(self.history, stop, self.epoch, self.step, rules.best_epoch,
                           rules.best_score, rules.monitor_name)
        for cb in cbs["on_train_end"]:
            cb(self, {"stopped_because": stop, "epoch": self.epoch, "step": self.step})
        return result

    def _measure_initial_loss(self, data):
        # the initial loss only serves the divergence test, whose factor (100) is coarse: an
        # evenly spaced sample of the rows estimates it well and spares a pass over big data
        X, y, w = data.X, data.y, data.w
        if X.shape[0] > INITIAL_LOSS_ROWS:
            k = INITIAL_LOSS_ROWS
            rows = np.arange(k, dtype=np.intp) * (X.shape[0] - 1) // (k - 1)
            X, y, w = X[rows], y[rows], None if w is None else w[rows]
        return metrics.evaluate(self.net, self.loss, self.task, X, y, w)["loss"]

    def _after_step(self, step_callbacks):
        """What runs after each step (per-step schedule, recorded losses, step callbacks), as one
        function, or None when nothing does (the common case costs nothing)."""
        schedule = self.schedule if (self.schedule is not None and self.schedule_interval ==
                                     "step" and not getattr(self.schedule, "needs_metric",
                                                            False)) else None
        record = self.history.step_loss if self.record_steps else None
        if schedule is None and record is None and not step_callbacks:
            return None

        def after_step(value, m, indices):
            if schedule is not None:
                schedule.step()
            if record is not None:
                record.append(value)
            if step_callbacks:
                logs = {"epoch": self.epoch + 1, "step": self.step, "loss": value,
                        "batch_size": m, "indices": indices}
                for cb in step_callbacks:
                    cb(self, logs)

        return after_step

    def _epochs(self, end_epoch, end_step, cbs, bar, root):
        """Run epochs until a rule stops them; returns the reason."""
        after_step = self._after_step(cbs["on_step_end"])
        while True:
            if end_epoch is not None and self.epoch >= end_epoch:
                return "max_epochs"
            if end_step is not None and self.step >= end_step:
                return "max_steps"
            logs = self._runner.run(self._rng, end_step, after_step, self.drop_last)
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
        rules = self.stopping
        rules.check_divergence(logs, self.epoch, self.step)
        stop = rules.after_epoch(logs, self.epoch, self.net)
        if self.schedule is not None:
            if getattr(self.schedule, "needs_metric", False):
                self.schedule.step(rules.monitored(logs))
            elif self.schedule_interval == "epoch":
                self.schedule.step()
        full_logs = dict(logs, epoch=self.epoch, step=self.step)
        for cb in epoch_callbacks:
            if cb(self, full_logs) is True and stop is None:
                stop = "callback"
        return stop

    # ---- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue bit for bit: network (parameters, buffers, random
        streams), optimizer, schedule, shuffling generator, counters, history, patience
        counters and the best weights kept for early stopping."""
        return {
            "format": "gdlab.Trainer",
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": None if self.schedule is None else self.schedule.state_dict(),
            "shuffle_rng": self._rng.bit_generator.state,
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history.as_dict(),
            **self.stopping.state_dict(),
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
        self.counters.epoch, self.counters.step = int(state["epoch"]), int(state["step"])
        self.history = History.from_dict(state["history"])
        self.stopping.load_state_dict(state, self.net)

    def save(self, path, config=None) -> None:
        """Write :meth:`state_dict` to ``path`` atomically (see :mod:`gdlab.training.checkpoint`)."""
        # looked up in the module at each call: the reliability tests wrap it there
        checkpoint.save_checkpoint(path, self.state_dict(), config=config)

    def load(self, path) -> dict | None:
        """Load a checkpoint written by :meth:`save`; returns its ``config``."""
        state, config = checkpoint.load_checkpoint(path)
        self.load_state_dict(state)
        return config


def fit(net, loss, optimizer, X, y, **kwargs) -> FitResult:
    """``Trainer(net, loss, optimizer, **options).fit(X, y, ...)`` in one call.

    ``sample_weight``, ``validation_data``, ``validation_fraction`` and ``assume_finite`` go to
    ``fit``; every other keyword to :class:`Trainer`.
    """
    fit_kwargs = {k: kwargs.pop(k) for k in _FIT_KWARGS if k in kwargs}
    return Trainer(net, loss, optimizer, **kwargs).fit(X, y, **fit_kwargs)
