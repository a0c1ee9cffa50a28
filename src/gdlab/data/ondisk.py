"""Datasets on disk: a folder of ``X.npy`` and ``y.npy`` (optionally ``w.npy`` and
``dataset.json``), memory-mapped and never read whole.

``X.npy`` is a 2-D numeric array (samples, features), ``y.npy`` a 1-D array of one target per
row (class labels, or indices into the ``classes`` of ``dataset.json``, or values to regress)
and ``w.npy`` optional non-negative sample weights. ``dataset.json`` (all entries optional):
``feature_names``, ``task``, ``classes``, ``target``, and the scaling, either ``scaling``
(``{"mean": [...], "scale": [...]}``, one number per column of X) or ``preprocessing`` (the
record of :mod:`gdlab.data.preprocess` that ``gdlab data convert`` writes: a table's
imputation, encoding and scaling, so that a model trained on the folder predicts on raw
columns). Without a scaling the statistics come from a streaming pass over the training rows
(:func:`streaming_scaler`: scikit-learn's StandardScaler, fitted chunk by chunk with
``partial_fit``, the function the in-memory path fits in one call).

:class:`ScaledRows` is what training reads: some rows of the map (all, or those of an index
array: a split is indices, never a copy), standardised on the way out into the caller's
buffer (:meth:`ScaledRows.take`), in float64 and then cast, as scikit-learn's StandardScaler
and ``astype`` do in memory. Nothing writes a scaled copy of X.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: the files of a dataset folder
X_FILE, Y_FILE, W_FILE, META_FILE = "X.npy", "y.npy", "w.npy", "dataset.json"
#: bytes of float64 work a chunked pass over rows holds at a time
CHUNK_BYTES = 1 << 19


def is_dataset_folder(path) -> bool:
    """True when ``path`` is a folder holding ``X.npy`` (a dataset on disk)."""
    path = Path(path)
    return path.is_dir() and (path / X_FILE).is_file()


def chunk_rows(n_features: int, limit: int = 8192) -> int:
    """Rows per chunk of a pass over ``n_features`` columns: at most :data:`CHUNK_BYTES` of
    float64 work, at least 16 rows, at most ``limit``."""
    return int(max(16, min(limit, CHUNK_BYTES // (8 * max(1, n_features)))))


class ScaledRows:
    """Rows of a 2-D array (usually a memory map) seen standardised, in ``dtype``.

    ``rows``: the positions in ``source`` this view holds (None: all, in order); ``mean``
    and ``scale``: per column (None: no scaling). It behaves as the array
    ``((source[rows] - mean) / scale).astype(dtype)`` for what training asks of X: ``shape``,
    ``dtype``, ``len``, ``take(indices, axis=0, out=...)`` (gathered into ``out`` and
    standardised there), ``X[a:b]`` (those rows as a new array: a chunk), ``X[indices]`` (a
    new view on those rows, nothing read) and :meth:`chunks`.
    """

    ndim = 2

    def __init__(self, source, rows=None, mean=None, scale=None, dtype=np.float32):
        if getattr(source, "ndim", 0) != 2:
            raise ValueError(f"X must be 2-D (samples, features), found shape "
                             f"{getattr(source, 'shape', None)}")
        self.source = source
        self.rows = None if rows is None else np.asarray(rows, dtype=np.intp)
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        d = source.shape[1]
        for name, v in (("mean", self.mean), ("scale", self.scale)):
            if v is not None and v.shape != (d,):
                raise ValueError(f"the scaling's {name} has {v.size} values for {d} columns")
        self._raw = self._work = None

    # ---- array-like --------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        n = self.source.shape[0] if self.rows is None else self.rows.shape[0]
        return (n, self.source.shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self):
        return f"ScaledRows(shape={self.shape}, dtype={self.dtype.name})"

    def astype(self, dtype, copy=True):
        """The same rows in another float dtype (a new view, nothing read); ``copy=False``
        returns this view when the dtype is already ``dtype``."""
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        return ScaledRows(self.source, self.rows, self.mean, self.scale, dtype)

    def subset(self, indices):
        """A view on the rows at ``indices`` of this view (nothing read)."""
        indices = np.asarray(indices, dtype=np.intp)
        rows = indices if self.rows is None else self.rows[indices]
        return ScaledRows(self.source, rows, self.mean, self.scale, self.dtype)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return self.subset(np.arange(start, stop, step))
            out = np.empty((max(0, stop - start), self.shape[1]), dtype=self.dtype)
            return self.take_range(start, stop, out)
        return self.subset(key)

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, dtype=self.dtype)
        self.take_range(0, len(self), out)
        return out if dtype is None else out.astype(dtype, copy=False)

    # ---- reading ------------------------------------------------------------------------------
    def _raw_buffer(self, m):
        if self._raw is None or self._raw.shape[0] < m:
            self._raw = np.empty((m, self.shape[1]), dtype=self.source.dtype)
        return self._raw[:m]

    def _work_buffer(self, m):
        if self.mean is None:
            return None
        if self._work is None or self._work.shape[0] < m:
            self._work = np.empty((m, self.shape[1]), dtype=np.float64)
        return self._work[:m]

    def _scale_into(self, raw, out):
        if self.mean is None:
            np.copyto(out, raw, casting="same_kind")
            return out
        work = self._work_buffer(raw.shape[0])
        np.subtract(raw, self.mean, out=work)
        np.divide(work, self.scale, out=out)
        return out

    def take(self, indices, axis=0, out=None, mode="clip"):
        """The rows at ``indices`` of this view, gathered from the source into ``out`` (a
        (len(indices), features) array of ``dtype``) and standardised there."""
        if axis != 0:
            raise ValueError("ScaledRows are taken along axis 0 (rows)")
        indices = np.asarray(indices, dtype=np.intp)
        m = indices.shape[0]
        if out is None:
            out = np.empty((m, self.shape[1]), dtype=self.dtype)
        rows = indices if self.rows is None else self.rows.take(indices)
        if self.mean is None and self.source.dtype == out.dtype:
            return self.source.take(rows, axis=0, out=out, mode="clip")
        raw = self.source.take(rows, axis=0, out=self._raw_buffer(m), mode="clip")
        return self._scale_into(raw, out)

    def take_range(self, start, stop, out):
        """Rows ``start:stop`` of this view into ``out``, standardised."""
        if self.rows is not None:
            return self.take(np.arange(start, stop), out=out)
        # a view of the map: its pages are read, not copied
        return self._scale_into(self.source[start:stop], out)

    def chunks(self, size=None):
        """``(start, rows)`` over this view in chunks of ``size`` rows (default
        :func:`chunk_rows`), each a new array."""
        size = chunk_rows(self.shape[1]) if size is None else int(size)
        for start in range(0, len(self), size):
            yield start, self[start:start + size]


def streaming_scaler(X, rows=None, chunk=None):
    """scikit-learn's StandardScaler fitted on the rows ``rows`` (None: all) of the 2-D array
    ``X`` (a memory map), ``chunk`` rows at a time with ``partial_fit``, in float64."""
    from sklearn.preprocessing import StandardScaler

    view = ScaledRows(X, rows, dtype=np.float64)
    scaler = StandardScaler()
    for _, block in view.chunks(chunk):
        scaler.partial_fit(block)
    return scaler


# ---- the folder ----------------------------------------------------------------------------------

def _load_array(path: Path, what: str, required=True):
    if not path.is_file():
        if required:
            raise ValueError(f"dataset folder '{path.parent}' has no {path.name} ({what})")
        return None
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"cannot read '{path}' as a .npy array: {exc}") from None
    return array


def read_meta(folder) -> dict:
    """The folder's ``dataset.json`` (an empty dict when it has none)."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read '{path}' as JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"'{path}' must hold a JSON object")
    return meta


