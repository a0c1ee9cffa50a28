"""The run folder: the files a run writes, a fresh folder name, refusing to overwrite another
run, and writing the outputs (JSON atomically, the history as CSV, the figures)."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np

CONFIG_FILE, METRICS_FILE, HISTORY_FILE = "config.json", "metrics.json", "history.csv"
CHECKPOINT_FILE, MODEL_FILE = "checkpoint.npz", "model.npz"
REPORT_FILE = "report.html"
#: the figures a run may write, each with its caption in the report
FIGURES = {
    "loss.png": "Training and validation loss per epoch.",
    "accuracy.png": "Training and validation accuracy per epoch.",
    "confusion_matrix.png": "Confusion matrix of the test set: rows are the true classes, "
                            "columns the predicted ones; the colour is the share of the row.",
    "predicted.png": "Predicted against actual values of the test set, in the target's units; "
                     "on the dashed line the prediction is exact.",
    "lr_find.png": "The learning-rate range test that chose the rate (--lr auto).",
}
#: files a run writes; --force removes them before a different run takes the folder
RUN_FILES = (CONFIG_FILE, METRICS_FILE, HISTORY_FILE, MODEL_FILE, REPORT_FILE, "report.md",
             *FIGURES)


def fresh_run_dir(kind: str = "train", root="runs") -> Path:
    """A new folder name ``runs/<kind>-YYYYmmdd-HHMMSS[-k]`` that does not exist yet."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{kind}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path


class RunFolderError(ValueError):
    """--out names a folder holding a different run, or --resume a folder without one."""


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (temp file then rename), NaN written as null."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(obj), indent=2) + "\n")
    tmp.replace(path)


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
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


def write_plots(out: Path, history: dict, task: str, dataset: str, *, metrics=None,
                predicted=None, actual=None, lr_found=None) -> list[Path]:
    """The run's figures (:data:`FIGURES`): the curves; with ``metrics``, the confusion matrix
    (classification) or, with the test values ``predicted`` and ``actual``, predicted against
    actual (regression); with ``lr_found`` (an :class:`gdlab.lab.lr_find.LRFindResult`), the
    range test. Returns the paths written."""
    from gdlab.report import plots, run_figures

    loss_name = "cross-entropy" if task == "classification" else "MSE, standardised target"
    figures = {"loss.png": plots.loss_figure(history, loss_name=loss_name, dataset=dataset)}
    if task == "classification":
        figures["accuracy.png"] = plots.accuracy_figure(history, dataset=dataset)
        if metrics and metrics.get("test_confusion_matrix"):
            figures["confusion_matrix.png"] = run_figures.confusion_figure(
                metrics["test_confusion_matrix"], metrics["classes"], dataset=dataset)
    elif predicted is not None:
        figures["predicted.png"] = run_figures.predicted_figure(
            actual, predicted, target=(metrics or {}).get("target") or "target", dataset=dataset)
    if lr_found is not None:
        figures["lr_find.png"] = run_figures.lr_find_figure(
            lr_found.lrs, lr_found.smoothed, suggestion=lr_found.suggestion,
            rule=lr_found.rule, loss_name=lr_found.loss_name, dataset=dataset)
    return [plots.save(fig, out / name) for name, fig in figures.items()]


def clear_folder(out: Path) -> None:
    """Create ``out`` and remove a previous run's files (its checkpoint included), and only
    those: other files in the folder are the user's."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (*RUN_FILES, CHECKPOINT_FILE):
        if (out / name).is_file():
            (out / name).unlink()
