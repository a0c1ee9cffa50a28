"""The ``gdlab train`` job as a library function: :func:`run_training`.

A *run* is a folder holding ``config.json`` (written as soon as training starts),
``checkpoint*`` files, and at the end ``metrics.json``, ``history.csv``, ``loss.png`` and
``accuracy.png`` (classification). The same configuration and seed give the same run: the
data split, the initial weights and the shuffling all derive from ``config["seed"]``.

The data path: load (:func:`gdlab.data.load_dataset`), split stratified into train 70 %,
validation 10 % and test 20 %, standardise features with the training part's statistics
(regression targets too; losses are then in standardised units, test errors in the target's
own units), build an MLP, train it with :class:`gdlab.training.Trainer`, evaluate.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: every key of a run's configuration, with the ``gdlab train`` defaults
DEFAULT_CONFIG = {
    "dataset": "digits", "target": None, "data_dir": None, "task": "auto",
    "layers": [64], "activation": "relu", "batchnorm": False, "dropout": 0.0, "init": None,
    "dtype": "float32",
    "optimizer": "adam", "lr": 1e-3, "momentum": None, "weight_decay": None, "alpha": 0.0,
    "schedule": None, "batch_size": 32, "clip_norm": None, "clip_value": None,
    "epochs": 200, "tol": 1e-4, "patience": 10, "early_stopping": False,
    "seed": 0, "checkpoint_every": 10, "workers": 1, "sync_batchnorm": False,
    "test_size": 0.2, "val_size": 0.1,
}

CONFIG_FILE, METRICS_FILE, HISTORY_FILE = "config.json", "metrics.json", "history.csv"
CHECKPOINT_FILE = "checkpoint.npz"
#: files a run writes; --force removes them before a different run takes the folder
RUN_FILES = (CONFIG_FILE, METRICS_FILE, HISTORY_FILE, "loss.png", "accuracy.png")


def make_config(**overrides) -> dict:
    """A complete configuration: the defaults with ``overrides``; unknown keys are an error."""
    unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown configuration key(s) {unknown}; known: "
                         f"{sorted(DEFAULT_CONFIG)}")
    config = dict(DEFAULT_CONFIG)
    config.update(overrides)
    config["layers"] = [int(h) for h in config["layers"]]
    return config


def fresh_run_dir(kind: str = "train", root="runs") -> Path:
    """A new folder name ``runs/<kind>-YYYYmmdd-HHMMSS[-k]`` that does not exist yet."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{kind}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path


# ---- data and model ----------------------------------------------------------------------------

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
    from gdlab.data import load_dataset, split, standardize

    task = None if config["task"] == "auto" else config["task"]
    ds = load_dataset(config["dataset"], target=config["target"], data_dir=config["data_dir"],
                      task=task)
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
    from gdlab.nn.sequential import mlp

    return mlp(data.n_features, config["layers"], data.n_outputs, config["activation"],
               init=config["init"], batchnorm=config["batchnorm"], dropout=config["dropout"],
               dtype=config["dtype"], seed=int(config["seed"]))


def check_batch_size(batch_size, n_train: int) -> None:
    if batch_size != "full" and batch_size > n_train:
        raise ValueError(f"batch size {batch_size} is larger than the {n_train} training "
                         "samples; use --batch-size full for batch gradient descent")


def build_loss(task: str):
    from gdlab.nn.losses import CrossEntropyLoss, MSELoss

    return CrossEntropyLoss() if task == "classification" else MSELoss()


def build_optimizer(config: dict, params):
    """``make_optimizer`` with the options of ``config`` that the optimizer takes."""
    import inspect

    from gdlab.optim import OPTIMIZERS, make_optimizer

    name = config["optimizer"]
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known names: {', '.join(OPTIMIZERS)}")
    accepted = inspect.signature(OPTIMIZERS[name]).parameters
    kwargs = {"lr": config["lr"]}
    for key, flag in (("momentum", "--momentum"), ("weight_decay", "--weight-decay")):
        if config.get(key) is None:
            continue
        if key not in accepted:
            raise ValueError(f"{flag} does not apply to the {name} optimizer")
        kwargs[key] = config[key]
    return make_optimizer(name, params, **kwargs)


