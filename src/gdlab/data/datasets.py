"""Datasets: the bundled ones, MNIST-like IDX files, generated ones, the user's tables (CSV,
Parquet) and NPZ files; splits; scaling.

Every loader returns a :class:`Dataset` whose ``y`` holds int64 class indices
(classification) or float64 values (regression). ``X`` is a float64 array of shape (samples,
features) for arrays (the bundled data, IDX and NPZ files), and a pandas DataFrame of the
feature columns for a table, cleaned by :mod:`gdlab.data.columns` but not yet encoded: the
encoding and scaling are learnt on the training part only (:mod:`gdlab.data.preprocess`).
Errors are ``ValueError``/``TypeError`` worded for the person who gave the file or name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gdlab import _checks
from gdlab.data import columns as cols
from gdlab.data import toy
from gdlab.data.idx import IDX_DATASETS, load_idx_dataset
from gdlab.data.tables import ARRAY_SUFFIXES, TABLE_SUFFIXES, read_npz, read_table

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


@dataclass(eq=False)
class Dataset:
    """A loaded dataset.

    ``X`` float64 (samples, features), or for a table a pandas DataFrame of its feature
    columns (numbers float64, booleans and text as strings, NaN for missing cells); ``y``
    int64 class indices into ``classes`` for classification, float64 for regression;
    ``classes`` the original labels in sorted order (None for regression); ``task``
    "classification" or "regression"; ``name`` the dataset name or file stem; ``source``
    "bundled" or the file or folder it came from; ``target`` the target's name and
    ``task_reason`` why the task is what it is (``"287 distinct whole numbers"``). For tables
    also ``kinds`` (feature column -> "number", "boolean" or "text"), ``missing`` (the missing
    cells of each feature column that imputation fills) and ``notes`` (rows dropped, and why).
    For a dataset folder (:mod:`gdlab.data.ondisk`) ``X`` is the read-only memory map of
    ``X.npy``, ``sample_weight`` that of ``w.npy`` (or None) and ``folder`` its
    ``dataset.json`` with ``"path"`` added.
    """

    X: object
    y: np.ndarray
    feature_names: list
    classes: list | None
    task: str
    name: str
    source: str
    target: str | None = None
    task_reason: str = ""
    kinds: dict | None = None
    missing: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    sample_weight: object = None
    folder: dict | None = None

    @property
    def on_disk(self) -> bool:
        """True for a dataset folder: ``X`` is a memory map of ``X.npy``, never read whole."""
        return self.folder is not None

    def rows(self, dtype="float32"):
        """A dataset folder's X as training reads it, for ``Trainer.fit`` and the estimators'
        ``fit``: a :class:`gdlab.data.ondisk.ScaledRows` over the map, standardised with the
        folder's recorded scaling, or else with statistics of one streaming pass over X."""
        from gdlab.data import ondisk

        if not self.on_disk:
            raise ValueError(f"rows() reads a dataset folder; {self.name!r} is in memory: use X")
        scaling = ondisk.folder_scaling(self.folder, self.n_features)
        if scaling is None:
            scaler = ondisk.streaming_scaler(self.X)
            scaling = (scaler.mean_, scaler.scale_)
        return ondisk.ScaledRows(self.X, None, *scaling, dtype=dtype)

    @property
    def is_table(self) -> bool:
        """True when ``X`` is a table of named, typed columns (a DataFrame)."""
        return self.kinds is not None

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

    Strings and booleans are classes; whole numbers (whatever the dtype) with at most
    :data:`gdlab.data.columns.MAX_CLASSES_FROM_WHOLE_NUMBERS` distinct values are classes,
    with more they are regression; fractional values are regression
    (:func:`gdlab.data.columns.describe_target` also says why). Pass ``task=`` to
    :func:`load_dataset` to override.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"target must be 1-D, found shape {y.shape}")
    if y.size == 0:
        raise ValueError("target is empty: no samples")
    if y.dtype.kind not in "bUSOiuf":
        raise TypeError(f"target of dtype {y.dtype} is neither labels nor real numbers")
    return cols.describe_target(y)[0]


def _check_task(task):
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None, got {task!r}")
    return task


def _target(y, task, where):
    """``(y, classes, task, reason)`` of a target whose task is ``task`` or inferred."""
    reason = None
    if task is None:
        task, reason = cols.describe_target(y)
    y, classes = cols.encode_target(y, task, where)
    if reason is None:
        reason = "as asked" if classes is None else f"{len(classes)} classes, as asked"
    return y, classes, task, reason


def _resolve_path(name_or_path, data_dir) -> Path:
    path = Path(name_or_path).expanduser()
    if not path.exists() and data_dir is not None and not path.is_absolute():
        in_dir = Path(data_dir) / path
        if in_dir.exists():
            path = in_dir
    return path


