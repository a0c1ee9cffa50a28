"""A run's report: ``report.html`` (self-contained: figures embedded, CSS inline) and
``report.md`` in the run folder, through :mod:`gdlab.report`, the one report layer.

What it holds: why training stopped (first, in words), the test results, the curves, the
confusion matrix (classification) or predicted against actual (regression), the learning-rate
range test when ``--lr auto`` ran one, the data (its rows and split, the columns used, each
column's encoding and the cells filled) and the whole configuration.
"""

from __future__ import annotations

import json
from pathlib import Path

from gdlab.lab.run_folder import FIGURES, REPORT_FILE, jsonable

#: the report's Markdown twin (it links the PNG files next to it)
REPORT_MD = "report.md"


def write_report(out, metrics: dict, data, figures=(), lr_found=None) -> Path:
    """Write ``report.html`` and ``report.md`` into the run folder ``out`` for a finished run
    (``metrics`` as :func:`gdlab.lab.runs.run_training` returns them, ``data`` its
    :class:`~gdlab.lab.run_data.PreparedData`, ``figures`` the PNG files written, ``lr_found``
    the range test of ``--lr auto``); returns the HTML file's path."""
    from gdlab.report import Figure, Paragraph, Report, Strong

    out = Path(out)
    pictures = {Path(p).name: Figure(FIGURES.get(Path(p).name, Path(p).stem),
                                     Path(p).read_bytes(), Path(p).name) for p in figures}
    report = Report(f"gdlab train: {metrics['dataset']}, target \"{metrics.get('target')}\" "
                    f"({metrics['task']})")
    report.intro = [Paragraph(Strong("Stopped because: "), metrics["stopped_reason"] + "."),
                    Paragraph(headline(metrics))]
    report.section("Results", *_results(metrics), *_pick(pictures, "confusion_matrix.png",
                                                         "predicted.png"), anchor="results")
    report.section("Training curves", *_pick(pictures, "loss.png", "accuracy.png"),
                   _curves_note(metrics), anchor="curves")
    if lr_found is not None:
        report.section("Learning rate", *_lr_items(lr_found, metrics),
                       *_pick(pictures, "lr_find.png"), anchor="learning-rate")
    report.section("Data", *_data_items(metrics, data), anchor="data")
    report.section("Configuration", *_config_items(metrics), anchor="configuration")
    (out / REPORT_FILE).write_text(report.to_html(), encoding="utf-8")
    (out / REPORT_MD).write_text(report.to_markdown(), encoding="utf-8")
    return out / REPORT_FILE


def _pick(pictures: dict, *names) -> list:
    return [pictures[n] for n in names if n in pictures]


def headline(metrics: dict) -> str:
    """One sentence: the test result, the epochs, steps and time."""
    if "test_accuracy" in metrics:
        result = f"Test accuracy {metrics['test_accuracy']:.4f}"
    elif "test_r2" in metrics:
        result = (f"Test R² {metrics['test_r2']:.4f}, RMSE {metrics['test_rmse']:.6g} in the "
                  f"units of \"{metrics.get('target')}\"")
    else:
        result = "No test part (--test-size 0)"
    return (f"{result}, after {metrics['epochs']} epochs ({metrics['steps']} steps, "
            f"{metrics['seconds']:.2f} s of training).")


def _results(metrics: dict) -> list:
    from gdlab.report import Table

    rows = []
    if "test_accuracy" in metrics:
        rows.append(["test accuracy", metrics["test_accuracy"]])
    if "test_r2" in metrics:
        units = f"in the units of \"{metrics.get('target')}\""
        rows += [["test R²", metrics["test_r2"]],
                 [f"test RMSE ({units})", f"{metrics['test_rmse']:.6g}"],
                 [f"test MAE ({units})", f"{metrics['test_mae']:.6g}"]]
    if "train_accuracy" in metrics:
        rows.append(["training accuracy (final weights)", metrics["train_accuracy"]])
    rows += [[f"final training loss ({metrics.get('loss_name', 'loss')})", metrics["final_loss"]],
             ["epochs", metrics["epochs"]], ["steps", metrics["steps"]],
             ["training time (s)", f"{metrics['seconds']:.2f}"]]
    items = [Table("", ["result", "value"], rows)]
    per_class = metrics.get("test_per_class")
    if per_class:
        items.append(Table("Test set, per class", ["class", "precision", "recall", "F1",
                                                   "support"],
                           [[str(c["class"]), c["precision"], c["recall"], c["f1"],
                             c["support"]] for c in per_class]))
    return items