def build_trainer(config: dict, data: PreparedData, *, progress=False, comm=None,
                  checkpoint_path=None, callbacks=()):
    """Network, loss, optimizer, schedule and :class:`~gdlab.training.Trainer` of a run."""
    from gdlab.training import Trainer

    net = build_network(config, data)
    if config.get("sync_batchnorm") and comm is not None and comm.size > 1:
        from gdlab.distributed import convert_sync_batchnorm

        convert_sync_batchnorm(net, comm)
    optimizer = build_optimizer(config, net.parameters())
    schedule = None
    if config["schedule"]:
        from gdlab.schedules import make_schedule

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


# ---- evaluation ----------------------------------------------------------------------------

def evaluate(trainer, data: PreparedData, config: dict) -> dict:
    """Test metrics and the final training loss (the objective, ``alpha`` penalty included)."""
    net, loss = trainer.net, trainer.loss
    out = {}
    train_out = net.predict(data.X_train)
    final = float(loss(train_out, data.y_train))
    alpha = float(config["alpha"])
    if alpha:
        weights = [p for name, p in zip(net.parameter_names(), net.parameters())
                   if name.startswith("W")]
        final += alpha / (2 * len(data.X_train)) * float(sum(np.sum(w * w) for w in weights))
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


# ---- outputs -------------------------------------------------------------------------------

def write_json(path: Path, obj) -> None:
    """Write JSON atomically (temp file then rename), NaN written as null."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(obj), indent=2) + "\n")
    tmp.replace(path)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_history_csv(path: Path, history: dict) -> None:
    """One row per epoch: ``epoch`` then every per-epoch key of the history."""
    preferred = ["loss", "val_loss", "accuracy", "val_accuracy", "mse", "val_mse", "r2",
                 "val_r2", "lr", "grad_norm", "time"]
    present = [k for k in history if k != "step_loss"]
    keys = [k for k in preferred if k in present] + sorted(set(present) - set(preferred))
    n = max((len(history[k]) for k in keys), default=0)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", *keys])
        for i in range(n):
            w.writerow([i + 1, *(_cell(history[k][i]) for k in keys)])


def _cell(v):
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))


def write_plots(out: Path, history: dict, task: str, dataset: str) -> list[Path]:
    from gdlab.report import plots

    loss_name = "cross-entropy" if task == "classification" else "MSE, standardised target"
    paths = [plots.save(plots.loss_figure(history, loss_name=loss_name, dataset=dataset),
                        out / "loss.png")]
    if task == "classification":
        paths.append(plots.save(plots.accuracy_figure(history, dataset=dataset),
                                out / "accuracy.png"))
    return paths


# ---- the job ---------------------------------------------------------------------------------

class _EpochSnapshot:
    """Keeps the trainer's state at the end of the latest epoch (for an interrupt)."""

    state = None

    def on_epoch_end(self, trainer, logs):
        self.state = trainer.state_dict()
        return False


def _saved_config(path: Path) -> dict:
    """The configuration of the run to resume, or a RunFolderError naming the file."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(f"cannot resume: {path} is unreadable ({exc})") from None
    if not isinstance(saved, dict) or isinstance(saved.get("epochs"), bool) or not isinstance(
            saved.get("epochs"), int) or saved["epochs"] < 1:
        raise RunFolderError(f"cannot resume: {path} is not a gdlab run configuration "
                             "(no positive 'epochs')")
    horizon = saved.get("schedule_horizon", saved["epochs"])
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise RunFolderError(f"cannot resume: {path} has an invalid schedule_horizon "
                             f"{horizon!r}")
    return saved


class RunFolderError(ValueError):
    """--out names a folder holding a different run, or --resume a folder without one."""


def _same_run(a: dict, b: dict) -> bool:
    keys = set(DEFAULT_CONFIG) - {"epochs", "checkpoint_every"}
    return all(_jsonable(a.get(k)) == _jsonable(b.get(k)) for k in keys)


def check_folder(out: Path, config: dict, *, force: bool) -> None:
    """Refuse to start a fresh run of ``config`` in a folder holding a different run."""
    old = out / CONFIG_FILE
    if old.exists():
        try:
            saved = json.loads(old.read_text())
        except (OSError, ValueError):
            saved = None
        if not force and (saved is None or not _same_run(saved, config)):
            raise RunFolderError(
                f"'{out}' holds a different run (see its {CONFIG_FILE}); choose another --out, "
                "--resume it, or add --force to overwrite it")
    elif not force and out.is_dir():
        # not a gdlab run (no config.json): never overwrite files that happen to share the
        # names of a run's outputs
        taken = [f for f in (*RUN_FILES, CHECKPOINT_FILE) if (out / f).exists()]
        if taken:
            raise RunFolderError(f"'{out}' already holds {', '.join(taken)}; choose another "
                                 "--out or add --force to overwrite")


def clear_folder(out: Path) -> None:
    """Create ``out`` and remove a previous run's files (its checkpoint included), and only
    those: other files in the folder are the user's."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (*RUN_FILES, CHECKPOINT_FILE):
        if (out / name).is_file():
            (out / name).unlink()


