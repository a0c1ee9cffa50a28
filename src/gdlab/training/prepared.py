"""The data a training run is given: checked once at the start of ``fit``, converted once to the
network's dtype, split for validation if asked, then trusted by the hot path
(:class:`PreparedData`)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from gdlab import _checks
from gdlab.nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss
from gdlab.nn.normalization import BatchNorm

_CLASSIFICATION_LOSSES = (CrossEntropyLoss, BCEWithLogitsLoss)
_REGRESSION_LOSSES = (MSELoss, L1Loss, HuberLoss)


def infer_task(loss, task):
    """``"classification"`` or ``"regression"``: given, or inferred from the loss class."""
    if task is not None:
        task = _checks.choice("task", task, ("classification", "regression"))
        if (task == "regression" and isinstance(loss, _CLASSIFICATION_LOSSES)) or (
                task == "classification" and isinstance(loss, _REGRESSION_LOSSES)):
            raise ValueError(f"task={task!r} does not fit the loss {loss!r}")
        return task
    if isinstance(loss, _CLASSIFICATION_LOSSES):
        return "classification"
    if isinstance(loss, _REGRESSION_LOSSES):
        return "regression"
    raise ValueError(f"cannot infer the task from the loss {loss!r}; pass task="
                     "'classification' or 'regression'")


def _first_bad(mask):
    i, j = np.argwhere(mask)[0]
    return f"row {i}, column {j}"


def is_row_source(X) -> bool:
    """True for rows read on demand rather than an array in memory: an object with ``shape``,
    ``dtype``, ``astype``, ``take(indices, axis=0, out=...)`` (the rows gathered into
    ``out``), ``take_range(start, stop, out)``, ``X[a:b]`` (a chunk as a new array) and
    ``X[indices]`` (a view on those rows), such as :class:`gdlab.data.ondisk.ScaledRows`."""
    return not isinstance(X, np.ndarray) and hasattr(X, "take_range")


def _check_rows(net, X, name, assume_finite):
    """A row source (see :func:`is_row_source`) of the network's dtype, checked chunk by chunk."""
    if len(X.shape) != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty 2-D (n_samples, n_features), got shape "
                         f"{X.shape}")
    if net.n_features_in is not None and X.shape[1] != net.n_features_in:
        raise ValueError(f"{name} has {X.shape[1]} features, but the network expects "
                         f"{net.n_features_in}")
    if X.dtype != net.dtype:
        X = X.astype(net.dtype)
    if not assume_finite:
        assert_rows_finite(X, name)
    return X


def assert_rows_finite(X, name="X"):
    """:func:`assert_finite` over a row source, a chunk at a time, naming the row of ``X``."""
    for start, chunk in X.chunks():
        try:
            assert_finite(chunk, name)
        except ValueError:
            i, j = np.argwhere(~np.isfinite(chunk))[0]
            raise ValueError(f"{name} contains NaN or infinity (first at row {start + i}, "
                             f"column {j})") from None


def check_X(net, X, name="X", assume_finite=False):
    """``X`` as a C-contiguous 2-D finite array of the network's dtype, or a clear error; a row
    source (:func:`is_row_source`, e.g. a dataset on disk) stays one, checked in chunks.

    ``assume_finite=True`` skips the finiteness test (a pass over ``X``), for callers that have
    just made it themselves (the estimators, through scikit-learn's ``validate_data``)."""
    if is_row_source(X):
        return _check_rows(net, X, name, assume_finite)
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape})")
    if net.n_features_in is not None and X.shape[1] != net.n_features_in:
        raise ValueError(f"{name} has {X.shape[1]} features, but the network expects "
                         f"{net.n_features_in}")
    X = np.ascontiguousarray(X, dtype=net.dtype)
    if not assume_finite:
        assert_finite(X, name)
    return X


def assert_finite(X, name="X"):
    """ValueError naming the first NaN or infinity of the 2-D float array ``X``, if any."""
    # X.X is finite when every element is (barring overflow of the squares), reads X once and
    # allocates nothing, where np.isfinite(X) would make a boolean copy of X (47 MB for MNIST)
    # and X.sum() is slower: the exact test, chunk by chunk, runs only when the quick one
    # fails, to find the culprit
    flat = np.ascontiguousarray(X).reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        quick = math.isfinite(float(np.dot(flat, flat)))
    if not quick:
        for start in range(0, X.shape[0], 4096):
            finite = np.isfinite(X[start:start + 4096])
            if not finite.all():
                i, j = np.argwhere(~finite)[0]
                raise ValueError(f"{name} contains NaN or infinity (first at row {start + i}, "
                                 f"column {j})")


