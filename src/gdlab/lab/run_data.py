"""The data and model of a run: load, split and standardise the dataset
(:class:`PreparedData`), build the network, loss, optimizer and trainer of a configuration,
and evaluate the result in the target's own units."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdlab.data.datasets import load_dataset
from gdlab.data.split import split, standardize
from gdlab.distributed.syncbn import convert_sync_batchnorm
from gdlab.nn.losses import CrossEntropyLoss, MSELoss
from gdlab.nn.penalty import L2Penalty
from gdlab.nn.sequential import mlp
from gdlab.optim.registry import optimizer_entry
from gdlab.schedules.spec import make_schedule
from gdlab.training.trainer import Trainer


@dataclass
class PreparedData:
    """The split, scaled arrays of a run and what the CLI says about them."""

    name: str
    task: str
    task_note: str
    classes: list | None
    n_features: int
    n_outputs: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray          # original units (regression)
    y_mean: float = 0.0         # regression target scaling (train statistics)
    y_scale: float = 1.0


def prepare_data(config: dict) -> PreparedData:
    """Load, check, split and standardise the data of ``config`` (ValueError for bad data)."""
    task = None if config["task"] == "auto" else config["task"]
    ds = load_dataset(config["dataset"], target=config["target"], data_dir=config["data_dir"],
                      task=task, n_samples=config.get("n_samples"), noise=config.get("noise"),
                      seed=int(config["seed"]))
    if ds.n_samples == 0:
        raise ValueError(f"dataset {ds.name!r} is empty: no samples")
    if ds.task == "classification":
        if ds.n_classes < 2:
            raise ValueError(f"the target of {ds.name!r} has a single class "
                             f"({ds.classes[0]!r}); classification needs at least two")
        note = (f"classification ({ds.n_classes} classes)" if task else
                f"classification (auto: the target holds {ds.n_classes} distinct labels, "
                "not fractional values)")
    else:
        note = "regression" if task else "regression (auto: the target has fractional values)"
    dtype = np.dtype(config["dtype"])
    parts = split(ds.X, ds.y, test_size=config["test_size"], val_size=config["val_size"],
                  task=ds.task, seed=int(config["seed"]))
    _, X_train, X_val, X_test = standardize(parts.X_train, parts.X_val, parts.X_test,
                                            dtype=dtype)
    y_train, y_val, y_test = parts.y_train, parts.y_val, parts.y_test
    y_mean, y_scale = 0.0, 1.0
    if ds.task == "regression":
        y_mean = float(np.mean(y_train))
        y_scale = float(np.std(y_train)) or 1.0
        y_train = ((y_train - y_mean) / y_scale).astype(dtype).reshape(-1, 1)
        y_val = ((y_val - y_mean) / y_scale).astype(dtype).reshape(-1, 1)
    n_outputs = ds.n_classes if ds.task == "classification" else 1
    return PreparedData(ds.name, ds.task, note, ds.classes, ds.n_features, n_outputs,
                        X_train, y_train, X_val, y_val, X_test, y_test, y_mean, y_scale)


def build_network(config: dict, data: PreparedData):
    """The MLP of ``config`` for ``data``; its initial weights depend only on the seed."""
    return mlp(data.n_features, config["layers"], data.n_outputs, config["activation"],
               init=config["init"], batchnorm=config["batchnorm"], dropout=config["dropout"],
               dtype=config["dtype"], seed=int(config["seed"]))


def check_batch_size(batch_size, n_train: int) -> None:
    if batch_size != "full" and batch_size > n_train:
        raise ValueError(f"batch size {batch_size} is larger than the {n_train} training "
                         "samples; use --batch-size full for batch gradient descent")


def build_loss(task: str):
    return CrossEntropyLoss() if task == "classification" else MSELoss()


def build_optimizer(config: dict, params):
    """``make_optimizer`` with the options of ``config`` that the optimizer takes."""
    name = config["optimizer"]
    entry = optimizer_entry(name)
    kwargs = {"lr": config["lr"]}
    for key, flag in (("momentum", "--momentum"), ("weight_decay", "--weight-decay")):
        if config.get(key) is None:
            continue
        if not entry.accepts(key):
            raise ValueError(f"{flag} does not apply to the {name} optimizer")
        kwargs[key] = config[key]
    return entry(params, **kwargs)


def build_trainer(config: dict, data: PreparedData, *, progress=False, comm=None,
                  checkpoint_path=None, callbacks=()):
    """Network, loss, optimizer, schedule and :class:`~gdlab.training.Trainer` of a run."""
    net = build_network(config, data)
    if config.get("sync_batchnorm") and comm is not None and comm.size > 1:
        convert_sync_batchnorm(net, comm)
    optimizer = build_optimizer(config, net.parameters())
    schedule = None
    if config["schedule"]:
        schedule = make_schedule(config["schedule"], optimizer,
                                 horizon=int(config.get("schedule_horizon") or config["epochs"]))
    return Trainer(
        net, build_loss(data.task), optimizer,
        batch_size=config["batch_size"], epochs=int(config["epochs"]),
        tol=config["tol"], n_iter_no_change=int(config["patience"]),
        early_stopping=bool(config["early_stopping"]),
        monitor="val_loss" if config["early_stopping"] else "loss",
        alpha=float(config["alpha"]), schedule=schedule, task=data.task,
        clip_norm=config.get("clip_norm"), clip_value=config.get("clip_value"),
        callbacks=tuple(callbacks), progress=progress, seed=int(config["seed"]), comm=comm,
        checkpoint_path=checkpoint_path, checkpoint_every=config["checkpoint_every"],
    )


def evaluate(trainer, data: PreparedData, config: dict) -> dict:
    """Test metrics and the final training loss (the objective, ``alpha`` penalty included)."""
    net, loss = trainer.net, trainer.loss
    out = {}
    train_out = net.predict(data.X_train)
    final = float(loss(train_out, data.y_train))
    final += L2Penalty(net, float(config["alpha"])).value(len(data.X_train))
    out["final_loss"] = final
    if data.task == "classification":
        out["train_accuracy"] = float(np.mean(np.argmax(train_out, axis=1) == data.y_train))
    pred = net.predict(data.X_test)
    if data.task == "classification":
        out["test_accuracy"] = float(np.mean(np.argmax(pred, axis=1) == data.y_test))
    else:
        values = pred[:, 0].astype(np.float64) * data.y_scale + data.y_mean
        err = values - data.y_test
        out["test_mse"] = float(np.mean(err * err))
        total = float(np.sum((data.y_test - data.y_test.mean()) ** 2))
        out["test_r2"] = 1.0 - float(np.sum(err * err)) / total if total > 0 else math.nan
    return out
