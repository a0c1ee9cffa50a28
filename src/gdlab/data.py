"""Datasets: the bundled ones, MNIST-like IDX files, the user's CSV and NPZ files; splits; scaling.

Every loader returns a :class:`Dataset` whose ``X`` is float64 of shape (samples, features)
and whose ``y`` holds int64 class indices (classification) or float64 values (regression).
The training code casts to its own dtype. Errors are ``ValueError``/``TypeError`` worded for
the person who gave the file or name.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gdlab.idx import IDX_DATASETS, load_idx_dataset, read_idx

__all__ = ["DATASETS", "Dataset", "Split", "load_dataset", "infer_task", "split", "standardize",
           "read_idx", "MAX_CLASSES_FROM_FLOATS"]

# The one table of dataset names: name -> (task, description). The scikit-learn ones are
# loaded by sklearn.datasets.load_<name>; the IDX ones by gdlab.idx.load_idx_dataset.
DATASETS = {
    "iris": ("classification", "scikit-learn: 150 iris flowers, 4 features, 3 classes"),
    "wine": ("classification", "scikit-learn: 178 wines, 13 features, 3 classes"),
    "breast_cancer": ("classification", "scikit-learn: 569 tumours, 30 features, 2 classes"),
    "digits": ("classification", "scikit-learn: 1,797 8x8 digit images, 64 features, 10 classes"),
    "diabetes": ("regression", "scikit-learn: 442 patients, 10 features, disease progression"),
    "mnist": ("classification", "70,000 28x28 handwritten digits, 784 features, 10 classes "
              "(IDX files, downloaded once)"),
    "fashion_mnist": ("classification", "70,000 28x28 clothing images, 784 features, "
                      "10 classes (IDX files, downloaded once)"),
}
assert set(IDX_DATASETS) <= set(DATASETS)

TASKS = ("classification", "regression")

# A whole-valued float target (0.0/1.0 from a CSV) is taken as class labels unless it has more
# distinct values than this: then it is a count or a measurement (the diabetes target has 214).
MAX_CLASSES_FROM_FLOATS = 100


@dataclass(eq=False)
class Dataset:
    """A loaded dataset.

    ``X`` float64 (samples, features); ``y`` int64 class indices into ``classes`` for
    classification, float64 for regression; ``classes`` the original labels in sorted order
    (None for regression); ``task`` "classification" or "regression"; ``name`` the dataset
    name or file stem; ``source`` "bundled" or the file or folder it came from.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list
    classes: list | None
    task: str
    name: str
    source: str

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    def __repr__(self):
        extra = f", classes={self.n_classes}" if self.classes is not None else ""
        return (f"Dataset(name={self.name!r}, task={self.task!r}, X={self.X.shape}{extra}, "
                f"source={self.source!r})")


