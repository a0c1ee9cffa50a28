"""Splitting a dataset into train, validation and test parts, and standardising its features
with the training part's statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdlab import _checks


@dataclass(eq=False)
class Split:
    """Train, validation and test parts; the validation/test ones are None when not asked for."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None


def split(X, y, *, test_size=0.25, val_size=0.0, task, seed) -> Split:
    """Split into train, validation and test parts, stratified by class for classification.

    ``test_size`` and ``val_size`` are fractions of the whole dataset (0 leaves that part out,
    as None). ``seed`` (an int, or a ``numpy.random.Generator`` that an int is drawn from)
    makes the split reproducible. Uses ``sklearn.model_selection.train_test_split``.
    """
    from sklearn.model_selection import train_test_split

    if task is None:
        raise ValueError("task must be given: 'classification' or 'regression'")
    task = _checks.choice("task", task, ("classification", "regression"))
    test_size = _checks.fraction("test_size", test_size)
    val_size = _checks.fraction("val_size", val_size)
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
