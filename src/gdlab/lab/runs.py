"""The ``gdlab train`` job as a library function: :func:`run_training`.

A *run* is a folder holding ``config.json`` (written as soon as training starts),
``checkpoint*`` files, and at the end ``model.npz`` (the model: :mod:`gdlab.lab.run_model`,
:func:`gdlab.load_model`), ``metrics.json``, ``history.csv``, ``loss.png`` and
``accuracy.png`` (classification). The same configuration and seed give the same run: the
data split, the initial weights and the shuffling all derive from ``config["seed"]``.

The data path (:mod:`gdlab.lab.run_data`): load (:func:`gdlab.data.load_dataset`), split
stratified into train 70 %, validation 10 % and test 20 % (``test_size``, ``val_size``),
learn the preprocessing on the training part (a table's imputation, one-hot encoding and
scaling, :mod:`gdlab.data.preprocess`; an array's scaling), standardise regression targets
(losses are then in standardised units, test errors in the target's own units), build an
MLP, train it with :class:`gdlab.training.Trainer`, evaluate (:mod:`gdlab.lab.run_metrics`).
The configuration is :mod:`gdlab.lab.run_config`'s, the folder and its files
:mod:`gdlab.lab.run_folder`'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gdlab.errors import CheckpointError, DivergenceError
from gdlab.kernels import threads as kernel_threads
from gdlab.lab.run_config import (  # noqa: F401 - DEFAULT_CONFIG is public here too
    AUTO_LR,
    DEFAULT_CONFIG,
    check_folder,
    make_config,
    read_saved_config,
)
from gdlab.lab.run_data import build_trainer, check_batch_size, prepare_data
from gdlab.lab.run_folder import (  # noqa: F401 - fresh_run_dir is public here too
    CHECKPOINT_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    RunFolderError,
    clear_folder,
    fresh_run_dir,
    write_history_csv,
    write_json,
    write_plots,
)
from gdlab.lab.run_metrics import evaluate, stop_reason, test_predictions
from gdlab.lab.run_model import save_model
from gdlab.lab.run_report import write_report
from gdlab.training import checkpoint as ckpt


class _EpochSnapshot:
    """Keeps the trainer's state at the end of the latest epoch (for an interrupt)."""

    state = None

    def on_epoch_end(self, trainer, logs):
        self.state = trainer.state_dict()
        return False


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
    log = log or (lambda *a, **k: None)
    workers = int(config.get("workers", 1))
    root = comm is None or comm.rank == 0
    if workers > 1 and comm is None:  # the MPI runner calls this in each rank, with its comm
        raise ValueError("--workers > 1 needs the distributed runner")
    config, out, state, meta, data, lr_found = _start(config, out, resume, force, root, log)
    for line in describe_data(data):
        log(line)
    if lr_found is not None:
        log(lr_choice(lr_found))
    snapshot = _EpochSnapshot()
    # built (and so validated) before anything is written into the folder
    trainer = build_trainer(config, data, progress=progress, comm=comm,
                            checkpoint_path=out / CHECKPOINT_FILE,  # written on rank 0 only
                            callbacks=(snapshot, *callbacks))
    check_batch_size(config["batch_size"], len(data.X_train))
    if state is not None:
        try:
            trainer.load_state_dict(state)
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {out / CHECKPOINT_FILE} does not fit the run's "
                                  f"configuration in {out / CONFIG_FILE}: {exc}") from None
    if root:
        if not resume:
            clear_folder(out)
        write_json(out / CONFIG_FILE, config)
        if on_start:
            on_start(out)
    stopped = _train(trainer, data, config, out, state, meta, snapshot, root, log)
    if stopped == "interrupted":
        return _interrupted(out, state, snapshot)
    return _finish(trainer, data, config, out, stopped, workers, root, lr_found)


