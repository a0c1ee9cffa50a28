"""A run's configuration: every key ``gdlab train`` records in ``config.json``, with its default,
and reading it back to resume a run."""

from __future__ import annotations

import json
from pathlib import Path

from gdlab import _checks
from gdlab.data.columns import MISSING_MODES
from gdlab.lab.run_folder import CHECKPOINT_FILE, CONFIG_FILE, RUN_FILES, RunFolderError, jsonable

#: every key of a run's configuration, with the ``gdlab train`` defaults
DEFAULT_CONFIG = {
    "dataset": "digits", "target": None, "data_dir": None, "task": "auto",
    "n_samples": None, "noise": None,
    "layers": [64], "activation": "relu", "batchnorm": False, "dropout": 0.0, "init": None,
    "dtype": "float32",
    "optimizer": "adam", "lr": 1e-3, "momentum": None, "weight_decay": None, "alpha": 0.0,
    "schedule": None, "batch_size": 32, "clip_norm": None, "clip_value": None,
    "epochs": 200, "tol": 1e-4, "patience": 10, "early_stopping": False,
    "seed": 0, "checkpoint_every": 10, "workers": 1, "sync_batchnorm": False,
    "test_size": 0.2, "val_size": 0.1,
    "features": None, "drop": None, "missing": "impute",
}


#: ``lr`` that asks for the learning-rate range test to choose the rate (``--lr auto``)
AUTO_LR = "auto"


def make_config(**overrides) -> dict:
    """A complete configuration: the defaults with ``overrides``; unknown keys are an error."""
    unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
    if unknown:
        hint = _checks.did_you_mean(unknown[0], DEFAULT_CONFIG)
        known = ", ".join(sorted(DEFAULT_CONFIG))
        raise ValueError(f"unknown configuration key(s) {', '.join(map(repr, unknown))}"
                         + (f"{hint} Known keys: {known}" if hint else f"; known keys: {known}"))
    config = dict(DEFAULT_CONFIG)
    config.update(overrides)
    config["layers"] = [int(h) for h in config["layers"]]
    for key in ("features", "drop"):
        if config[key] is not None:
            config[key] = [str(c) for c in config[key]] or None
    if isinstance(config["lr"], str):
        if config["lr"].strip().lower() != AUTO_LR:
            raise ValueError(f"lr must be a number > 0 or {AUTO_LR!r}, got {config['lr']!r}")
        config["lr"] = AUTO_LR
    config["missing"] = _checks.choice("missing", config["missing"], MISSING_MODES,
                                       kind="--missing mode")
    test, val = (_checks.fraction(k, config[k]) for k in ("test_size", "val_size"))
    if test + val >= 1:
        raise ValueError(f"test_size + val_size must be below 1, got {test:g} + {val:g}")
    if config["early_stopping"] and val == 0:
        raise ValueError("early stopping monitors the validation loss: it needs a "
                         "validation part (--val-size, val_size > 0)")
    return config


def read_saved_config(path: Path) -> dict:
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


def same_run(a: dict, b: dict) -> bool:
    keys = set(DEFAULT_CONFIG) - {"epochs", "checkpoint_every"}
    return all(jsonable(a.get(k)) == jsonable(b.get(k)) for k in keys)


def check_folder(out: Path, config: dict, *, force: bool) -> None:
    """Refuse to start a fresh run of ``config`` in a folder holding a different run."""
    old = out / CONFIG_FILE
    if old.exists():
        try:
            saved = json.loads(old.read_text())
        except (OSError, ValueError):
            saved = None
        if not force and (saved is None or not same_run(saved, config)):
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
