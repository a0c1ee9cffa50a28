"""The ``gdlab compare`` job: every configuration over several seeds, on the same data.

All runs share one data split (made with seed 0) and its scaling. For seed ``s`` every
configuration starts from the same initial weights (the network's seed is ``s``) and
shuffles with the same generator (seed ``s``); only the optimizer, the batch size and the
learning rate differ. The tolerance rule is off: every run trains for ``epochs`` epochs
unless it diverges. A diverged run is recorded (``status == "diverged"``, its curve stops
where it diverged), never a crash.

"Final loss" is the training loss of the final parameters over the whole training set (as
``gdlab train`` reports it); "epochs/seconds to target" is the first epoch whose recorded
training loss (the mean of its batch losses) is at or below the target.

Outputs: ``results.csv`` (one row per configuration and seed), ``summary.csv`` (one row per
configuration), ``curves.csv`` (one row per run and epoch), ``loss_vs_epoch.png``,
``loss_vs_time.png``, ``val_metric_vs_epoch.png``, ``report.html`` (self-contained) and
``report.md``.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gdlab.errors import DivergenceError
from gdlab.lab.run_config import make_config
from gdlab.lab.run_data import build_trainer, prepare_data
from gdlab.lab.run_metrics import evaluate

RESULT_FIELDS = ("optimizer", "batch_size", "lr", "seed", "status", "epochs", "steps",
                 "final_loss", "best_val_metric", "best_val_epoch", "seconds",
                 "epochs_to_target", "seconds_to_target")
#: how the validation metrics are named in tables, figures and reports (as ``gdlab train``)
METRIC_LABELS = {"accuracy": "accuracy", "r2": "R²"}
#: why a run's final loss is not the last point of its curve
FINAL_LOSS_NOTE = (
    "The final loss is the training loss of the final weights over the whole training set, "
    "measured once after the last epoch; a curve's points are each epoch's mean of its batch "
    "losses, measured while the weights were still moving during that epoch. The two differ: "
    "the last point of a curve is usually above the final loss.")
SUMMARY_FIELDS = ("optimizer", "batch_size", "lr", "runs", "diverged", "final_loss_mean",
                  "final_loss_std", "best_val_metric_mean", "reached_target",
                  "epochs_to_target_mean", "seconds_to_target_mean")


@dataclass
class RunRecord:
    optimizer: str
    batch_size: object
    lr: float
    seed: int
    status: str                 # "ok" | "diverged"
    epochs: int
    steps: int
    final_loss: float           # training loss of the final parameters, whole training set
    loss: list                  # per-epoch training loss (history)
    val_metric: list            # per-epoch validation accuracy or R^2
    time: list                  # cumulative wall seconds at the end of each epoch
    message: str = ""

    @property
    def label(self) -> str:
        return config_label(self.optimizer, self.batch_size, self.lr)

    @property
    def seconds(self) -> float:
        return self.time[-1] if self.time else 0.0


def config_label(optimizer, batch_size, lr) -> str:
    return f"{optimizer}, batch {batch_size}, lr {lr:g}"


def _to_target(record: RunRecord, target: float):
    """(epochs, seconds) at the first epoch whose training loss is <= target, else (None, None)."""
    for i, value in enumerate(record.loss):
        if math.isfinite(value) and value <= target:
            return i + 1, record.time[i]
    return None, None


def run_comparison(base: dict, *, optimizers, batch_sizes, lrs, seeds: int, epochs: int,
                   target_loss=None, log=print) -> dict:
    """Train every (optimizer, batch size, learning rate) for seeds ``0..seeds-1``.

    ``base`` is a run configuration (see :data:`gdlab.lab.run_config.DEFAULT_CONFIG`) for the
    data and the model. Returns ``{"records": [RunRecord], "summary": [dict], "target_loss":
    float, "metric": "accuracy" | "r2", "data": PreparedData}``.
    """
    log = log or (lambda *a, **k: None)
    base = make_config(**{**base, "seed": 0, "epochs": epochs, "tol": None})
    data = prepare_data(base)
    n_train = len(data.X_train)
    for bs in batch_sizes:
        if bs != "full" and bs > n_train:
            raise ValueError(f"batch size {bs} is larger than the {n_train} training samples")
    metric = "accuracy" if data.task == "classification" else "r2"
    grid = list(itertools.product(optimizers, batch_sizes, lrs))
    log(f"data: {data.name} ({data.task}), {n_train} train / {len(data.X_val)} validation "
        f"samples; {len(grid)} configurations x {seeds} seeds x {epochs} epochs")
    records = []
    for seed in range(seeds):
        for opt, bs, lr in grid:
            config = make_config(**{**base, "optimizer": opt, "batch_size": bs, "lr": lr,
                                    "seed": seed, "checkpoint_every": None})
            rec = run_one(config, data, metric)
            records.append(rec)
            log(f"  seed {seed}  {rec.label:<32} "
                + (f"final loss {rec.final_loss:.4g}" if rec.status == "ok" else "DIVERGED"))
    summary, target_loss = summarize(records, target_loss)
    return {"records": records, "summary": summary, "target_loss": target_loss,
            "metric": metric, "data": data}


def run_one(config: dict, data, metric: str) -> RunRecord:
    """Train one configuration; a divergence is recorded, never raised."""
    trainer = build_trainer(config, data)
    status, message = "ok", ""
    try:
        trainer.fit(data.X_train, data.y_train, validation_data=(data.X_val, data.y_val))
    except DivergenceError as exc:
        status, message = "diverged", str(exc)
    h = trainer.history
    loss = list(h["loss"]) if "loss" in h else []
    times = list(np.cumsum(h["time"])) if "time" in h else []
    val = list(h[f"val_{metric}"]) if f"val_{metric}" in h else []
    final = math.nan
    if status == "ok":
        final = evaluate(trainer, data, config)["final_loss"]
        if not math.isfinite(final):
            status = "diverged"
    return RunRecord(config["optimizer"], config["batch_size"], float(config["lr"]),
                     config["seed"], status, trainer.epoch, trainer.step, final, loss, val,
                     [float(t) for t in times], message)


def summarize(records, target_loss=None):
    """One summary row per configuration, and the target loss (by default the largest mean
    final loss of the configurations that never diverged)."""
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
    best_vals = [np.nanmax(r.val_metric) for r in rs if r.val_metric and
                 np.any(np.isfinite(r.val_metric))]
    reached = [_to_target(r, target_loss) for r in ok]
    reached = [x for x in reached if x[0] is not None]
    return {
        "optimizer": opt, "batch_size": bs, "lr": lr, "runs": len(rs),
        "diverged": len(rs) - len(ok),
        "final_loss_mean": float(finals.mean()) if ok else math.nan,
        "final_loss_std": float(finals.std()) if ok else math.nan,
        "best_val_metric_mean": float(np.mean(best_vals)) if best_vals else math.nan,
        "reached_target": len(reached),
        "epochs_to_target_mean": float(np.mean([e for e, _ in reached])) if reached
        else math.nan,
        "seconds_to_target_mean": float(np.mean([s for _, s in reached])) if reached
        else math.nan,
    }


# ---- outputs ------------------------------------------------------------------------------

def _cell(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return "" if v is None else v


def write_results_csv(path: Path, records, target_loss) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(RESULT_FIELDS)
        for r in records:
            best = (float(np.nanmax(r.val_metric)) if r.val_metric and
                    np.any(np.isfinite(r.val_metric)) else math.nan)
            best_epoch = (int(np.nanargmax(r.val_metric)) + 1 if math.isfinite(best) else None)
            e, s = _to_target(r, target_loss) if r.status == "ok" else (None, None)
            w.writerow([_cell(v) for v in (r.optimizer, r.batch_size, r.lr, r.seed, r.status,
                                           r.epochs, r.steps, r.final_loss, best, best_epoch,
                                           r.seconds, e, s)])


def write_curves_csv(path: Path, records) -> None:
    """Long format: one row per run and epoch (training loss, validation metric, time)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["optimizer", "batch_size", "lr", "seed", "epoch", "loss", "val_metric",
                    "time"])
        for r in records:
            for i, loss in enumerate(r.loss):
                val = r.val_metric[i] if i < len(r.val_metric) else math.nan
                w.writerow([_cell(v) for v in (r.optimizer, r.batch_size, r.lr, r.seed, i + 1,
                                               float(loss), float(val), r.time[i])])