def _start(config, out, resume, force, root, log):
    """The configuration (``lr="auto"`` resolved), the folder, the checkpoint's state and
    metadata to resume from, the prepared data and the range test (None without ``auto``)."""
    data = lr_found = None
    if resume:
        config, out, state, meta = _resume(config, out, log)
    else:
        config = make_config(**{k: v for k, v in config.items() if k != "schedule_horizon"})
        if config["lr"] == AUTO_LR:  # the rate is chosen first: config.json records it
            config, data, lr_found = auto_lr(config)
        out = Path(out) if out is not None else fresh_run_dir("train")
        state, meta = None, {}
        if root:
            check_folder(out, config, force=force)
    if data is None:
        data = prepare_data(config)
    return config, out, state, meta, data, lr_found


def _resume(config, out, log):
    """The saved configuration (with a raised ``epochs``), the folder, and the checkpoint's
    state and metadata (None, {} when the run has no checkpoint yet)."""
    if out is None:
        raise ValueError("resume needs the run folder")
    out = Path(out)
    if not (out / CONFIG_FILE).is_file():
        raise RunFolderError(f"no run to resume in '{out}': {CONFIG_FILE} is missing")
    saved = read_saved_config(out / CONFIG_FILE)
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
    if not checkpoint.exists():
        log(f"'{out}' has no checkpoint yet: restarting the run from the beginning")
        return config, out, None, {}
    state, meta = ckpt.load_checkpoint(checkpoint)
    meta = meta or {}
    if not isinstance(state, dict) or not isinstance(meta, dict) or not isinstance(
            state.get("epoch"), int):
        raise CheckpointError(f"checkpoint {checkpoint} does not hold a gdlab training state")
    log(f"resuming '{out}' from its checkpoint at epoch {state['epoch']}")
    return config, out, state, meta


def _train(trainer, data, config, out, state, meta, snapshot, root, log):
    """Train what remains of the run; returns why it stopped. The checkpoint holds the state
    at the end (or, after an interrupt or a divergence, at the end of the last whole epoch)."""
    checkpoint = out / CHECKPOINT_FILE
    finished = state is not None and bool(meta.get("finished")) and not (
        meta.get("stopped_because") == "max_epochs" and config["epochs"] > trainer.epoch)
    stopped = meta.get("stopped_because")
    remaining = config["epochs"] - trainer.epoch
    if finished or remaining <= 0:
        log(finished_hint(out, stopped or "max_epochs", trainer.epoch))
        return stopped or "max_epochs"
    validation = None if data.X_val is None else (data.X_val, data.y_val)
    try:
        result = trainer.fit(data.X_train, data.y_train, sample_weight=data.w_train,
                             validation_data=validation, epochs=remaining)
    except DivergenceError as exc:
        if root and snapshot.state is not None:
            # the state at the end of the last whole epoch is the last good one: keep it
            ckpt.save_checkpoint(checkpoint, snapshot.state,
                                 config={"finished": False, "stopped_because": "diverged"})
        kept = (f"; the last good checkpoint stays in '{checkpoint}'"
                if checkpoint.exists() else "")
        raise DivergenceError(f"{exc}{kept}", epoch=exc.epoch, step=exc.step,
                              lr=exc.lr) from exc
    stopped = result.stopped_because
    if stopped == "interrupted":
        # The live state may be mid-epoch (even mid-step); the state at the end of the last
        # completed epoch resumes exactly, so that is what the checkpoint holds.
        if root and snapshot.state is not None:
            ckpt.save_checkpoint(checkpoint, snapshot.state,
                                 config={"finished": False, "stopped_because": "interrupted"})
    elif root:
        ckpt.save_checkpoint(checkpoint, trainer.state_dict(),
                             config={"finished": True, "stopped_because": stopped})
    return stopped


def finished_hint(out, stopped: str, epoch: int) -> str:
    """What to do when ``--resume`` finds a finished run: there is nothing left to train."""
    if stopped == "max_epochs":
        return (f"'{out}' had already finished its {epoch} epochs: nothing to train, the "
                f"outputs are rewritten. To train further, raise --epochs: gdlab train "
                f"--resume {out} --epochs {2 * epoch}")
    return (f"'{out}' had already finished at epoch {epoch}, stopped by its stopping rule "
            f"({stopped}): nothing to train, the outputs are rewritten. --resume continues a "
            "run that reached --epochs; to train longer, start a new run with a lower --tol "
            "or a higher --patience")


