"""The columns of a table: which are the features and which is the target, the kind of each
feature (number, boolean or text), the cells that are missing, and the task the target asks for.

These rules are the one place that decides how a table's cells become a model's inputs, used
when a table is loaded for training (:func:`gdlab.data.load_dataset`) and again, with the
kinds the training recorded, on the rows a model predicts for
(:class:`gdlab.data.preprocess.TableColumns`). pandas is imported by the caller, never here
at import time.
"""

from __future__ import annotations

import math

import numpy as np

from gdlab import _checks

#: the kinds of feature column: numbers are imputed and standardised; booleans and text are
#: categories, one-hot encoded
KINDS = ("number", "boolean", "text")
#: what to do with missing cells when training (``--missing``)
MISSING_MODES = ("impute", "drop", "error")
#: a target of whole numbers with at most this many distinct values is class labels;
#: with more it is a quantity to regress (a count, a price in whole units)
MAX_CLASSES_FROM_WHOLE_NUMBERS = 20
#: the two spellings of a boolean category, as Python and pandas print them
BOOLEAN_LABELS = ("False", "True")
_TRUE = {"true", "t", "yes"}
_FALSE = {"false", "f", "no"}


def _where(lines, row) -> str:
    return f"line {int(lines[row])}" if lines is not None else f"row {int(row) + 1}"


def _names(names) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _unknown_column(name, columns, what, source) -> ValueError:
    hint = _checks.did_you_mean(name, columns)
    tail = f"{hint} Its columns: {_names(columns)}" if hint else f"; its columns: {_names(columns)}"
    return ValueError(f'{what} "{name}" is not a column of {source}{tail}')


def select_columns(columns, *, target=None, features=None, drop=None, source="the table"):
    """``(feature names, target name)`` among ``columns``: the target named (default: the last
    column), the features listed (default: every other column) less those in ``drop``.
    Unknown names are ValueErrors with a "did you mean" and the list of columns."""
    columns = [str(c) for c in columns]
    if target is None:
        target = columns[-1]
    elif not isinstance(target, str):
        raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
    if target not in columns:
        raise _unknown_column(target, columns, "target column", source)
    for name in [*(features or ()), *(drop or ())]:
        if name not in columns:
            raise _unknown_column(name, columns, "column", source)
    if features and target in features:
        raise ValueError(f'"{target}" is the target column; it cannot be a feature as well')
    chosen = list(features) if features else [c for c in columns if c != target]
    chosen = [c for c in chosen if c not in set(drop or ())]
    if not chosen:
        raise ValueError(f"no feature column left in {source}: it needs at least one column "
                         f"besides the target \"{target}\"")
    return chosen, target


