"""The records of a comparison: one :class:`RunRecord` per configuration (an optimizer, a batch
size, a learning rate and a seed), the summary over seeds, and the CSV tables.

A record is ``ok``, ``diverged`` (its curve stops where it diverged) or ``failed`` (an error
while it ran, or its worker process died), with the reason in ``reason``. Records serialise to
JSON without losing a bit (:func:`record_to_json`), which is how a sweep's journal keeps them
for ``--resume``.

Columns whose names contain ``seconds`` measure time; every other column of ``results.csv``
is the same whichever way the sweep ran (one process, several, several MPI ranks, resumed).
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RESULT_FIELDS = ("optimizer", "batch_size", "lr", "seed", "status", "epochs", "steps",
                 "final_loss", "best_val_metric", "best_val_epoch", "seconds",
                 "epochs_to_target", "seconds_to_target", "reason")
SUMMARY_FIELDS = ("optimizer", "batch_size", "lr", "runs", "diverged", "failed",
                  "final_loss_mean", "final_loss_std", "best_val_metric_mean", "reached_target",
                  "epochs_to_target_mean", "seconds_to_target_mean")
STATUSES = ("ok", "diverged", "failed")


@dataclass
class RunRecord:
    """One configuration trained for one seed: what it reached and its per-epoch curves."""

    optimizer: str
    batch_size: object          # "full" or an int
    lr: float
    seed: int
    status: str                 # "ok" | "diverged" | "failed"
    epochs: int
    steps: int
    final_loss: float           # training loss of the final parameters, whole training set
    loss: list = field(default_factory=list)        # per-epoch training loss (history)
    val_metric: list = field(default_factory=list)  # per-epoch validation accuracy or R^2
    time: list = field(default_factory=list)        # cumulative wall seconds at each epoch end
    reason: str = ""            # why it diverged or failed

    @property
    def label(self) -> str:
        return config_label(self.optimizer, self.batch_size, self.lr)

    @property
    def seconds(self) -> float:
        return self.time[-1] if self.time else 0.0

    def best_val(self) -> tuple[float, int | None]:
        """The best validation metric and its epoch (1-based); (nan, None) if none is finite."""
        values = np.asarray(self.val_metric, dtype=np.float64)
        if not np.any(np.isfinite(values)):
            return math.nan, None
        return float(np.nanmax(values)), int(np.nanargmax(values)) + 1


def config_label(optimizer, batch_size, lr) -> str:
    return f"{optimizer}, batch {batch_size}, lr {lr:g}"


def failed_record(optimizer, batch_size, lr, seed, reason: str) -> RunRecord:
    """The record of a configuration that could not run to its end."""
    return RunRecord(optimizer, batch_size, float(lr), int(seed), "failed", 0, 0, math.nan,
                     reason=str(reason))


def record_to_json(record: RunRecord) -> dict:
    """The record as a JSON object (floats written by repr: read back bit for bit)."""
    return asdict(record)


def record_from_json(obj: dict) -> RunRecord:
    """The inverse of :func:`record_to_json`; ValueError for an object that is not a record."""
    try:
        record = RunRecord(**obj)
    except TypeError as exc:
        raise ValueError(f"not a comparison record: {exc}") from None
    if record.status not in STATUSES:
        raise ValueError(f"not a comparison record: status {record.status!r}")
    return record


def to_target(record: RunRecord, target: float):
    """(epochs, seconds) at the first epoch whose training loss is <= target, else (None, None)."""
    for i, value in enumerate(record.loss):
        if math.isfinite(value) and value <= target:
            return i + 1, record.time[i]
    return None, None


# ---- the summary over seeds ---------------------------------------------------------------

def summarize(records, target_loss=None):
    """One summary row per configuration, and the target loss (by default the largest mean
    final loss of the configurations that never diverged nor failed)."""
    summary_groups = {}
    for rec in records:
        summary_groups.setdefault((rec.optimizer, rec.batch_size, rec.lr), []).append(rec)
    if target_loss is None:
        means = [np.mean([r.final_loss for r in rs]) for rs in summary_groups.values()
                 if all(r.status == "ok" for r in rs)]
        target_loss = float(max(means)) if means else math.nan
    summary = [_summary_row(opt, bs, lr, rs, target_loss)
               for (opt, bs, lr), rs in summary_groups.items()]
    return summary, target_loss


def _summary_row(opt, bs, lr, rs, target_loss):
    ok = [r for r in rs if r.status == "ok"]
    finals = np.array([r.final_loss for r in ok])
    best_vals = [r.best_val()[0] for r in rs]
    best_vals = [v for v in best_vals if math.isfinite(v)]
    reached = [to_target(r, target_loss) for r in ok]
    reached = [x for x in reached if x[0] is not None]
    return {
        "optimizer": opt, "batch_size": bs, "lr": lr, "runs": len(rs),
        "diverged": sum(r.status == "diverged" for r in rs),
        "failed": sum(r.status == "failed" for r in rs),
        "final_loss_mean": float(finals.mean()) if ok else math.nan,
        "final_loss_std": float(finals.std()) if ok else math.nan,
        "best_val_metric_mean": float(np.mean(best_vals)) if best_vals else math.nan,
        "reached_target": len(reached),
        "epochs_to_target_mean": float(np.mean([e for e, _ in reached])) if reached
        else math.nan,
        "seconds_to_target_mean": float(np.mean([s for _, s in reached])) if reached
        else math.nan,
    }


# ---- the tables ---------------------------------------------------------------------------

def _cell(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return "" if v is None else v


def _write_rows(path: Path, header, rows) -> None:
    """A CSV file written whole, then moved into place: a reader never sees half of it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow([_cell(v) for v in row])
    tmp.replace(path)


def result_row(r: RunRecord, target_loss) -> list:
    """The :data:`RESULT_FIELDS` of one record."""
    best, best_epoch = r.best_val()
    e, s = to_target(r, target_loss) if r.status == "ok" else (None, None)
    return [r.optimizer, r.batch_size, r.lr, r.seed, r.status, r.epochs, r.steps, r.final_loss,
            best, best_epoch, r.seconds, e, s, r.reason]


def write_results_csv(path: Path, records, target_loss) -> None:
    """One row per configuration and seed, in the order of ``records``."""
    _write_rows(path, RESULT_FIELDS, (result_row(r, target_loss) for r in records))


def write_curves_csv(path: Path, records) -> None:
    """Long format: one row per run and epoch (training loss, validation metric, time)."""
    rows = []
    for r in records:
        for i, loss in enumerate(r.loss):
            val = r.val_metric[i] if i < len(r.val_metric) else math.nan
            rows.append((r.optimizer, r.batch_size, r.lr, r.seed, i + 1, float(loss),
                         float(val), r.time[i]))
    _write_rows(path, ("optimizer", "batch_size", "lr", "seed", "epoch", "loss", "val_metric",
                       "time"), rows)


def write_summary_csv(path: Path, summary) -> None:
    _write_rows(path, SUMMARY_FIELDS, ([row[k] for k in SUMMARY_FIELDS] for row in summary))