def load_dataset(name_or_path, *, target=None, data_dir=None, task=None,
                 download: bool = True, features=None, drop=None,
                 missing: str = "impute", n_samples=None, noise=None, seed=0) -> Dataset:
    """Load a dataset by name (see ``DATASETS``), from a table (``.csv``, ``.parquet``) or from
    an ``.npz`` file.

    Names win over files of the same name; ``-`` and ``_`` are interchangeable in names.

    - Bundled (scikit-learn) datasets need no network. ``target`` does not apply to them.
    - ``mnist``/``fashion_mnist`` read IDX files from ``data_dir`` or ~/.cache/gdlab/<name>/,
      downloading them (checksum verified) when missing unless ``download`` is false.
    - The generated datasets (``GENERATED``: ``circles``, ``moons``, ``xor``, ``spirals``,
      ``blobs``, ``ravine``, ``curve``) draw ``n_samples`` points (default 400) with Gaussian
      noise of standard deviation ``noise`` (default 0.1) from ``seed``
      (:func:`gdlab.data.toy.draw`), in the order drawn; ``n_samples`` and ``noise`` apply to
      them only.
    - A table is read by pandas (:func:`gdlab.data.tables.read_table`; a CSV file has a header
      row). ``target`` names the target column (default: the last), ``features`` the feature
      columns (default: every other one) and ``drop`` columns to leave out. Feature columns
      may hold numbers, booleans and text; cells such as empty, ``NA``, ``NaN``, ``null`` and
      ``?`` are missing. ``missing`` says what to do with them: ``"impute"`` (keep them for
      the model's imputer; ``Dataset.missing`` counts them), ``"drop"`` (drop those rows) or
      ``"error"``; rows without a target value are dropped unless ``missing="error"``.
    - An NPZ file holds arrays ``X`` (2-D, numeric) and ``y`` (1-D), optionally
      ``feature_names``; it is read with ``allow_pickle=False``.
    - A folder holding ``X.npy`` and ``y.npy`` (optionally ``w.npy`` and ``dataset.json``) is
      a dataset on disk (:mod:`gdlab.data.ondisk`): X is memory-mapped, never read whole.

    For files the task is inferred by :func:`infer_task` unless ``task`` is given; class labels
    are encoded as indices into ``classes`` (sorted as ``np.unique`` sorts them). A target with
    a single class is *not* rejected here; the caller checks that when it needs two classes.
    A relative path not found from the current folder is also looked for in ``data_dir``.
    Raises ValueError for unknown names, missing or unreadable files and bad contents.
    """
    _check_task(task)
    named = isinstance(name_or_path, str) and name_or_path.lower().replace("-", "_") in DATASETS
    name = name_or_path.lower().replace("-", "_") if named else None
    if named and (features or drop):
        raise ValueError("features and drop select the columns of a table (a .csv or "
                         f".parquet file), not of the {name_or_path!r} dataset")
    if name in GENERATED:
        return _generate(name, target, task, n_samples, noise, seed)
    for key, value in (("n_samples", n_samples), ("noise", noise)):
        if value is not None:
            raise ValueError(f"{key}={value!r} applies to the generated datasets only "
                             f"({', '.join(GENERATED)}), not to {str(name_or_path)!r}")
    if named:
        return _load_named(name, target, data_dir, task, download)
    if isinstance(name_or_path, (str, Path)) and _resolve_path(name_or_path, data_dir).is_dir():
        return _load_folder(_resolve_path(name_or_path, data_dir), task, target or features or drop)
    path = resolve_file(name_or_path, data_dir)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return _load_table(path, target, features, drop, task, missing)
    if target is not None or features or drop:
        raise ValueError("target, features and drop name the columns of a table (a .csv or "
                         ".parquet file); an .npz file gives its target as the array y")
    X, y, feature_names = read_npz(path)
    y, classes, task, reason = _target(y, task, f"'{path}'")
    return Dataset(X, y, feature_names, classes, task, path.stem, str(path), target="y",
                   task_reason=reason)


def resolve_file(name_or_path, data_dir=None) -> Path:
    """The data file ``name_or_path`` names (also looked for in ``data_dir``), checked to
    exist and to be a table or an array file; an unknown name gets "did you mean"."""
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"dataset must be a name or a path, got {type(name_or_path).__name__}")
    path = _resolve_path(name_or_path, data_dir)
    suffix = path.suffix.lower()
    known = TABLE_SUFFIXES + ARRAY_SUFFIXES
    if not path.exists():
        if suffix in known or len(path.parts) > 1:
            raise ValueError(f"no such file: '{path}'")
        raise ValueError(f"unknown dataset {str(name_or_path)!r}"
                         f"{_checks.did_you_mean(str(name_or_path), DATASETS)} Known names: "
                         f"{', '.join(DATASETS)}; or give the path of a .csv, .parquet or "
                         ".npz file")
    if not path.is_file():
        raise ValueError(f"'{path}' is not a file; give a .csv, .parquet or .npz file")
    if suffix not in known:
        raise ValueError(f"unsupported file type '{path.suffix}' for '{path}'; "
                         "give a .csv, .parquet or .npz file")
    return path