def column_kind(series) -> str:
    """``"number"``, ``"boolean"`` or ``"text"``: the kind of a column as pandas read it.
    Booleans (also with missing cells) are categories, numbers of any dtype are numbers,
    everything else is text."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "number"
    values = series.dropna()
    if len(values) and all(isinstance(v, (bool, np.bool_)) for v in values):
        return "boolean"
    return "text"


def check_text_column(series, name: str, lines=None, source="the table") -> None:
    """A text column whose cells are mostly numbers is a number column with a stray cell (a
    missing-value marker pandas does not know, a repeated header line): a ValueError naming
    its line, rather than a column of numbers silently one-hot encoded as categories."""
    import pandas as pd

    values = series.dropna()
    numeric = pd.to_numeric(values, errors="coerce").notna().to_numpy()
    if numeric.any() and not numeric.all() and numeric.mean() > 0.5:
        row = int(np.flatnonzero(series.notna().to_numpy())[np.flatnonzero(~numeric)[0]])
        raise ValueError(f'column "{name}" of {source} holds numbers, but {_where(lines, row)} '
                         f"holds {_checks.describe(series.iloc[row])}; clean that cell (missing "
                         "cells may be empty, NA, NaN, null or ?) or leave the column out with "
                         f"--drop {name}")


def clean_column(series, kind: str, *, name: str, lines=None, source=None):
    """A column in the form the preprocessing takes: numbers as float64 with NaN for missing
    cells; booleans and text as Python strings (booleans ``"True"``/``"False"``, text
    stripped of surrounding spaces, whole numbers without ``.0``) with NaN for missing cells.
    A number column holding text or infinity is a ValueError naming the column and the row."""
    import pandas as pd

    from gdlab.data.tables import MISSING_MARKERS

    missing = series.isna().to_numpy().copy()
    if series.dtype.kind not in "biufc":  # text as a reader left it: "?" and "NA" are gaps
        missing |= series.isin(MISSING_MARKERS).to_numpy()
        series = series.mask(missing)
    if kind == "number":
        where = f'column "{name}"' + (f" of {source}" if source else "")
        return pd.Series(_numbers(series, missing, where, lines), index=series.index, name=name)
    if kind == "text" and pd.api.types.infer_dtype(series, skipna=True) == "string":
        values = series.astype(object).str.strip().to_numpy(dtype=object, copy=True)
        values[missing] = math.nan
    else:
        values = np.empty(len(series), dtype=object)
        for i, v in enumerate(series.to_numpy(dtype=object)):
            values[i] = math.nan if missing[i] else _category(v, kind)
    return pd.Series(values, index=series.index, name=name, dtype=object)


def _numbers(series, missing, where, lines) -> np.ndarray:
    import pandas as pd

    try:
        values = pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64,
                                                                 na_value=np.nan)
    except (ValueError, TypeError):
        numeric = pd.to_numeric(series, errors="coerce")
        row = int(np.flatnonzero(numeric.isna().to_numpy() & ~missing)[0])
        raise ValueError(f"{where} holds numbers, but {_where(lines, row)} holds "
                         f"{_checks.describe(series.iloc[row])}") from None
    bad = np.flatnonzero(np.isinf(values))
    if bad.size:
        raise ValueError(f"inf in {where} ({_where(lines, bad[0])}); give a finite number or "
                         "leave the cell empty")
    return values


def _category(value, kind) -> str:
    if isinstance(value, (bool, np.bool_)):
        return BOOLEAN_LABELS[bool(value)]
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value.item() if isinstance(value, np.generic) else value).strip()
    if kind == "boolean":
        low = text.lower()
        if low in _TRUE or low == "1":
            return "True"
        if low in _FALSE or low == "0":
            return "False"
    return text


def clean_features(frame, kinds: dict, lines=None, source=None):
    """The columns of ``kinds`` (name -> kind) of ``frame``, in that order, cleaned by
    :func:`clean_column`; a column that is not there is a ValueError naming it."""
    import pandas as pd

    absent = [n for n in kinds if n not in frame.columns]
    if absent:
        raise ValueError(f"missing feature column(s) {_names(absent)}: the model was trained "
                         f"on {_names(kinds)}")
    return pd.DataFrame({n: clean_column(frame[n], k, name=n, lines=lines, source=source)
                         for n, k in kinds.items()}, index=frame.index)


def describe_target(y) -> tuple[str, str]:
    """``(task, reason)`` for a target (its missing values removed): strings and booleans are
    classes; whole numbers (whatever the dtype) with at most
    :data:`MAX_CLASSES_FROM_WHOLE_NUMBERS` distinct values are classes, with more they are
    regression; fractional values are regression. ``reason`` says why, e.g.
    ``"287 distinct whole numbers"``."""
    import pandas as pd

    series = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y))
    if len(series) == 0:
        raise ValueError("target is empty: no samples")
    kind = column_kind(series)
    if kind == "boolean":
        return "classification", "true/false values"
    if kind == "text":
        return "classification", f"{series.nunique()} text labels"
    values = series.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("target contains NaN or inf")
    n = np.unique(values).size
    if np.all(values == np.round(values)):
        task = "classification" if n <= MAX_CLASSES_FROM_WHOLE_NUMBERS else "regression"
        return task, f"{n} distinct whole number{'s' if n != 1 else ''}"
    return "regression", "fractional values"


def encode_target(y, task: str, where: str):
    """``(y, classes)``: int64 indices into the sorted labels ``classes`` (Python values, so
    that messages show ``'south'``, never ``np.str_('south')``), or float64 values and None."""
    import pandas as pd

    series = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y))
    kind = column_kind(series)
    if task == "regression":
        if kind == "text":
            raise ValueError(f"regression needs a numeric target, but {where} holds labels "
                             f"such as {_checks.describe(series.iloc[0])}")
        return series.to_numpy(dtype=np.float64), None
    if kind == "boolean":
        values = series.to_numpy(dtype=bool)
    elif kind == "text":
        values = np.array([str(v).strip() for v in series], dtype=str)
    else:
        values = series.to_numpy(dtype=np.float64)
        if np.all(values == np.round(values)):
            values = values.astype(np.int64)
    classes, indices = np.unique(values, return_inverse=True)
    return indices.reshape(-1).astype(np.int64), classes.tolist()


def missing_cells(frame, target, lines, mode: str, source: str):
    """Apply ``mode`` (:data:`MISSING_MODES`) to a table's missing cells. Returns ``(keep,
    counts, notes)``: a boolean mask of the rows to keep, the missing cells per feature
    column in the kept rows (the cells imputation fills) and sentences for the run.

    Rows without a target value are dropped (and counted) unless ``mode`` is ``"error"``; with
    ``"drop"`` rows with a missing feature are dropped too; with ``"error"`` the first missing
    cell is a ValueError naming its column and line."""
    mode = _checks.choice("missing", mode, MISSING_MODES, kind="--missing mode")
    features = frame.drop(columns=[target])
    feature_missing = features.isna().to_numpy()
    target_missing = frame[target].isna().to_numpy()
    if mode == "error":
        for name, column in [(target, target_missing), *zip(features.columns,
                                                            feature_missing.T)]:
            if column.any():
                raise ValueError(f'missing value in column "{name}" of {source} '
                                 f"({_where(lines, np.flatnonzero(column)[0])}); fill it in, or "
                                 "train with --missing impute or --missing drop")
    keep = ~target_missing
    notes = []
    if target_missing.any():
        notes.append(f"dropped {int(target_missing.sum())} row(s) without a value in the target "
                     f'column "{target}"')
    if mode == "drop":
        incomplete = keep & feature_missing.any(axis=1)
        if incomplete.any():
            notes.append(f"dropped {int(incomplete.sum())} row(s) with missing cells "
                         "(--missing drop)")
        keep &= ~incomplete
    if not keep.any():
        raise ValueError(f"no rows of {source} are left once rows with missing values are "
                         "dropped")
    counts = feature_missing[keep].sum(axis=0)
    return keep, {n: int(c) for n, c in zip(features.columns, counts) if c}, notes
