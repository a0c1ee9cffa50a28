"""Rows on disk for the estimators: a row source (e.g. :class:`gdlab.data.ondisk.ScaledRows`
over a memory-mapped X.npy) is trained on a batch at a time and predicted (``predict``,
``predict_proba``, ``score``) a chunk at a time, never converted to one array, where
scikit-learn's ``validate_data`` would read it all."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array

from gdlab.training.prepared import assert_rows_finite, is_row_source

__all__ = ["is_row_source", "rows_input", "check_rows"]


def rows_input(est, X, y, *, reset: bool, y_numeric: bool):
    """``(X, y)`` for ``fit`` on a row source ``X``: ``y`` checked as scikit-learn checks it,
    ``n_features_in_`` set (or compared), X's finiteness checked chunk by chunk. Solvers that
    need every row at once (``lbfgs``) and early stopping's copied validation split are
    refused with a ValueError that says so."""
    if est.solver == "lbfgs":
        raise ValueError("solver='lbfgs' needs X in memory; rows on disk train with the "
                         "stochastic solvers ('adam', 'sgd', ...)")
    if est.early_stopping:
        raise ValueError("early_stopping=True splits X by copying; for rows on disk give "
                         "early_stopping=False (a dataset folder's run splits by index)")
    y = check_array(np.asarray(y), ensure_2d=False, dtype="numeric" if y_numeric else None,
                    input_name="y")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                         f"[{X.shape[0]}, {y.shape[0]}]")
    return check_rows(est, X, reset=reset), y


def check_rows(est, X, *, reset: bool):
    """A row source ``X`` checked as ``validate_data`` checks an array, a chunk at a time:
    ``n_features_in_`` set (``reset``) or compared, and every value finite."""
    if reset:
        est.n_features_in_ = X.shape[1]
        est.__dict__.pop("feature_names_in_", None)
    elif X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
                         f"{est.n_features_in_} features as input.")
    assert_rows_finite(X, "Input X")
    return X