def _load_table(path, target, features, drop, task, missing) -> Dataset:
    frame, lines = read_table(path)
    source = f"'{path}'"
    features, target = cols.select_columns(frame.columns, target=target, features=features,
                                           drop=drop, source=source)
    keep, counts, notes = cols.missing_cells(frame[[*features, target]], target, lines,
                                             missing, source)
    if not keep.all():
        frame = frame[keep].reset_index(drop=True)
        lines = None if lines is None else lines[keep]
    kinds = {}
    for name in features:
        if frame[name].isna().all():
            raise ValueError(f'column "{name}" of {source} has no values; leave it out with '
                             f"--drop {name}")
        kinds[name] = cols.column_kind(frame[name])
        if kinds[name] == "text":
            cols.check_text_column(frame[name], name, lines, source)
    X = cols.clean_features(frame, kinds, lines, source)
    y, classes, task, reason = _target(frame[target], task, f'column "{target}" of {source}')
    return Dataset(X, y, list(features), classes, task, path.stem, str(path), target=target,
                   task_reason=reason, kinds=kinds, missing=counts, notes=notes)


def _load_folder(path: Path, task, columns) -> Dataset:
    """A dataset folder (:mod:`gdlab.data.ondisk`): X memory-mapped, y's classes encoded;
    ``columns``: whether a target or feature columns were named (an error here)."""
    from gdlab.data import ondisk

    if columns:
        raise ValueError("target, features and drop name the columns of a table; a dataset "
                         "folder gives its target as y.npy (gdlab data convert selects a "
                         "table's columns)")
    if not ondisk.is_dataset_folder(path):
        raise ValueError(f"'{path}' is not a file nor a dataset folder (a folder holding "
                         f"{ondisk.X_FILE} and {ondisk.Y_FILE}; gdlab data convert makes one "
                         "from a table); give a .csv, .parquet or .npz file, or such a folder")
    X, y, w, meta = ondisk.open_folder(path)
    task = task or meta.get("task")
    _check_task(task)
    where = f"y.npy of '{path}'"
    if meta.get("classes") is not None and task != "regression":
        classes = list(meta["classes"])
        y = np.asarray(y)
        if y.dtype.kind not in "iu" or len(y) and (y.min() < 0 or y.max() >= len(classes)):
            raise ValueError(f"{where} must hold indices into the {len(classes)} classes of "
                             f"{ondisk.META_FILE}")
        y, task = y.astype(np.int64), "classification"
        reason = meta.get("task_reason") or f"{len(classes)} classes, as recorded"
    else:
        y, classes, task, reason = _target(np.asarray(y), task, where)
    names = meta.get("feature_names") or [f"x{j}" for j in range(X.shape[1])]
    return Dataset(X, y, list(names), classes, task, meta.get("name") or path.name, str(path),
                   target=meta.get("target", "y"), task_reason=reason,
                   missing=dict(meta.get("missing", {})), notes=list(meta.get("notes", [])),
                   sample_weight=w,
                   folder={**meta, "path": str(path)})


def _generate(name, target, task, n_samples, noise, seed):
    """A generated dataset, drawn from ``seed`` (see :mod:`gdlab.data.toy`)."""
    table_task = DATASETS[name][0]
    if target is not None:
        raise ValueError(f"target={target!r} names a column of a table (a .csv or .parquet "
                         f"file), not of the generated {name!r} dataset")
    if task is not None and task != table_task:
        raise ValueError(f"dataset {name!r} is a {table_task} dataset, not {task}")
    seed = _checks.integer("seed", seed, low=0)
    X, y = toy.draw(name, toy.DEFAULT_N_SAMPLES if n_samples is None else n_samples,
                    toy.DEFAULT_NOISE if noise is None else noise,
                    rng=np.random.default_rng(seed))
    features = [f"x{i + 1}" for i in range(X.shape[1])]
    classes = [0, 1] if table_task == "classification" else None
    return Dataset(X, y, features, classes, table_task, name, "generated", target="y",
                   task_reason="the dataset's own task")


def _load_named(name, target, data_dir, task, download):
    """A dataset of the table: scikit-learn's bundled ones, or the IDX ones."""
    table_task = DATASETS[name][0]
    if target is not None:
        raise ValueError(f"target={target!r} names a column of a table (a .csv or .parquet "
                         f"file), not of the {name!r} dataset")
    if task is not None and task != table_task:
        raise ValueError(f"dataset {name!r} is a {table_task} dataset, not {task}")
    if name in IDX_DATASETS:
        X, y, classes, feature_names, source = load_idx_dataset(name, data_dir,
                                                                download=download)
        return Dataset(X, y, feature_names, classes, table_task, name, source, target="label",
                       task_reason="the dataset's own task")
    from sklearn import datasets as skdatasets

    bunch = getattr(skdatasets, f"load_{name}")()
    if table_task == "classification":
        y, classes = bunch.target.astype(np.int64), bunch.target_names.tolist()
    else:
        y, classes = bunch.target.astype(np.float64), None
    X = np.asarray(bunch.data, dtype=np.float64)
    return Dataset(X, y, list(bunch.feature_names), classes, table_task, name, "bundled",
                   target="target", task_reason="the dataset's own task")
