"""Reading the user's files: tables (CSV, and Parquet where pyarrow is installed) with pandas,
and NPZ files holding arrays ``X`` and ``y``. Errors are ValueErrors worded for the person who
gave the file: they name the file, the column and the line.

pandas is imported when a table is first read, never at ``import gdlab``.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

#: the cells read as missing values: pandas' own markers and ``?``. "None" is not among them:
#: in a table it is as often a category ("basement: None") as a gap.
MISSING_MARKERS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                   "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
                   "?")
#: the file types read as tables, and those read as arrays
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
ARRAY_SUFFIXES = (".npz",)


def read_table(path):
    """``(frame, lines)``: the table in ``path`` (a ``.csv`` with a header row, or a
    ``.parquet`` file) as a pandas DataFrame, the cells of :data:`MISSING_MARKERS` read as
    missing (NaN), and the line of the file each row came from (an int array; None for
    Parquet), for messages.

    A CSV file must be UTF-8 text whose header names every column once and whose rows have as
    many cells as the header (pandas itself would silently pad a short row with missing
    values); each problem is a ValueError naming the file and the line.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path)
    raise ValueError(f"unsupported table type '{path.suffix}' for '{path}'; give a .csv or "
                     ".parquet file")


def _read_csv(path: Path):
    import pandas as pd

    lines = _check_csv_structure(path)
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=list(MISSING_MARKERS),
                            skipinitialspace=True, encoding="utf-8-sig", low_memory=False)
    except UnicodeDecodeError:
        raise ValueError(f"CSV file '{path}' is not UTF-8 text") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        raise ValueError(f"CSV file '{path}' is malformed: {_first_line(exc)}") from None
    if len(frame) != len(lines):  # e.g. a quoted cell that spans lines
        lines = np.arange(len(frame)) + 2
    return frame, lines


def _first_line(exc) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_csv_structure(path: Path) -> np.ndarray:
    """The line of each data row, once the header and each row's cell count are checked."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next((row for row in reader if row), None)
            if header is None:
                raise ValueError(f"CSV file '{path}' is empty: it needs a header row and data "
                                 "rows")
            names = [h.strip() for h in header]
            _check_names(path, names)
            lines = []
            for row in reader:
                if not row:
                    continue  # blank lines are skipped, as pandas does
                lines.append(reader.line_num)
                if len(row) != len(names):
                    raise ValueError(f"CSV file '{path}', line {reader.line_num}: {len(row)} "
                                     f"cells, but the header has {len(names)} columns")
    except UnicodeDecodeError:
        raise ValueError(f"CSV file '{path}' is not UTF-8 text") from None
    except csv.Error as exc:
        raise ValueError(f"CSV file '{path}' is malformed: {exc}") from None
    if not lines:
        raise ValueError(f"CSV file '{path}' has a header but no data rows")
    return np.asarray(lines, dtype=np.int64)


def _check_names(path, names) -> None:
    for i, name in enumerate(names):
        if not name:
            raise ValueError(f"table '{path}': header column {i + 1} has no name")
        if "\x00" in name:
            raise ValueError(f"table '{path}': header column {i + 1} holds a NUL byte")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"table '{path}': duplicated column name(s) "
                         + ", ".join(f'"{n}"' for n in duplicated))


def _read_parquet(path: Path):
    import pandas as pd

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ValueError(f"reading the Parquet file '{path}' needs pyarrow: pip install "
                         "pyarrow (or pip install 'gdlab[parquet]')") from None
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read '{path}' as Parquet: {_first_line(exc)}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_names(path, list(frame.columns))
    if len(frame) == 0:
        raise ValueError(f"Parquet file '{path}' has no rows")
    return frame, None


def where(lines, row) -> str:
    """How to point at data row ``row`` (0-based) of a table that :func:`read_table` read:
    its line in the CSV file, or its row number in a Parquet file (``lines`` None)."""
    return f"line {int(lines[row])}" if lines is not None else f"row {int(row) + 1}"


def read_npz(path: Path, *, need_y: bool = True):
    """``(X, y, feature names)`` of an NPZ file holding ``X`` (2-D, numeric) and ``y`` (1-D),
    optionally ``feature_names``; read with ``allow_pickle=False``. With ``need_y=False`` (a
    file to predict on) ``y`` may be absent (None)."""
    arrays = _npz_arrays(path, ("X", "y") if need_y else ("X",))
    X, y = arrays["X"], arrays.get("y")
    if X.ndim != 2:
        raise ValueError(f"X in '{path}' must be 2-D (samples, features), found shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X in '{path}' must be numeric, found dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X in '{path}' is empty: shape {X.shape}")
    if y is not None:
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y in '{path}' must be 1-D with one value per row of X "
                             f"({len(X)}), found shape {y.shape}")
        if y.dtype.kind not in "biufUS":
            raise ValueError(f"y in '{path}' must hold numbers or strings, found dtype {y.dtype}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError(f"NaN or inf in y of '{path}'")
        if y.dtype.kind == "S":
            y = y.astype(str)
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
    return X, y, names


def _npz_arrays(path: Path, needed) -> dict:
    try:
        npz = np.load(path, allow_pickle=False)
    except ValueError as exc:  # e.g. a pickle file; allow_pickle=False refuses it
        raise ValueError(f"cannot read '{path}' as .npz: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read '{path}' as .npz: {exc}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"'{path}' is a single .npy array, not an .npz archive with X and y")
    with npz:
        missing = [k for k in needed if k not in npz.files]
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
    return arrays