def infer_task(y) -> str:
    """Say whether a target is class labels or values to regress.

    Strings, booleans and integers are classes. Floats are classes when every value is a
    whole number (so 0.0/1.0 read from a CSV are two classes) and there are at most
    ``MAX_CLASSES_FROM_FLOATS`` distinct values; a fractional value, or more distinct whole
    values than that, makes it regression. Pass ``task=`` to :func:`load_dataset` to override.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"target must be 1-D, found shape {y.shape}")
    if y.size == 0:
        raise ValueError("target is empty: no samples")
    kind = y.dtype.kind
    if kind in "bUSOiu":
        return "classification"
    if kind != "f":
        raise TypeError(f"target of dtype {y.dtype} is neither labels nor real numbers")
    if not np.all(np.isfinite(y)):
        raise ValueError("target contains NaN or inf")
    if np.all(y == np.round(y)) and np.unique(y).size <= MAX_CLASSES_FROM_FLOATS:
        return "classification"
    return "regression"


def _check_task(task):
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None, got {task!r}")


def _encode_target(y: np.ndarray, task: str, where: str):
    """Return (y, classes): class indices and sorted labels, or float values and None."""
    if task == "regression":
        if y.dtype.kind not in "biuf":
            example = y[0]
            raise ValueError(f"regression needs a numeric target, but {where} holds labels "
                             f"such as {example!r}")
        return y.astype(np.float64), None
    try:
        classes, indices = np.unique(y, return_inverse=True)
    except TypeError:
        raise TypeError(f"class labels in {where} are of mixed types and cannot be "
                        "sorted") from None
    if classes.dtype.kind == "f":  # whole-valued floats: show 0/1, not 0.0/1.0
        labels = [int(c) for c in classes]
    else:
        labels = classes.tolist()
    return indices.reshape(-1).astype(np.int64), labels


def _cell_problem(cell: str):
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


def _read_csv(path: Path, target):
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
    if target is None:
        target = names[-1]
    elif not isinstance(target, str):
        raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
    if target not in names:
        available = ", ".join(f'"{n}"' for n in names)
        raise ValueError(f'target column "{target}" is not in CSV file \'{path}\'; '
                         f"available columns: {available}")
    data = rows[1:]
    if not data:
        raise ValueError(f"CSV file '{path}' has a header but no data rows")
    for line, row in data:
        if len(row) != len(names):
            raise ValueError(f"CSV file '{path}', line {line}: {len(row)} cells, but the "
                             f"header has {len(names)} columns")
    lines = [line for line, _ in data]
    columns = dict(zip(names, zip(*(row for _, row in data), strict=True), strict=True))

    feature_names = [n for n in names if n != target]
    X = np.empty((len(data), len(feature_names)), dtype=np.float64)
    non_numeric, first_problem = [], None
    for j, name in enumerate(feature_names):
        cells = columns[name]
        try:
            X[:, j] = np.array(cells, dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(X[:, j]))
            problems = [(int(bad[0]), _cell_problem(cells[bad[0]]))] if bad.size else []
        except ValueError:  # the slow path only runs to explain the failure
            problems = [(i, p) for i, c in enumerate(cells) if (p := _cell_problem(c))]
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

    cells = [c.strip() for c in columns[target]]
    for i, c in enumerate(cells):
        p = _cell_problem(c)
        if p in ("empty cell", "NaN", "inf"):
            raise ValueError(f"CSV file '{path}': {p} in target column \"{target}\" "
                             f"(line {lines[i]}); fill in or remove that row")
    try:
        y = np.array(cells, dtype=np.float64)
    except ValueError:
        y = np.array(cells, dtype=str)
    return X, y, feature_names


def _read_npz(path: Path):
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


def _resolve_path(name_or_path, data_dir) -> Path:
    path = Path(name_or_path).expanduser()
    if not path.exists() and data_dir is not None and not path.is_absolute():
        in_dir = Path(data_dir) / path
        if in_dir.exists():
            path = in_dir
    return path


def load_dataset(name_or_path, *, target=None, data_dir=None, task=None,
                 download: bool = True) -> Dataset:
    """Load a dataset by name (see ``DATASETS``) or from a ``.csv`` or ``.npz`` file.

    Names win over files of the same name; ``-`` and ``_`` are interchangeable in names.

    - Bundled (scikit-learn) datasets need no network. ``target`` does not apply to them.
    - ``mnist``/``fashion_mnist`` read IDX files from ``data_dir`` or ~/.cache/gdlab/<name>/,
      downloading them (checksum verified) when missing unless ``download`` is false.
    - A CSV file has a header row; ``target`` names the target column (default: the last).
      Every other column must be numeric and finite: non-numeric columns, empty cells, NaN and
      inf are rejected, naming the column.
    - An NPZ file holds arrays ``X`` (2-D, numeric) and ``y`` (1-D), optionally
      ``feature_names``; it is read with ``allow_pickle=False``.

    For files the task is inferred by :func:`infer_task` unless ``task`` is given; class labels
    are encoded as indices into ``classes`` (sorted as ``np.unique`` sorts them). A target with
    a single class is *not* rejected here; the caller checks that when it needs two classes.
    A relative path not found from the current folder is also looked for in ``data_dir``.
    Raises ValueError for unknown names, missing or unreadable files and bad contents.
    """
    _check_task(task)
    if isinstance(name_or_path, str) and name_or_path.lower().replace("-", "_") in DATASETS:
        name = name_or_path.lower().replace("-", "_")
        table_task = DATASETS[name][0]
        if target is not None:
            raise ValueError(f"target={target!r} applies to CSV files only, not to the "
                             f"{name!r} dataset")
        if task is not None and task != table_task:
            raise ValueError(f"dataset {name!r} is a {table_task} dataset, not {task}")
        if name in IDX_DATASETS:
            X, y, classes, feature_names, source = load_idx_dataset(
                name, data_dir, download=download)
            return Dataset(X, y, feature_names, classes, table_task, name, source)
        from sklearn import datasets as skdatasets

        bunch = getattr(skdatasets, f"load_{name}")()
        if table_task == "classification":
            y, classes = bunch.target.astype(np.int64), bunch.target_names.tolist()
        else:
            y, classes = bunch.target.astype(np.float64), None
        X = np.asarray(bunch.data, dtype=np.float64)
        return Dataset(X, y, list(bunch.feature_names), classes, table_task, name, "bundled")

    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"dataset must be a name or a path, got {type(name_or_path).__name__}")
    path = _resolve_path(name_or_path, data_dir)
    suffix = path.suffix.lower()
    if not path.exists():
        if suffix in (".csv", ".npz") or len(path.parts) > 1:
            raise ValueError(f"no such file: '{path}'")
        raise ValueError(f"unknown dataset {str(name_or_path)!r}; known names: "
                         f"{', '.join(DATASETS)}; or give the path of a .csv or .npz file")
    if not path.is_file():
        raise ValueError(f"'{path}' is not a file; give a .csv or .npz file")
    if suffix == ".csv":
        X, y, feature_names = _read_csv(path, target)
    elif suffix == ".npz":
        if target is not None:
            raise ValueError(f"target={target!r} applies to CSV files only; an .npz file "
                             "gives its target as the array y")
        X, y, feature_names = _read_npz(path)
    else:
        raise ValueError(f"unsupported file type '{path.suffix}' for '{path}'; "
                         "give a .csv or .npz file")
    task = task or infer_task(y)
    y, classes = _encode_target(y, task, f"'{path}'")
    return Dataset(X, y, feature_names, classes, task, path.stem, str(path))


@dataclass(eq=False)
class Split:
    """Train, validation and test parts; the validation/test ones are None when not asked for."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None


