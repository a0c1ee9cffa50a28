"""One playground run as plain gdlab code, in the thread that calls it.

A checked configuration (:mod:`gdlab.playground.config`) becomes toy data
(:func:`gdlab.data.toy.make_toy`), an MLP (:func:`gdlab.mlp`), an optimizer from the
registry (:func:`gdlab.optim.make_optimizer`) and a :class:`gdlab.Trainer` that runs
``max_steps`` optimizer steps, with the :class:`StepRecorder` callback writing the history the
page draws. The server's run threads call exactly this, so a run's history is reproducible,
bit for bit, from its configuration alone::

    from gdlab.playground.experiment import train
    result = train({"dataset": "spirals", "layers": [16, 16], "max_steps": 3000})
    result["history"][-1]      # {"step": 3000, "loss": ..., "accuracy": ..., ...}

Everything is seeded by ``config["seed"]``: the points, the initial weights, dropout and the
order of the batches. The network and the optimizer run NumPy's code (``fast=False``): the
textbook path, the same bits whether or not gdlab's compiled kernels are installed.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import numpy as np

from gdlab.data.toy import ToyData, make_toy
from gdlab.errors import DivergenceError
from gdlab.nn.layers import Dense
from gdlab.nn.sequential import Sequential, mlp
from gdlab.optim.registry import optimizer_entry
from gdlab.playground.config import check_config, optimizer_arguments
from gdlab.training import metrics
from gdlab.training.callbacks import Callback
from gdlab.training.trainer import Trainer

#: points per side of the decision-boundary grid, and of the regression curve
GRID_RESOLUTION, CURVE_POINTS = 64, 200


class StepRecorder(Callback):
    """Records the run's history: an entry at step 0, every ``every`` steps and at the end.

    ``data`` is the :class:`~gdlab.data.ToyData` the trainer fits; ``steps_per_epoch`` (for
    the ``epoch`` of each entry) defaults to the trainer's batches per pass over ``data.X``.

    Each entry is ``{"step", "epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr",
    "grad_norms", "batch_loss"}``: ``loss`` and ``accuracy`` measured on the whole training set
    (evaluation mode, without the L2 penalty), ``val_*`` on the validation set (None without
    one; accuracies None for regression), ``epoch`` the passes over the training data so far
    (a fraction between epochs), ``lr`` the optimizer's current rate, ``grad_norms`` the norm
    of each Dense layer's gradient (weights and bias, input layer first) at the latest step,
    and ``batch_loss`` that step's loss on its batch as the trainer saw it (penalty included).
    At step 0 there is no step yet: ``grad_norms`` and ``batch_loss`` are None.
    """

    def __init__(self, data: ToyData, every: int, steps_per_epoch: int | None = None):
        self.data, self.every = data, int(every)
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)
        self.history: list[dict] = []
        self._batch_loss = None
        self._sets = None

    def on_train_begin(self, trainer, logs):
        if self.steps_per_epoch is None:  # the trainer's batches of the training set
            k = trainer.batch_size
            self.steps_per_epoch = 1 if k == "full" else -(-len(self.data.X) // k)
        if not self.history:
            self.record(trainer)

    def on_step_end(self, trainer, logs):
        self._batch_loss = logs["loss"]
        if trainer.step % self.every == 0:
            self.record(trainer)

    def on_train_end(self, trainer, logs):
        if self.history and self.history[-1]["step"] != trainer.step:
            self.record(trainer)

    def record(self, trainer) -> dict:
        """Measure the network now and append the entry."""
        net, task = trainer.net, trainer.task
        if self._sets is None:  # the data as the trainer sees it: in the network's dtype
            data, cast = self.data, (lambda y: y if task == "classification" else y.astype(net.dtype))
            self._sets = [(data.X.astype(net.dtype), cast(data.y))]
            if len(data.X_val):
                self._sets.append((data.X_val.astype(net.dtype), cast(data.y_val)))
        train, *val = [metrics.evaluate(net, trainer.loss, task, X, y, None) for X, y in self._sets]
        val = val[0] if val else {}
        step = trainer.step
        entry = {
            "step": step, "epoch": step / self.steps_per_epoch,
            "loss": float(train["loss"]), "val_loss": _float(val.get("loss")),
            "accuracy": _float(train.get("accuracy")), "val_accuracy": _float(val.get("accuracy")),
            "lr": float(trainer.optimizer.lr),
            "grad_norms": layer_gradient_norms(net) if step else None,
            "batch_loss": _float(self._batch_loss) if step else None,
        }
        self.history.append(entry)
        return entry


def _float(value):
    return None if value is None else float(value)


def layer_gradient_norms(net: Sequential) -> list[float]:
    """The Euclidean norm of each Dense layer's gradient (weights and bias), in float64, input
    layer first: where gradients vanish or explode, these differ by orders of magnitude."""
    norms = []
    for layer in net.layers:
        if isinstance(layer, Dense):
            total = float(np.dot(layer.dW.ravel(), layer.dW.ravel().astype(np.float64)))
            if layer.bias:
                total += float(np.dot(layer.db, layer.db.astype(np.float64)))
            norms.append(math.sqrt(total))
    return norms


@dataclass(eq=False)
class Experiment:
    """A run's parts, built and ready: :meth:`run` trains in the calling thread."""

    config: dict
    data: ToyData
    net: Sequential
    trainer: Trainer
    recorder: StepRecorder

    def run(self):
        """Train until ``max_steps`` (or an interrupt); returns the trainer's FitResult and
        raises :class:`gdlab.DivergenceError` when training diverges."""
        data = self.data
        return self.trainer.fit(data.X, data.y, validation_data=data.validation_data)