def _curves_note(metrics: dict):
    from gdlab.report import Paragraph

    return Paragraph(f"Each point is an epoch's mean batch loss ({metrics.get('loss_name')}) "
                     "while the weights moved; the final training loss above is measured once "
                     "on the final weights.", small=True)


def _lr_items(found, metrics: dict) -> list:
    from gdlab.lab.lr_find import RULE_TEXT
    from gdlab.report import Code, Paragraph

    ended = ("the smoothed loss blew up (over 4 times its best)"
             if found.stopped_because == "loss_blew_up" else "it reached the last rate")
    return [Paragraph("The rate was chosen by ", Code("--lr auto"), ": a range test of "
                      f"{len(found.lrs)} steps from {found.lrs[0]:.3g} upwards ended when "
                      f"{ended}; the {found.rule} rule ({RULE_TEXT[found.rule]}) suggested ",
                      Code(f"{found.suggestion:.4g}"), ", the rate this run trained with.")]


def _data_items(metrics: dict, data) -> list:
    from gdlab.report import Paragraph, Table

    n_rows = metrics["n_train"] + metrics["n_val"] + metrics["n_test"]
    items = [Paragraph(f"{metrics['dataset']}: {n_rows} rows, split into "
                       f"{metrics['n_train']} for training, {metrics['n_val']} for validation "
                       f"and {metrics['n_test']} for the test; {metrics.get('task_reason')}.")]
    items += [Paragraph(f"Note: {note}", small=True) for note in metrics.get("notes") or []]
    filled = metrics.get("filled_cells") or {}
    items.append(Paragraph(
        f"Filled cells: {sum(filled.values())} (median for numbers, most frequent value for "
        "categories, learnt on the training part)." if filled else
        "Filled cells: none (no cell was missing)."))
    if data is None or data.kinds is None:
        n = data.n_features if data is not None else len(metrics.get("features") or [])
        items.append(Paragraph(f"Columns: {n} numeric features of an array, each standardised "
                               "with the training part's mean and standard deviation."))
        return items
    from gdlab.data.preprocess import preprocessing_record

    record = preprocessing_record(data.preprocessor, data.feature_names)
    rows = [[name, kind, _encoding(record, name), filled.get(name, 0)]
            for name, kind in data.kinds.items()]
    items.append(Table(f"The {len(rows)} columns used and how each was encoded "
                       f"({len(record.get('outputs', []))} network inputs)",
                       ["column", "kind", "encoding", "filled"], rows))
    return items


def _encoding(record: dict, name: str) -> str:
    numbers, categories = record.get("numbers") or {}, record.get("categories") or {}
    if name in numbers.get("columns", []):
        j = numbers["columns"].index(name)
        return (f"standardised (mean {numbers['mean'][j]:.4g}, sd {numbers['scale'][j]:.4g}); "
                f"missing: median {numbers['median'][j]:.4g}")
    j = categories["columns"].index(name)
    values = categories["categories"][j]
    shown = ", ".join(values[:6]) + (", ..." if len(values) > 6 else "")
    return (f"one-hot, {len(values)} categories ({shown}); missing: most frequent "
            f"\"{categories['most_frequent'][j]}\"")


def _config_items(metrics: dict) -> list:
    from gdlab.report import Code, Paragraph, Table

    config = jsonable(metrics.get("config") or {})
    rows = [[key, json.dumps(value) if not isinstance(value, str) else value]
            for key, value in config.items()]
    rows.append(["threads (BLAS and kernels)", metrics.get("threads")])
    return [Paragraph("Every option of the run, as ", Code("config.json"), " records it.",
                      small=True), Table("", ["option", "value"], rows)]