def open_folder(folder):
    """``(X, y, w, meta)`` of a dataset folder: X, y and w (None when absent) memory-mapped,
    checked for shape and dtype (nothing read but their headers), and the JSON meta."""
    folder = Path(folder)
    X = _load_array(folder / X_FILE, "the features, one row per sample")
    y = _load_array(folder / Y_FILE, "the target, one value per row of X")
    w = _load_array(folder / W_FILE, "sample weights", required=False)
    where = f"'{folder}'"
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X.npy in {where} must be a non-empty 2-D array (samples, features), "
                         f"found shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X.npy in {where} must be numeric, found dtype {X.dtype}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y.npy in {where} must be 1-D with one value per row of X "
                         f"({X.shape[0]}), found shape {y.shape}")
    if y.dtype.kind not in "biufU":
        raise ValueError(f"y.npy in {where} must hold numbers or strings, found {y.dtype}")
    if w is not None and (w.shape != (X.shape[0],) or w.dtype.kind not in "biuf"):
        raise ValueError(f"w.npy in {where} must be 1-D numbers, one per row of X "
                         f"({X.shape[0]}), found shape {w.shape} and dtype {w.dtype}")
    meta = read_meta(folder)
    names = meta.get("feature_names")
    if names is not None and len(names) != X.shape[1]:
        raise ValueError(f"{META_FILE} in {where} names {len(names)} features but X has "
                         f"{X.shape[1]} columns")
    return X, y, w, meta


def folder_scaling(meta: dict, n_features: int):
    """``(mean, scale)`` of the folder's recorded scaling over every column of X, or None:
    ``scaling`` as given, or a ``preprocessing`` record's number columns (its category
    columns, one-hot encoded, are not scaled: mean 0, scale 1)."""
    if "scaling" in meta:
        mean = np.asarray(meta["scaling"]["mean"], dtype=np.float64)
        scale = np.asarray(meta["scaling"]["scale"], dtype=np.float64)
    elif "preprocessing" in meta:
        stats = meta["preprocessing"].get("numbers", {"mean": [], "scale": []})
        k = len(stats["mean"])
        mean, scale = np.zeros(n_features), np.ones(n_features)
        mean[:k], scale[:k] = stats["mean"], stats["scale"]
    else:
        return None
    if mean.shape != (n_features,) or scale.shape != (n_features,) or not (
            np.all(np.isfinite(mean)) and np.all(scale > 0)):
        raise ValueError(f"the recorded scaling must have a finite mean and a positive scale "
                         f"for each of the {n_features} columns of X")
    return mean, scale


def to_json(value):
    """``value`` with NumPy arrays and numbers as JSON lists and numbers."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_meta(folder, meta: dict) -> Path:
    """Write ``dataset.json`` into ``folder`` (arrays as lists)."""
    path = Path(folder) / META_FILE
    path.write_text(json.dumps(to_json(meta), indent=1), encoding="utf-8")
    return path