def build_experiment(config, callbacks=()) -> Experiment:
    """The data, network, optimizer and trainer of ``config`` (checked and completed first,
    a :class:`~gdlab.playground.config.ConfigError` if it cannot run). ``callbacks`` run after
    the recorder at every step."""
    config = check_config(config)
    data = make_toy(config["dataset"], config["n_samples"], config["noise"],
                    val_size=config["val_size"], seed=config["seed"])
    classify = data.task == "classification"
    net = mlp(data.n_features, config["layers"], 2 if classify else 1,
              activation=config["activation"], batchnorm=config["batchnorm"],
              dropout=config["dropout"], seed=config["seed"], fast=False)
    entry = optimizer_entry(config["optimizer"])
    kwargs = optimizer_arguments(config)
    if entry.has_kernel:
        kwargs["fast"] = False
    optimizer = entry([net.flat_parameters], **kwargs)
    recorder = StepRecorder(data, config["record_every"])
    trainer = Trainer(net, "cross_entropy" if classify else "mse", optimizer,
                      batch_size=config["batch_size"], epochs=None, max_steps=config["max_steps"], tol=None,
                      alpha=config["alpha"], clip_norm=config["clip_norm"],
                      schedule=config["schedule"], schedule_interval="step",
                      seed=config["seed"], callbacks=[recorder, *callbacks])
    return Experiment(config, data, net, trainer, recorder)


def train(config) -> dict:
    """Train ``config`` in this thread: ``{"status": "done" | "diverged", "step", "history",
    "diverged"}``, the same record the server's ``GET /api/runs/{id}`` gives for the run."""
    experiment = build_experiment(config)
    diverged = None
    try:
        experiment.run()
    except DivergenceError as exc:
        diverged = divergence_record(exc)
    return {"status": "diverged" if diverged else "done", "step": experiment.trainer.step,
            "history": experiment.recorder.history, "diverged": diverged}


def divergence_record(exc: DivergenceError) -> dict:
    """Where and why a run diverged: ``{"step", "epoch", "lr", "message"}``."""
    return {"step": exc.step, "epoch": exc.epoch, "lr": exc.lr, "message": str(exc)}


def predict_grid(net: Sequential, task: str, extent, resolution=GRID_RESOLUTION) -> dict:
    """What the network predicts over the page's box ``extent = [x0, x1, y0, y1]``.

    Classification: ``{"values": array (resolution, resolution)}``, the probability of class 1
    at the centres of a square grid of cells, rows from the top (``y1``) down, columns left to
    right. Regression: ``{"x": array, "y": array}``, the predicted curve at ``CURVE_POINTS``
    points from ``x0`` to ``x1``. See :func:`grid_to_json` for the wire forms."""
    x0, x1, y0, y1 = (float(v) for v in extent)
    if task == "regression":
        xs = np.linspace(x0, x1, CURVE_POINTS)
        return {"x": xs, "y": net.predict(xs[:, None])[:, 0].astype(np.float64)}
    n = int(resolution)
    cx = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    cy = y1 - (np.arange(n) + 0.5) * (y1 - y0) / n
    gx, gy = np.meshgrid(cx, cy)
    logits = net.predict(np.column_stack([gx.ravel(), gy.ravel()])).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        p1 = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))
    p1 = np.where(np.isfinite(p1), p1, 0.5)  # a diverged network's NaN logits: undecided
    return {"values": p1.reshape(n, n)}


def grid_to_json(grid: dict, compact=False) -> dict:
    """:func:`predict_grid`'s arrays as JSON: ``values`` as rows of probabilities rounded to
    4 decimals, or with ``compact=True`` (the live stream) as ``values_u8``, the base64 of one
    byte per cell, ``round(255 p)``, row by row, with ``shape``. A curve is ``x`` and ``y``."""
    if "x" in grid:
        return {"x": grid["x"].tolist(), "y": grid["y"].tolist()}
    values = grid["values"]
    if not compact:
        return {"values": np.round(values, 4).tolist()}
    packed = np.round(values * 255).astype(np.uint8).tobytes()
    return {"values_u8": base64.b64encode(packed).decode("ascii"), "shape": list(values.shape)}