def run_training(config: dict, out=None, *, resume: bool = False, force: bool = False,
                 progress: bool = False, comm=None, log=print, on_start=None,
                 callbacks=()) -> dict:
    """Train as ``gdlab train`` does and write the run folder; return the metrics dict.

    ``out``: the run folder (default: a fresh one under ``runs/``). ``resume=True`` continues
    the run in ``out`` from its last checkpoint with the saved configuration (only a larger
    ``config["epochs"]`` is taken from ``config``); a run without a checkpoint restarts from
    the beginning and a finished run only has its outputs rewritten. ``comm``: a
    :class:`gdlab.distributed.Communicator` for data-parallel training (only rank 0 writes).
    ``log`` receives the lines to print (``None``: silent); ``on_start(out)`` is called once
    the folder and ``config.json`` exist. ``callbacks`` go to the trainer (after the one
    that keeps the state of the last whole epoch for an interrupt).

    Raises ValueError/TypeError for bad configurations and data, and
    :class:`gdlab.errors.DivergenceError` (with the epoch, step and a hint) if training
    diverges; the last checkpoint is then left as it was. If interrupted (KeyboardInterrupt,
    also raised by the CLI for SIGTERM) it stops at a step boundary, writes a checkpoint and
    returns metrics with ``stopped_because == "interrupted"``.
    """
    from gdlab.errors import CheckpointError, DivergenceError
    from gdlab.training.checkpoint import load_checkpoint, save_checkpoint

    log = log or (lambda *a, **k: None)
    workers = int(config.get("workers", 1))
    root = comm is None or comm.rank == 0
    if workers > 1 and comm is None:
        # THE DISTRIBUTED HOOK: N > 1 workers are started by the MPI runner, which calls
        # run_training(config, out, comm=<MPI communicator>) in each process.
        raise ValueError("--workers > 1 needs the distributed runner")

    state, meta = None, {}
    if resume:
        if out is None:
            raise ValueError("resume needs the run folder")
        out = Path(out)
        if not (out / CONFIG_FILE).is_file():
            raise RunFolderError(f"no run to resume in '{out}': {CONFIG_FILE} is missing")
        saved = _saved_config(out / CONFIG_FILE)
        epochs = int(config.get("epochs") or saved["epochs"])
        if epochs < saved["epochs"]:
            raise ValueError(f"--epochs {epochs} is below the run's {saved['epochs']}; on "
                             "resume --epochs may only be raised")
        saved.setdefault("schedule_horizon", saved["epochs"])
        try:
            config = make_config(**{k: v for k, v in saved.items() if k in DEFAULT_CONFIG})
        except (ValueError, TypeError) as exc:
            raise RunFolderError(f"{out / CONFIG_FILE} holds an invalid configuration: "
                                 f"{exc}") from None
        config["schedule_horizon"] = saved["schedule_horizon"]
        config["epochs"] = epochs
        checkpoint = out / CHECKPOINT_FILE
        if checkpoint.exists():
            state, meta = load_checkpoint(checkpoint)
            meta = meta or {}
            if not isinstance(state, dict) or not isinstance(meta, dict) or not isinstance(
                    state.get("epoch"), int):
                raise CheckpointError(f"checkpoint {checkpoint} does not hold a gdlab "
                                      "training state")
            log(f"resuming '{out}' from its checkpoint at epoch {state['epoch']}")
        else:
            log(f"'{out}' has no checkpoint yet: restarting the run from the beginning")
    else:
        config = make_config(**{k: v for k, v in config.items() if k != "schedule_horizon"})
        out = Path(out) if out is not None else fresh_run_dir("train")
        if root:
            check_folder(out, config, force=force)

    data = prepare_data(config)
    log(f"data: {data.name}, {len(data.X_train)} train / {len(data.X_val)} validation / "
        f"{len(data.X_test)} test samples, {data.n_features} features")
    log(f"task: {data.task_note}")
    checkpoint = out / CHECKPOINT_FILE
    snapshot = _EpochSnapshot()
    # built (and so validated) before anything is written into the folder
    trainer = build_trainer(config, data, progress=progress, comm=comm,
                            checkpoint_path=checkpoint,  # the trainer writes on rank 0 only
                            callbacks=(snapshot, *callbacks))
    check_batch_size(config["batch_size"], len(data.X_train))
    if state is not None:
        try:
            trainer.load_state_dict(state)
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {checkpoint} does not fit the run's "
                                  f"configuration in {out / CONFIG_FILE}: {exc}") from None
    if root:
        if not resume:
            clear_folder(out)
        write_json(out / CONFIG_FILE, config)
        if on_start:
            on_start(out)
    finished = False
    if state is not None:
        finished = bool(meta.get("finished")) and not (
            meta.get("stopped_because") == "max_epochs" and config["epochs"] > trainer.epoch)

    stopped = meta.get("stopped_because")
    remaining = config["epochs"] - trainer.epoch
    if not finished and remaining <= 0:
        finished, stopped = True, stopped or "max_epochs"
    if not finished:
        try:
            result = trainer.fit(data.X_train, data.y_train,
                                 validation_data=(data.X_val, data.y_val), epochs=remaining)
        except DivergenceError as exc:
            if root and snapshot.state is not None:
                # the state at the end of the last whole epoch is the last good one: keep it
                save_checkpoint(checkpoint, snapshot.state,
                                config={"finished": False, "stopped_because": "diverged"})
            kept = (f"; the last good checkpoint stays in '{checkpoint}'"
                    if checkpoint.exists() else "")
            raise DivergenceError(f"{exc}{kept}", epoch=exc.epoch, step=exc.step,
                                  lr=exc.lr) from exc
        stopped = result.stopped_because
        if stopped == "interrupted":
            # The live state may be mid-epoch (even mid-step); the state at the end of the
            # last completed epoch resumes exactly, so that is what the checkpoint holds.
            if root and snapshot.state is not None:
                save_checkpoint(checkpoint, snapshot.state,
                                config={"finished": False, "stopped_because": "interrupted"})
            done = snapshot.state["epoch"] if snapshot.state is not None else (
                state["epoch"] if state is not None else 0)
            return {"out": str(out), "stopped_because": "interrupted", "epochs": done,
                    "steps": snapshot.state["step"] if snapshot.state is not None else 0,
                    "checkpoint": str(checkpoint) if checkpoint.exists() else None}
        if root:
            save_checkpoint(checkpoint, trainer.state_dict(),
                            config={"finished": True, "stopped_because": stopped})

    history = trainer.history.as_dict()
    metrics = {
        "dataset": data.name, "task": data.task,
        **evaluate(trainer, data, config),
        "epochs": trainer.epoch, "steps": trainer.step,
        "seconds": float(np.nansum(history.get("time", [0.0]))),
        "workers": workers, "stopped_because": stopped,
        "n_train": len(data.X_train), "n_val": len(data.X_val), "n_test": len(data.X_test),
        "classes": data.classes, "config": config,
    }
    if root:
        write_json(out / METRICS_FILE, metrics)
        write_history_csv(out / HISTORY_FILE, history)
        write_plots(out, history, data.task, data.name)
    metrics["out"] = str(out)
    return metrics
