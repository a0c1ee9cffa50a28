"""The ``gdlab predict`` job: a run's model (:func:`gdlab.load_model`) on the rows of a file.

:func:`predict_file` reads DATA (a table, ``.csv`` or ``.parquet``, or an ``.npz`` file with
``X``), checks that it holds the feature columns the model was trained on (the target column
and any other columns are ignored, with a note), predicts, and returns the input rows in order
with a column ``prediction`` (the class label, or the value in the target's own units) and,
for a classifier, one column ``proba_<class>`` per class.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from gdlab.data.tables import ARRAY_SUFFIXES, TABLE_SUFFIXES, read_npz, read_table

__all__ = ["predict_file", "write_predictions"]


def _names(names) -> str:
    return ", ".join(f'"{n}"' for n in names)


def predict_file(run, data) -> tuple:
    """``(frame, notes)``: the rows of the file ``data`` with the predictions of the model of
    ``run`` (a run folder), and the notes to show (ignored columns, unknown categories).
    A feature column missing from ``data`` is a ValueError naming it."""
    from gdlab.data.preprocess import unknown_categories
    from gdlab.lab.run_model import load_model, read_model

    record = read_model(run)
    model = load_model(run)
    path = Path(data)
    if not path.is_file():
        raise ValueError(f"no such data file: '{path}'")
    features = [c["name"] for c in record["features"]]
    frame, X, notes = _read_rows(path, record, features)
    if record["preprocessing"]["kind"] == "table":
        unknown = unknown_categories(model[:-1], X)
        if unknown:
            notes.append("categories the training never saw, encoded as all zeros: " + "; ".join(
                f'"{c}" {", ".join(map(repr, v[:5]))}{" ..." if len(v) > 5 else ""}'
                for c, v in unknown.items()))
    with warnings.catch_warnings():
        # the unknown categories are in the notes, by column and value
        warnings.filterwarnings("ignore", message="Found unknown categories")
        prediction = model.predict(X)
        proba = model.predict_proba(X) if hasattr(model[-1], "predict_proba") else None
    out = frame.drop(columns=[c for c in frame.columns if c == "prediction"
                              or str(c).startswith("proba_")])
    out["prediction"] = prediction
    if proba is not None:
        for j, label in enumerate(record["target"]["classes"]):
            out[f"proba_{label}"] = proba[:, j]
    return out, notes


def _read_rows(path, record, features):
    """``(frame, X, notes)``: the file's rows as a table, what the model takes, and notes."""
    import pandas as pd

    table_model = record["preprocessing"]["kind"] == "table"
    suffix = path.suffix.lower()
    if suffix in ARRAY_SUFFIXES:
        X, _, _ = read_npz(path, need_y=False)
        if table_model:
            raise ValueError(f"'{path}' holds an array, but this model reads a table with the "
                             f"columns {_names(features)}: give a .csv or .parquet file")
        if X.shape[1] != len(features):
            raise ValueError(f"X in '{path}' has {X.shape[1]} columns, but the model was "
                             f"trained on {len(features)} features")
        return pd.DataFrame({"row": np.arange(len(X))}), X, []
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"unsupported file type '{path.suffix}' for '{path}'; give a .csv, "
                         ".parquet or .npz file")
    frame, _ = read_table(path)
    absent = [n for n in features if n not in frame.columns]
    if absent:
        raise ValueError(f"'{path}' lacks the feature column(s) {_names(absent)} that the "
                         f"model was trained on (it needs {_names(features)})")
    notes = []
    target = record["target"]["name"]
    if target in frame.columns:
        notes.append(f'the target column "{target}" is ignored')
    extra = [c for c in frame.columns if c not in features and c != target]
    if extra:
        notes.append(f"columns the model does not use are ignored: {_names(extra)}")
    X = frame[features] if table_model else frame[features].to_numpy(dtype=np.float64)
    return frame, X, notes


def write_predictions(frame, out=None) -> None:
    """The predictions as CSV into the file ``out``, or to standard output (None)."""
    import sys

    frame.to_csv(sys.stdout if out is None else out, index=False)
