"""GDRegressor: scikit-learn's MLPRegressor, trained by gdlab (see :mod:`gdlab.estimators`)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import validate_data

from gdlab.estimators.base import GDBase, dense_finite, partial_fit_available
from gdlab.estimators.rows import is_row_source, rows_input


class GDRegressor(RegressorMixin, GDBase):
    """Multilayer perceptron regressor trained by gdlab: a drop-in for scikit-learn's
    ``MLPRegressor``, with its parameters and fitted attributes (see :class:`GDClassifier`
    for gdlab's extra parameters) and multi-output targets.

    loss : "squared_error" (default; half the squared error, as scikit-learn), "poisson"
        (half Poisson deviance with a log link, ``y >= 0``, as scikit-learn), and gdlab's
        "absolute_error" and "huber" (delta 1). Losses are summed over outputs.

    The fitted attributes are the model, as :class:`GDClassifier`'s docstring details:
    ``coefs_``, ``intercepts_``, ``batchnorm_`` (gdlab's, with ``batchnorm=True``),
    ``n_features_in_``, ``n_outputs_``, ``n_layers_`` and ``out_activation_`` (``"identity"``,
    or ``"exp"`` for ``loss="poisson"``), with the parameters ``activation`` and
    ``batchnorm``. An estimator made fitted by setting them predicts (and trains on) as the
    estimator they came from.
    """

    _parameter_constraints: dict = {
        **GDBase._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", "absolute_error", "huber"})],
    }
    _task = "regression"

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 batchnorm=False, dropout=0.0, weight_init=None, lr_schedule=None,
                 clip_norm=None, weight_decay=0.0, dtype=None, callbacks=None, fast=None,
                 threads=None):
        self._set_params_from_init(locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y; returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(partial_fit_available)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        if is_row_source(X):  # rows on disk: read a batch at a time, never whole
            X, y = rows_input(self, X, y, reset=reset, y_numeric=True)
        else:
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                                 y_numeric=True, dtype=(np.float64, np.float32), reset=reset,
                                 ensure_all_finite=False)
            X = dense_finite(X, self)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        target = y.reshape(y.shape[0], -1)
        fitted = np.shape(self.coefs_[-1])[-1] if not reset else target.shape[1]
        if target.shape[1] != fitted:
            raise ValueError(f"y has {target.shape[1]} outputs but the model was fitted with "
                             f"{fitted}")
        self.n_outputs_ = target.shape[1]
        self._loss_kind = self.loss
        self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        return X, y, target

    def _with_class_weight(self, y, sw, incremental):
        return sw

    def _stratify_labels(self, target):
        return None

    def _cast_target(self, target, dtype):
        return target.astype(dtype, copy=False)

    def _predict_output(self, out):
        return np.exp(out) if self.out_activation_ == "exp" else out

    def _score_output(self, out, target, sw):
        return float(r2_score(target, self._predict_output(out), sample_weight=sw))

    def predict(self, X):
        """The predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        out = self._predict_output(self._forward(X))
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
