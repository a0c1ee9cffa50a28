"""The figures and the report of a comparison (through :mod:`gdlab.report`, the one figure
and report layer): loss per epoch and against time, the validation metric, the summary
table and every run."""

from __future__ import annotations

from pathlib import Path

from gdlab.lab.compare_folder import CURVES_FILE, FIGURE_FILES, RESULTS_FILE, SUMMARY_FILE
from gdlab.lab.compare_records import (
    RESULT_FIELDS,
    config_label,
    write_curves_csv,
    write_results_csv,
    write_summary_csv,
)

#: how the validation metrics are named in tables, figures and reports (as ``gdlab train``)
METRIC_LABELS = {"accuracy": "accuracy", "r2": "R²"}
#: why a run's final loss is not the last point of its curve
FINAL_LOSS_NOTE = (
    "The final loss is the training loss of the final weights over the whole training set, "
    "measured once after the last epoch; a curve's points are each epoch's mean of its batch "
    "losses, measured while the weights were still moving during that epoch. The two differ: "
    "the last point of a curve is usually above the final loss.")


def curves(records, key="loss") -> list[dict]:
    """Records grouped by configuration, in the shape :func:`gdlab.report.plots.plot_runs` takes."""
    groups = {}
    for r in records:
        groups.setdefault(r.label, []).append({"loss": getattr(r, key), "time": r.time,
                                               "diverged": r.status == "diverged"})
    return [{"label": label, "runs": runs} for label, runs in groups.items()]


def summary_rows(summary, metric):
    header = ["configuration", "runs", "diverged", "failed", "final loss mean",
              "final loss std", f"best val {METRIC_LABELS[metric]}", "reached target",
              "epochs to target",
              "s to target"]
    rows = [[config_label(s["optimizer"], s["batch_size"], s["lr"]), s["runs"], s["diverged"],
             s["failed"], s["final_loss_mean"], s["final_loss_std"], s["best_val_metric_mean"],
             f"{s['reached_target']}/{s['runs']}", s["epochs_to_target_mean"],
             s["seconds_to_target_mean"]] for s in summary]
    return header, rows


def figures(records, data, metric: str, seeds: int) -> list:
    """The three figures of a comparison, as :func:`gdlab.report.figure` items."""
    from gdlab.report import figure, plots

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
    captions = ("Training loss per epoch: mean over seeds, spread shaded.",
                "Training loss against wall-clock time (seconds).",
                f"Validation {label} per epoch.")
    return [figure(f, caption, name)
            for f, caption, name in zip((f_epoch, f_time, f_val), captions, FIGURE_FILES)]


def write_outputs(out, result, *, seeds: int, epochs: int) -> dict:
    """results.csv, summary.csv, curves.csv, the figures, report.html and report.md of a
    finished comparison (``result`` as :func:`gdlab.lab.compare.run_comparison` returns it);
    returns the paths."""
    from gdlab.report import Report, Table

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, summary, target = result["records"], result["summary"], result["target_loss"]
    metric, data = result["metric"], result["data"]
    write_results_csv(out / RESULTS_FILE, records, target)
    write_summary_csv(out / SUMMARY_FILE, summary)
    write_curves_csv(out / CURVES_FILE, records)
    figs = figures(records, data, metric, seeds)
    header, rows = summary_rows(summary, metric)
    n_div = sum(r.status == "diverged" for r in records)
    n_failed = sum(r.status == "failed" for r in records)
    report = Report(f"gdlab compare: {data.name}")
    report.section(
        "Setup",
        f"Dataset {data.name} ({data.task}): {len(data.X_train)} training and "
        f"{len(data.X_val)} validation samples, one split for every run. Each configuration "
        f"ran {epochs} epochs for each of {seeds} seed(s); within a seed every configuration "
        "started from the same initial weights.",
        f"Target for 'epochs/seconds to target': training loss <= {target:.4g}. "
        f"Diverged runs: {n_div} of {len(records)}; failed runs: {n_failed}.",
        FINAL_LOSS_NOTE)
    report.section("Summary", Table("One row per configuration (means over seeds)", header,
                                    rows))
    report.section("Curves", *figs)
    run_header = [*RESULT_FIELDS[:8], "reason"]
    run_rows = [[r.optimizer, r.batch_size, r.lr, r.seed, r.status, r.epochs, r.steps,
                 r.final_loss, r.reason] for r in records]
    report.section("Every run", Table("One row per configuration and seed", run_header,
                                      run_rows))
    html_path, md_path = report.write(out)
    return {"results": out / RESULTS_FILE, "summary": out / SUMMARY_FILE,
            "curves": out / CURVES_FILE, "html": html_path, "md": md_path,
            "figures": [out / f.filename for f in figs]}
