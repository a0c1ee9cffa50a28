"""The data and model of a run: load, split and preprocess the dataset
(:class:`PreparedData`), and build the network, loss, optimizer and trainer of a
configuration. The run's metrics are :mod:`gdlab.lab.run_metrics`'s."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdlab.data.datasets import load_dataset
from gdlab.data.split import split
from gdlab.distributed.syncbn import convert_sync_batchnorm
from gdlab.nn.losses import CrossEntropyLoss, MSELoss
from gdlab.nn.sequential import mlp
from gdlab.optim.registry import optimizer_entry
from gdlab.schedules.spec import make_schedule
from gdlab.training.trainer import Trainer


@dataclass
class PreparedData:
    """The split, preprocessed arrays of a run and what the run says about them.

    ``preprocessor`` is the fitted scikit-learn Pipeline that turned the rows into ``X_*``
    (:mod:`gdlab.data.preprocess`); ``kinds`` the feature columns' kinds (None for an array
    dataset); ``missing`` the cells imputation filled per column; ``notes`` rows dropped.
    ``X_val``/``X_test`` (and their ``y``) are None when ``val_size``/``test_size`` is 0.
    """

    name: str
    task: str
    task_note: str
    classes: list | None
    n_features: int
    n_outputs: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None   # original units (regression)
    y_mean: float = 0.0         # regression target scaling (train statistics)
    y_scale: float = 1.0
    target: str | None = None
    feature_names: list = field(default_factory=list)
    kinds: dict | None = None
    preprocessor: object = None
    missing: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    w_train: np.ndarray | None = None  # a dataset folder's w.npy, its training rows


def prepare_data(config: dict) -> PreparedData:
    """Load, check, split and preprocess the data of ``config`` (ValueError for bad data)."""
    from gdlab.data.preprocess import make_preprocessor

    task = None if config["task"] == "auto" else config["task"]
    ds = load_dataset(config["dataset"], target=config["target"], data_dir=config["data_dir"],
                      task=task, features=config.get("features"), drop=config.get("drop"),
                      missing=config.get("missing", "impute"), n_samples=config.get("n_samples"),
                      noise=config.get("noise"), seed=int(config["seed"]))
    if ds.n_samples == 0:
        raise ValueError(f"dataset {ds.name!r} is empty: no samples")
    if ds.task == "classification" and len(np.unique(ds.y)) < 2 and ds.on_disk:
        raise ValueError(f"y.npy of '{ds.source}' holds a single class; classification "
                         "needs at least two")
    if ds.task == "classification" and ds.n_classes < 2:
        dropped = " (once the rows without a target were dropped)" if ds.notes else ""
        raise ValueError(f"the target \"{ds.target}\" of '{ds.source}' has a single class "
                         f"({ds.classes[0]!r}){dropped}; classification needs at least two")
    note = f'target "{ds.target}": {ds.task} ({ds.task_reason})'
    dtype = np.dtype(config["dtype"])
    parts = split(np.arange(ds.n_samples), ds.y, test_size=config["test_size"],
                  val_size=config["val_size"], task=ds.task, seed=int(config["seed"]))
    rows = [parts.X_train, parts.X_val, parts.X_test]
    kinds, names = ds.kinds, list(ds.feature_names)
    if ds.on_disk:
        pre, (X_train, X_val, X_test), kinds, names = disk_parts(ds, rows, dtype)
    else:
        X_train, X_val, X_test = (None if r is None else _rows(ds.X, r) for r in rows)
        if ds.is_table:
            _check_training_columns(X_train, ds.name)
        pre = make_preprocessor(ds.kinds)
        X_train = pre.fit_transform(X_train).astype(dtype, copy=False)
        X_val, X_test = (None if X is None else pre.transform(X).astype(dtype, copy=False)
                         for X in (X_val, X_test))
    y_train, y_val, y_test = parts.y_train, parts.y_val, parts.y_test
    y_mean, y_scale = 0.0, 1.0
    if ds.task == "regression":
        y_mean = float(np.mean(y_train))
        y_scale = float(np.std(y_train)) or 1.0
        y_train = ((y_train - y_mean) / y_scale).astype(dtype).reshape(-1, 1)
        if y_val is not None:
            y_val = ((y_val - y_mean) / y_scale).astype(dtype).reshape(-1, 1)
    n_outputs = ds.n_classes if ds.task == "classification" else 1
    w_train = None if ds.sample_weight is None else np.asarray(ds.sample_weight)[parts.X_train]
    return PreparedData(ds.name, ds.task, note, ds.classes, X_train.shape[1], n_outputs,
                        X_train, y_train, X_val, y_val, X_test, y_test, y_mean, y_scale,
                        target=ds.target, feature_names=names,
                        kinds=kinds, preprocessor=pre, missing=ds.missing, notes=ds.notes,
                        w_train=w_train)


def disk_parts(ds, rows, dtype):
    """A dataset folder's preprocessing and its train/validation/test parts as
    :class:`gdlab.data.ondisk.ScaledRows` (index arrays into the map, standardised on the way
    out), the raw columns' kinds (a converted table, else None) and the feature names.

    The scaling is the folder's recorded one, or else scikit-learn's StandardScaler fitted
    on the training rows in chunks (:func:`gdlab.data.ondisk.streaming_scaler`)."""
    from gdlab.data import ondisk
    from gdlab.data.preprocess import preprocessor_from_record

    folder, d = ds.folder, ds.n_features
    scaling = ondisk.folder_scaling(folder, d)
    if scaling is None:
        scaler = ondisk.streaming_scaler(ds.X, _all_or(rows[0], ds.n_samples))
        stats = {"mean": scaler.mean_, "var": scaler.var_, "scale": scaler.scale_,
                 "n_samples_seen": int(np.max(scaler.n_samples_seen_))}
        scaling = (scaler.mean_, scaler.scale_)
    elif "scaling" in folder:
        stats = {"mean": scaling[0], "scale": scaling[1],
                 "var": folder["scaling"].get("var", scaling[1] ** 2),
                 "n_samples_seen": int(folder["scaling"].get("n_samples_seen", ds.n_samples))}
    record = folder.get("preprocessing") or {
        "kind": "array", "numbers": {"columns": list(ds.feature_names), **stats},
        "columns": [{"name": n, "kind": "number"} for n in ds.feature_names]}
    pre = preprocessor_from_record(record)
    kinds = names = None
    if record["kind"] == "table":
        kinds = {c["name"]: c["kind"] for c in record["columns"]}
        names = list(kinds)
    parts = [None if r is None else ondisk.ScaledRows(ds.X, _all_or(r, ds.n_samples),
                                                      *scaling, dtype=dtype) for r in rows]
    return pre, parts, kinds, names or list(ds.feature_names)


def _all_or(rows, n):
    """None (every row, in order) when ``rows`` is 0..n-1, else ``rows``."""
    return None if len(rows) == n and np.array_equal(rows, np.arange(n)) else rows


def _rows(X, index):
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def _check_training_columns(frame, name) -> None:
    """Every feature column needs a value in the training part, to learn its fill value."""
    empty = [c for c in frame.columns if frame[c].isna().all()]
    if empty:
        raise ValueError(f'column "{empty[0]}" of {name!r} has no value in the training part '
                         f"of the split; leave it out with --drop {empty[0]}")


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
