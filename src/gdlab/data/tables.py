"""Reading the user's tables: CSV files with a header row, and NPZ files holding arrays ``X`` and
``y``. Errors are ValueErrors worded for the person who gave the file: they name the file, the
column and the line."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np


def cell_problem(cell: str):
    """Why a CSV cell is not a finite number: 'empty cell', 'NaN', 'inf', 'non-numeric' or None."""
    s = cell.strip()
    if not s:
        return "empty cell"
    try:
        v = float(s)
    except ValueError:
        return "non-numeric"
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "inf"
    return None


def read_csv(path: Path, target):
    """``(X, y, feature names)`` of a CSV file with a header row; ``target`` names the target
    column (default: the last). Every feature must be numeric and finite."""
    names, lines, columns, n = _csv_columns(path)
    if target is None:
        target = names[-1]
    elif not isinstance(target, str):
        raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
    if target not in names:
        available = ", ".join(f'"{n}"' for n in names)
        raise ValueError(f'target column "{target}" is not in CSV file \'{path}\'; '
                         f"available columns: {available}")
    feature_names = [name for name in names if name != target]
    X = _csv_features(path, feature_names, columns, lines, n)
    return X, _csv_target(path, target, columns[target], lines), feature_names


def _csv_columns(path: Path):
    """The header, the line number of each data row, the cells by column and the row count."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = [(reader.line_num, row) for row in reader if row]  # skip blank lines
    except UnicodeDecodeError:
        raise ValueError(f"CSV file '{path}' is not UTF-8 text") from None
    except csv.Error as exc:
        raise ValueError(f"CSV file '{path}' is malformed: {exc}") from None
    if not rows:
        raise ValueError(f"CSV file '{path}' is empty: it needs a header row and data rows")
    names = [h.strip() for h in rows[0][1]]
    for i, n in enumerate(names):
        if not n:
            raise ValueError(f"CSV file '{path}': header column {i + 1} has no name")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"CSV file '{path}': duplicated column name(s) "
                         + ", ".join(f'"{n}"' for n in duplicated))
    if len(names) < 2:
        raise ValueError(f"CSV file '{path}' has {len(names)} column; it needs at least one "
                         "feature column and a target column")
    data = rows[1:]
    if not data:
        raise ValueError(f"CSV file '{path}' has a header but no data rows")
    for line, row in data:
        if len(row) != len(names):
            raise ValueError(f"CSV file '{path}', line {line}: {len(row)} cells, but the "
                             f"header has {len(names)} columns")
    lines = [line for line, _ in data]
    columns = dict(zip(names, zip(*(row for _, row in data), strict=True), strict=True))
    return names, lines, columns, len(data)


def _csv_features(path, feature_names, columns, lines, n):
    X = np.empty((n, len(feature_names)), dtype=np.float64)
    non_numeric, first_problem = [], None
    for j, name in enumerate(feature_names):
        cells = columns[name]
        try:
            X[:, j] = np.array(cells, dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(X[:, j]))
            problems = [(int(bad[0]), cell_problem(cells[bad[0]]))] if bad.size else []
        except ValueError:  # the slow path only runs to explain the failure
            problems = [(i, p) for i, c in enumerate(cells) if (p := cell_problem(c))]
            if not problems:  # a spelling NumPy refuses but Python's float() reads
                X[:, j] = [float(c) for c in cells]
        for i, p in problems:
            if p == "non-numeric":
                non_numeric.append((name, cells[i], lines[i]))
                break
        else:
            if problems and first_problem is None:
                i, p = problems[0]
                first_problem = f'{p} in column "{name}" (line {lines[i]})'
    if non_numeric:
        listed = ", ".join(f'"{n}" ({v.strip()!r} on line {line})' for n, v, line in non_numeric)
        raise ValueError(f"CSV file '{path}': feature column(s) that are not numeric: {listed}; "
                         "encode them as numbers or drop them")
    if first_problem:
        raise ValueError(f"CSV file '{path}': {first_problem}; fill in or remove that row")
    return X


def _csv_target(path, target, column, lines):
    cells = [c.strip() for c in column]
    for i, c in enumerate(cells):
        p = cell_problem(c)
        if p in ("empty cell", "NaN", "inf"):
            raise ValueError(f"CSV file '{path}': {p} in target column \"{target}\" "
                             f"(line {lines[i]}); fill in or remove that row")
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        return np.array(cells, dtype=str)


def read_npz(path: Path):
    try:
        npz = np.load(path, allow_pickle=False)
    except ValueError as exc:  # e.g. a pickle file; allow_pickle=False refuses it
        raise ValueError(f"cannot read '{path}' as .npz: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read '{path}' as .npz: {exc}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"'{path}' is a single .npy array, not an .npz archive with X and y")
    with npz:
        missing = [k for k in ("X", "y") if k not in npz.files]
        if missing:
            raise ValueError(f"'{path}' lacks array(s) {', '.join(missing)}; it holds: "
                             f"{', '.join(npz.files) or 'nothing'}")
        arrays = {}
        for key in ("X", "y", "feature_names"):
            if key not in npz.files:
                continue
            try:
                arrays[key] = npz[key]
            except ValueError:
                raise ValueError(f"array {key} in '{path}' is an object array; only numeric and "
                                 "string arrays are read (pickled data is never loaded)") from None
    X, y = arrays["X"], arrays["y"]
    if X.ndim != 2:
        raise ValueError(f"X in '{path}' must be 2-D (samples, features), found shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X in '{path}' must be numeric, found dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X in '{path}' is empty: shape {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y in '{path}' must be 1-D with one value per row of X ({len(X)}), "
                         f"found shape {y.shape}")
    if y.dtype.kind not in "biufUS":
        raise ValueError(f"y in '{path}' must hold numbers or strings, found dtype {y.dtype}")
    X = X.astype(np.float64)
    names = [f"x{j}" for j in range(X.shape[1])]
    if "feature_names" in arrays:
        fn = arrays["feature_names"]
        if fn.shape != (X.shape[1],):
            raise ValueError(f"feature_names in '{path}' must have one name per column of X "
                             f"({X.shape[1]}), found shape {fn.shape}")
        names = [str(n) for n in fn]
    bad_cols = np.flatnonzero(~np.all(np.isfinite(X), axis=0))
    if bad_cols.size:
        j = int(bad_cols[0])
        kind = "NaN" if np.isnan(X[:, j]).any() else "inf"
        raise ValueError(f'{kind} in column "{names[j]}" (X[:, {j}]) of \'{path}\'')
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"NaN or inf in y of '{path}'")
    if y.dtype.kind == "S":
        y = y.astype(str)
    return X, y, names