def check_y(net, loss, task, y, n, name="y"):
    """``y`` in the form the loss's hot path expects: int64 labels or a float (n, outputs) array."""
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != n:
        got = "a scalar" if y.ndim == 0 else f"{y.shape[0]} samples"
        raise ValueError(f"{name} has {got} but X has {n}; their lengths must match")
    if y.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {y.dtype}; encode labels as "
                        "integers 0..C-1 first")
    n_out = net.n_outputs
    if task == "classification" and not isinstance(loss, BCEWithLogitsLoss):
        if y.ndim != 1:
            raise ValueError(f"{name} must be 1-D class labels, got shape {y.shape}")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)):
                raise ValueError(f"{name} contains NaN or infinity")
            frac = y != np.round(y)
            if frac.any():
                raise ValueError(f"{name} must hold integer class labels, got {y[frac][0]!r}")
        y = y.astype(np.int64)
        if n_out is not None:
            bad = (y < 0) | (y >= n_out)
            if bad.any():
                raise ValueError(f"label {y[bad][0]} in {name} is outside [0, {n_out}): the "
                                 f"network has {n_out} outputs, one per class")
        return np.ascontiguousarray(y)
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or (n_out is not None and y.shape[1] != n_out):
        raise ValueError(f"{name} has shape {y.shape} but the network gives {n_out} "
                         f"output(s) per sample; expected ({n}, {n_out})")
    y = np.ascontiguousarray(y, dtype=net.dtype)
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinity (first at {_first_bad(~np.isfinite(y))})")
    if isinstance(loss, BCEWithLogitsLoss) and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{name} must hold targets in [0, 1] for BCEWithLogitsLoss")
    return y


def check_weights(net, w, n, name="sample_weight"):
    if w is None:
        return None
    w = np.asarray(w)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {w.dtype}")
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {w.shape}")
    w = np.ascontiguousarray(w, dtype=net.dtype)
    if not np.all(np.isfinite(w)) or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"{name} must be finite and non-negative with a positive sum")
    return w


def check_batch_size(batch_size, n):
    """The batch size as an int in [1, n]; ``"full"`` is n (with ``n=None`` only the type and
    sign are checked)."""
    if isinstance(batch_size, str):
        if batch_size != "full":
            raise ValueError(f"batch_size must be a positive integer or 'full', got {batch_size!r}")
        return n
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"batch_size must be a positive integer or 'full', got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if n is not None and batch_size > n:
        raise ValueError(f"batch_size={batch_size} is larger than the {n} training samples; "
                         "use batch_size='full' for batch gradient descent")
    return int(batch_size)


def split_validation(y, fraction, task, seed):
    """Sorted (train, validation) row indices; stratified by class for classification."""
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    n = y.shape[0]
    stratify = y if task == "classification" and y.ndim == 1 else None
    try:
        train, val = train_test_split(np.arange(n), test_size=fraction, stratify=stratify,
                                      random_state=int(rng.integers(2**31)))
    except ValueError as exc:
        raise ValueError(f"cannot split off validation_fraction={fraction} of {n} samples: "
                         f"{exc}") from None
    return np.sort(train), np.sort(val)


@dataclass(eq=False)
class PreparedData:
    """What one ``fit`` trains on, checked and converted: the training arrays (``w`` None
    without sample weights; ``X`` may be a row source, :func:`is_row_source`, read a batch at
    a time), the validation triple or None, and the batch size in rows (``full``: one batch
    of every row, in order)."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    validation: tuple | None
    batch_size: int
    full: bool

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]


def prepare(net, loss, task, X, y, *, sample_weight=None, validation_data=None,
            validation_fraction=0.0, batch_size=32, drop_last=False, seed=0,
            assume_finite=False) -> PreparedData:
    """Check and convert what ``Trainer.fit`` was given, split off the validation part if
    ``validation_fraction`` asks for it (stratified for classification, seeded by ``seed``),
    and check that the batch size fits; ``assume_finite`` skips the NaN/infinity pass over X
    that a caller has just made (the estimators, through scikit-learn's checks)."""
    X = check_X(net, X, assume_finite=assume_finite)
    n = X.shape[0]
    y = check_y(net, loss, task, y, n)
    w = check_weights(net, sample_weight, n)
    if isinstance(validation_fraction, bool) or not isinstance(
            validation_fraction, (int, float)) or not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
    if validation_data is not None and validation_fraction > 0:
        raise ValueError("give validation_data or validation_fraction, not both")
    val = None
    if validation_data is not None:
        val = _check_validation(net, loss, task, validation_data)
    elif validation_fraction > 0:
        train, held = split_validation(y, validation_fraction, task, seed)
        val = (X[held], y[held], None if w is None else w[held])
        X, y, w = X[train], y[train], None if w is None else w[train]
        n = X.shape[0]
    k = check_batch_size(batch_size, n)
    if k == 1 or (n % k == 1 and not drop_last):
        if any(isinstance(layer, BatchNorm) for layer in net.layers):
            raise ValueError(f"batch_size={batch_size} with {n} samples gives a batch "
                             "of 1 sample, which BatchNorm cannot normalise in training; "
                             "use drop_last=True or another batch size")
    return PreparedData(X, y, w, val, k, batch_size == "full")


def _check_validation(net, loss, task, validation_data):
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be (X_val, y_val) or (X_val, y_val, "
                         "sample_weight_val)")
    Xv = check_X(net, validation_data[0], "X_val")
    yv = check_y(net, loss, task, validation_data[1], Xv.shape[0], "y_val")
    wv = None if len(validation_data) == 2 else check_weights(
        net, validation_data[2], Xv.shape[0], "sample_weight_val")
    return Xv, yv, wv