def _interrupted(out, state, snapshot):
    checkpoint = out / CHECKPOINT_FILE
    done = snapshot.state["epoch"] if snapshot.state is not None else (
        state["epoch"] if state is not None else 0)
    return {"out": str(out), "stopped_because": "interrupted", "epochs": done,
            "steps": snapshot.state["step"] if snapshot.state is not None else 0,
            "checkpoint": str(checkpoint) if checkpoint.exists() else None}


def describe_data(data) -> list[str]:
    """The run's header: the data, its split, the target and its task, what was filled in."""
    sizes = " / ".join(f"{0 if X is None else len(X)} {part}" for X, part in (
        (data.X_train, "train"), (data.X_val, "validation"), (data.X_test, "test")))
    columns = (f"{len(data.feature_names)} columns -> {data.n_features} features"
               if data.kinds is not None else f"{data.n_features} features")
    lines = [f"data: {data.name}, {sizes} samples, {columns}", data.task_note]
    lines += [f"note: {n}" for n in data.notes]
    if data.missing:
        filled = ", ".join(f'"{k}" {v}' for k, v in data.missing.items())
        lines.append(f"filled {sum(data.missing.values())} missing cells (median for numbers, "
                     f"most frequent value for categories): {filled}")
    return lines


def auto_lr(config: dict) -> tuple[dict, object, object]:
    """``lr="auto"``: the learning-rate range test (:func:`gdlab.lab.lr_find.find_lr`) on the
    run's data and model chooses the rate; returns the configuration with it, the prepared
    data and the test's result."""
    from gdlab.lab.lr_find import find_lr

    data = prepare_data(config)
    found = find_lr(config, data)
    return {**config, "lr": found.suggestion}, data, found


def lr_choice(found) -> str:
    """The line that says which rate ``--lr auto`` chose, and how."""
    from gdlab.lab.lr_find import RULE_TEXT

    return (f"--lr auto: the learning-rate range test ({len(found.lrs)} steps from "
            f"{found.lrs[0]:.3g} to {found.lrs[-1]:.3g}) suggests {found.suggestion:.4g} "
            f"({found.rule} rule: {RULE_TEXT[found.rule]}); training with --lr "
            f"{found.suggestion:.4g}")


def _finish(trainer, data, config, out, stopped, workers, root, lr_found=None):
    """The run's metrics, written with the model, the history, the figures and the report
    (rank 0)."""
    history = trainer.history.as_dict()
    test_pred = test_predictions(trainer.net, data)  # one pass: the metrics and the figure
    metrics = {
        "dataset": data.name, "target": data.target, "task": data.task,
        "task_reason": data.task_note,
        **evaluate(trainer, data, config, test_pred),
        "epochs": trainer.epoch, "steps": trainer.step,
        "seconds": float(np.nansum(history.get("time", [0.0]))),
        "workers": workers, "threads": kernel_threads.current(), "stopped_because": stopped,
        "stopped_reason": stop_reason(stopped, config, history, trainer.epoch),
        "n_train": len(data.X_train), "n_val": _count(data.X_val),
        "n_test": _count(data.X_test), "classes": data.classes,
        "features": data.feature_names, "filled_cells": data.missing, "notes": data.notes,
        "config": config,
    }
    if lr_found is not None:
        metrics["lr_find"] = {"suggestion": lr_found.suggestion, "rule": lr_found.rule,
                              "steps": len(lr_found.lrs),
                              "stopped_because": lr_found.stopped_because}
    if root:
        save_model(out, trainer.net, data, config)
        write_json(out / METRICS_FILE, metrics)
        write_history_csv(out / HISTORY_FILE, history)
        predicted = test_pred if data.task == "regression" else None
        figures = write_plots(out, history, data.task, data.name, metrics=metrics,
                              predicted=predicted, actual=data.y_test, lr_found=lr_found)
        write_report(out, metrics, data, figures, lr_found)
    metrics["out"] = str(out)
    return metrics


def _count(X) -> int:
    return 0 if X is None else len(X)