def write_summary_csv(path: Path, summary) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SUMMARY_FIELDS)
        for row in summary:
            w.writerow([_cell(row[k]) for k in SUMMARY_FIELDS])


def curves(records, key="loss") -> list[dict]:
    """Records grouped by configuration, in the shape :func:`gdlab.report.plots.plot_runs` takes."""
    groups = {}
    for r in records:
        groups.setdefault(r.label, []).append({"loss": getattr(r, key), "time": r.time,
                                               "diverged": r.status == "diverged"})
    return [{"label": label, "runs": runs} for label, runs in groups.items()]


def summary_rows(summary, metric):
    header = ["configuration", "runs", "diverged", "final loss mean", "final loss std",
              f"best val {METRIC_LABELS[metric]}", "reached target", "epochs to target",
              "s to target"]
    rows = [[config_label(s["optimizer"], s["batch_size"], s["lr"]), s["runs"], s["diverged"],
             s["final_loss_mean"], s["final_loss_std"], s["best_val_metric_mean"],
             f"{s['reached_target']}/{s['runs']}", s["epochs_to_target_mean"],
             s["seconds_to_target_mean"]] for s in summary]
    return header, rows


def write_outputs(out, result, *, seeds: int, epochs: int) -> dict:
    """results.csv, summary.csv, the figures, report.html and report.md; returns the paths."""
    from gdlab.report import Report, Table, figure, plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, summary, target = result["records"], result["summary"], result["target_loss"]
    metric, data = result["metric"], result["data"]
    write_results_csv(out / "results.csv", records, target)
    write_summary_csv(out / "summary.csv", summary)
    write_curves_csv(out / "curves.csv", records)
    loss_label = ("training loss (cross-entropy)" if data.task == "classification"
                  else "training loss (MSE, standardised target)")
    spread = "shaded: min to max over seeds" if seeds > 1 else "one seed"
    f_epoch = plots.plot_runs(curves(records), x="epoch", ylabel=loss_label,
                              title=f"Training loss per epoch on {data.name} ({spread})")
    f_time = plots.plot_runs(curves(records), x="time", ylabel=loss_label,
                             title=f"Training loss against wall-clock time on {data.name}")
    label = METRIC_LABELS[metric]
    f_val = plots.plot_runs(curves(records, "val_metric"), x="epoch",
                            ylabel=f"validation {label}",
                            title=f"Validation {label} per epoch on {data.name}", cap=False)
    figs = [figure(f_epoch, "Training loss per epoch: mean over seeds, spread shaded.",
                   "loss_vs_epoch.png"),
            figure(f_time, "Training loss against wall-clock time (seconds).",
                   "loss_vs_time.png"),
            figure(f_val, f"Validation {label} per epoch.", "val_metric_vs_epoch.png")]
    header, rows = summary_rows(summary, metric)
    n_div = sum(r.status == "diverged" for r in records)
    report = Report(f"gdlab compare: {data.name}")
    report.section(
        "Setup",
        f"Dataset {data.name} ({data.task}): {len(data.X_train)} training and "
        f"{len(data.X_val)} validation samples, one split for every run. Each configuration "
        f"ran {epochs} epochs for each of {seeds} seed(s); within a seed every configuration "
        "started from the same initial weights.",
        f"Target for 'epochs/seconds to target': training loss <= {target:.4g}. "
        f"Diverged runs: {n_div} of {len(records)}.", FINAL_LOSS_NOTE)
    report.section("Summary", Table("One row per configuration (means over seeds)", header,
                                    rows))
    report.section("Curves", *figs)
    run_header = list(RESULT_FIELDS[:8])
    run_rows = [[r.optimizer, r.batch_size, r.lr, r.seed, r.status, r.epochs, r.steps,
                 r.final_loss] for r in records]
    report.section("Every run", Table("One row per configuration and seed", run_header,
                                      run_rows))
    html_path, md_path = report.write(out)
    return {"results": out / "results.csv", "summary": out / "summary.csv",
            "curves": out / "curves.csv",
            "html": html_path, "md": md_path, "figures": [out / f.filename for f in figs],
            "figure_objects": [f_epoch, f_time, f_val]}

