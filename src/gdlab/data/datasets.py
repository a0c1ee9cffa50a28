"""Datasets: the bundled ones, MNIST-like IDX files, generated ones, the user's CSV and NPZ
files; splits; scaling.

Every loader returns a :class:`Dataset` whose ``X`` is float64 of shape (samples, features)
and whose ``y`` holds int64 class indices (classification) or float64 values (regression).
The training code casts to its own dtype. Errors are ``ValueError``/``TypeError`` worded for
the person who gave the file or name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gdlab import _checks
from gdlab.data import toy
from gdlab.data.idx import IDX_DATASETS, load_idx_dataset
from gdlab.data.tables import read_csv, read_npz

# The one table of dataset names: name -> (task, description). The scikit-learn ones are
# loaded by sklearn.datasets.load_<name>; the IDX ones by gdlab.data.idx.load_idx_dataset; the
# generated ones (their names from gdlab.data.toy.GENERATORS) drawn by gdlab.data.toy.draw.
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
    **{name: (task, f"generated: {text} (n_samples, noise, seed)")
       for name, (task, text, _) in toy.GENERATORS.items()},
}
assert set(IDX_DATASETS) <= set(DATASETS)

#: the names of the generated datasets, the ones that take ``n_samples`` and ``noise``
GENERATED = tuple(toy.GENERATORS)

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
    return task


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


def _resolve_path(name_or_path, data_dir) -> Path:
    path = Path(name_or_path).expanduser()
    if not path.exists() and data_dir is not None and not path.is_absolute():
        in_dir = Path(data_dir) / path
        if in_dir.exists():
            path = in_dir
    return path


def load_dataset(name_or_path, *, target=None, data_dir=None, task=None,
                 download: bool = True, n_samples=None, noise=None, seed=0) -> Dataset:
    """Load a dataset by name (see ``DATASETS``) or from a ``.csv`` or ``.npz`` file.

    Names win over files of the same name; ``-`` and ``_`` are interchangeable in names.

    - Bundled (scikit-learn) datasets need no network. ``target`` does not apply to them.
    - ``mnist``/``fashion_mnist`` read IDX files from ``data_dir`` or ~/.cache/gdlab/<name>/,
      downloading them (checksum verified) when missing unless ``download`` is false.
    - The generated datasets (``GENERATED``: ``circles``, ``moons``, ``xor``, ``spirals``,
      ``blobs``, ``ravine``, ``curve``) draw ``n_samples`` points (default 400) with Gaussian
      noise of standard deviation ``noise`` (default 0.1) from ``seed``
      (:func:`gdlab.data.toy.draw`), in the order drawn; ``n_samples`` and ``noise`` apply to
      them only.
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
    named = isinstance(name_or_path, str) and name_or_path.lower().replace("-", "_") in DATASETS
    name = name_or_path.lower().replace("-", "_") if named else None
    if name in GENERATED:
        return _generate(name, target, task, n_samples, noise, seed)
    for key, value in (("n_samples", n_samples), ("noise", noise)):
        if value is not None:
            raise ValueError(f"{key}={value!r} applies to the generated datasets only "
                             f"({', '.join(GENERATED)}), not to {str(name_or_path)!r}")
    if named:
        return _load_named(name, target, data_dir, task, download)
    return _load_file(name_or_path, target, data_dir, task)


def _load_file(name_or_path, target, data_dir, task) -> Dataset:
    """A ``.csv`` or ``.npz`` file (see :func:`load_dataset`)."""
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"dataset must be a name or a path, got {type(name_or_path).__name__}")
    path = _resolve_path(name_or_path, data_dir)
    suffix = path.suffix.lower()
    if not path.exists():
        if suffix in (".csv", ".npz") or len(path.parts) > 1:
            raise ValueError(f"no such file: '{path}'")
        raise ValueError(f"unknown dataset {str(name_or_path)!r}"
                         f"{_checks.did_you_mean(str(name_or_path), DATASETS)} Known names: "
                         f"{', '.join(DATASETS)}; or give the path of a .csv or .npz file")
    if not path.is_file():
        raise ValueError(f"'{path}' is not a file; give a .csv or .npz file")
    if suffix == ".csv":
        X, y, feature_names = read_csv(path, target)
    elif suffix == ".npz":
        if target is not None:
            raise ValueError(f"target={target!r} applies to CSV files only; an .npz file "
                             "gives its target as the array y")
        X, y, feature_names = read_npz(path)
    else:
        raise ValueError(f"unsupported file type '{path.suffix}' for '{path}'; "
                         "give a .csv or .npz file")
    task = task or infer_task(y)
    y, classes = _encode_target(y, task, f"'{path}'")
    return Dataset(X, y, feature_names, classes, task, path.stem, str(path))


def _generate(name, target, task, n_samples, noise, seed):
    """A generated dataset, drawn from ``seed`` (see :mod:`gdlab.data.toy`)."""
    table_task = DATASETS[name][0]
    if target is not None:
        raise ValueError(f"target={target!r} applies to CSV files only, not to the generated "
                         f"{name!r} dataset")
    if task is not None and task != table_task:
        raise ValueError(f"dataset {name!r} is a {table_task} dataset, not {task}")
    seed = _checks.integer("seed", seed, low=0)
    X, y = toy.draw(name, toy.DEFAULT_N_SAMPLES if n_samples is None else n_samples,
                    toy.DEFAULT_NOISE if noise is None else noise,
                    rng=np.random.default_rng(seed))
    features = [f"x{i + 1}" for i in range(X.shape[1])]
    classes = [0, 1] if table_task == "classification" else None
    return Dataset(X, y, features, classes, table_task, name, "generated")


def _load_named(name, target, data_dir, task, download):
    """A dataset of the table: scikit-learn's bundled ones, or the IDX ones."""
    table_task = DATASETS[name][0]
    if target is not None:
        raise ValueError(f"target={target!r} applies to CSV files only, not to the "
                         f"{name!r} dataset")
    if task is not None and task != table_task:
        raise ValueError(f"dataset {name!r} is a {table_task} dataset, not {task}")
    if name in IDX_DATASETS:
        X, y, classes, feature_names, source = load_idx_dataset(name, data_dir,
                                                                download=download)
        return Dataset(X, y, feature_names, classes, table_task, name, source)
    from sklearn import datasets as skdatasets

    bunch = getattr(skdatasets, f"load_{name}")()
    if table_task == "classification":
        y, classes = bunch.target.astype(np.int64), bunch.target_names.tolist()
    else:
        y, classes = bunch.target.astype(np.float64), None
    X = np.asarray(bunch.data, dtype=np.float64)
    return Dataset(X, y, list(bunch.feature_names), classes, table_task, name, "bundled")
