"""A run's results in the user's units: the test metrics of a trained network (RMSE, MAE and R²
in the target's own units for regression; accuracy, per-class precision, recall and F1 and
the confusion matrix for classification), the final training loss, and why training stopped,
in words."""

from __future__ import annotations

import math

import numpy as np

from gdlab.nn.penalty import L2Penalty
from gdlab.training.metrics import predict_chunked

#: the loss each task trains on, as the run labels it
LOSS_NAMES = {"classification": "cross-entropy",
              "regression": "MSE on the standardised target"}


def evaluate(trainer, data, config: dict, test_pred=None) -> dict:
    """Test metrics and the final training loss (the objective, ``alpha`` penalty included,
    measured on what the network trains on: for regression the standardised target).
    ``test_pred``: :func:`test_predictions`, where the caller has them already."""
    net, loss = trainer.net, trainer.loss
    train_out = predict_chunked(net, data.X_train)
    final = float(loss(train_out, data.y_train))
    final += L2Penalty(net, float(config["alpha"])).value(len(data.X_train))
    out = {"final_loss": final, "loss_name": LOSS_NAMES[data.task]}
    if data.task == "classification":
        out["train_accuracy"] = float(np.mean(np.argmax(train_out, axis=1) == data.y_train))
    if data.X_test is None:
        return out
    pred = test_predictions(net, data) if test_pred is None else test_pred
    if data.task == "classification":
        out.update(classification_metrics(data.y_test, pred, data.classes))
    else:
        out.update(regression_metrics(data.y_test, pred))
    return out


def test_predictions(net, data):
    """The network's predictions on the test part: class indices for a classifier, values in
    the target's own units for a regressor (None without a test part)."""
    if data.X_test is None:
        return None
    pred = predict_chunked(net, data.X_test)
    if data.task == "classification":
        return np.argmax(pred, axis=1)
    return pred[:, 0].astype(np.float64) * data.y_scale + data.y_mean


def regression_metrics(y_true, y_pred, prefix="test_") -> dict:
    """MSE, RMSE, MAE (in the target's units) and R² of predictions ``y_pred``."""
    y_true = np.asarray(y_true, dtype=np.float64)
    err = np.asarray(y_pred, dtype=np.float64) - y_true
    mse = float(np.mean(err * err))
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1.0 - float(np.sum(err * err)) / total if total > 0 else math.nan
    return {f"{prefix}mse": mse, f"{prefix}rmse": math.sqrt(mse),
            f"{prefix}mae": float(np.mean(np.abs(err))), f"{prefix}r2": r2}


def classification_metrics(y_true, y_pred, classes, prefix="test_") -> dict:
    """Accuracy, per-class precision, recall, F1 and support, and the confusion matrix (rows:
    the true class, columns: the predicted one, in the order of ``classes``)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.arange(len(classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0.0)
    per_class = [{"class": c, "precision": float(p), "recall": float(r), "f1": float(f),
                  "support": int(s)}
                 for c, p, r, f, s in zip(classes, precision, recall, f1, support)]
    return {f"{prefix}accuracy": float(np.mean(np.asarray(y_pred) == np.asarray(y_true))),
            f"{prefix}per_class": per_class,
            f"{prefix}confusion_matrix": confusion_matrix(y_true, y_pred,
                                                          labels=labels).tolist()}


def stop_reason(stopped: str, config: dict, history: dict, epochs: int) -> str:
    """Why training stopped, in a sentence that names the options that decide it."""
    monitor = "validation loss" if config.get("early_stopping") else "training loss"
    if stopped in ("tol", "early_stopping"):
        losses = history.get("val_loss" if config.get("early_stopping") else "loss", [])
        finite = [v for v in losses if v is not None and math.isfinite(v)]
        best = (f"; the best, {min(finite):.4g}, was at epoch {int(np.argmin(finite)) + 1}"
                if finite else "")
        restored = (", whose weights were restored" if stopped == "early_stopping" else "")
        return (f"the {monitor} improved by less than --tol {config['tol']:g} for "
                f"--patience {config['patience']} epochs in a row{best}{restored}; lower "
                "--tol or raise --patience to train longer")
    if stopped == "max_epochs":
        return f"it reached --epochs {epochs}; raise --epochs to train longer"
    if stopped == "interrupted":
        return "it was interrupted"
    return str(stopped)