def _fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")
    return float(value)


def split(X, y, *, test_size=0.25, val_size=0.0, task, seed) -> Split:
    """Split into train, validation and test parts, stratified by class for classification.

    ``test_size`` and ``val_size`` are fractions of the whole dataset (0 leaves that part out,
    as None). ``seed`` (an int, or a ``numpy.random.Generator`` that an int is drawn from)
    makes the split reproducible. Uses ``sklearn.model_selection.train_test_split``.
    """
    from sklearn.model_selection import train_test_split

    _check_task(task)
    if task is None:
        raise ValueError("task must be given: 'classification' or 'regression'")
    test_size, val_size = _fraction("test_size", test_size), _fraction("val_size", val_size)
    if test_size + val_size >= 1:
        raise ValueError(f"test_size + val_size must be below 1, got {test_size} + {val_size}")
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**31))
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy Generator, got {seed!r}")
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} values")

    def cut(X, y, size, what):
        stratify = y if task == "classification" else None
        try:
            return train_test_split(X, y, test_size=size, random_state=int(seed),
                                    stratify=stratify)
        except ValueError as exc:
            raise ValueError(f"cannot split off the {what} set ({size:.3g} of "
                             f"{len(y)} samples): {exc}") from None

    X_test = y_test = X_val = y_val = None
    if test_size > 0:
        X, X_test, y, y_test = cut(X, y, test_size, "test")
    if val_size > 0:
        X, X_val, y, y_val = cut(X, y, val_size / (1 - test_size), "validation")
    return Split(X, y, X_val, y_val, X_test, y_test)


def standardize(X_train, *others, dtype=None):
    """Scale features to zero mean and unit variance, with statistics of ``X_train`` only.

    Returns ``(scaler, X_train_scaled, *others_scaled)``; ``others`` are scaled with the
    training statistics and may be None (returned as None). The result has ``dtype`` (default:
    the dtype of ``X_train`` if it is a float, else float64). Constant columns are centred
    and left unscaled. The scaler is scikit-learn's ``StandardScaler``.
    """
    from sklearn.preprocessing import StandardScaler

    X_train = np.asarray(X_train)
    if dtype is None:
        dtype = X_train.dtype if X_train.dtype.kind == "f" else np.float64
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    scaler = StandardScaler().fit(X_train.astype(dtype, copy=False))
    out = [scaler.transform(np.asarray(X_train, dtype=dtype))]
    out += [None if X is None else scaler.transform(np.asarray(X, dtype=dtype)) for X in others]
    return (scaler, *out)
