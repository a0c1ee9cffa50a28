"""GDClassifier: scikit-learn's MLPClassifier, trained by gdlab (see :mod:`gdlab.estimators`)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from gdlab.estimators.base import GDBase, dense_finite, partial_fit_available
from gdlab.estimators.rows import is_row_source, rows_input


class GDClassifier(ClassifierMixin, GDBase):
    """Multilayer perceptron classifier trained by gdlab: a drop-in for scikit-learn's
    ``MLPClassifier``.

    It takes every parameter of ``MLPClassifier`` with the same name, default and meaning
    (see scikit-learn's documentation), and sets the same fitted attributes (``coefs_,
    intercepts_, loss_, loss_curve_, best_loss_, validation_scores_, best_validation_score_,
    n_iter_, t_, n_features_in_, feature_names_in_, n_layers_, n_outputs_, out_activation_,
    classes_``). Multi-class targets train a softmax output with cross-entropy; binary and
    multilabel (indicator matrix) targets one logistic output per label with binary
    cross-entropy, as scikit-learn does. With ``weight_init=None`` the initial weights and
    biases are scikit-learn's, drawn from the same ``random_state``.

    Beyond scikit-learn:

    solver : also "gd" (full-batch "sgd": same learning_rate, momentum and Nesterov options),
        "adagrad", "rmsprop", "adamw", "nadam", "radam", "adamax", "adadelta" (gdlab.optim's,
        with ``learning_rate_init`` as their rate; the Adam family takes ``beta_1, beta_2,
        epsilon``).
    activation : also "leaky_relu" and "elu", or a list with one activation per hidden layer.
    class_weight : None, "balanced" or {class: weight}; multiplies the sample weights.
    batchnorm : bool, default=False. BatchNorm after each hidden Dense layer.
    dropout : float in [0, 1), default=0.0. Dropout after each hidden activation.
    weight_init : None or a gdlab.nn.init name/callable (then biases start at zero).
    lr_schedule : None or a gdlab schedule spec (``"cosine"``, ``"step:step_size=10"``...),
        stepped per epoch with ``max_iter`` as its horizon.
    clip_norm : None or float, clip the global gradient norm of each step.
    weight_decay : float, default=0.0, the optimizer's weight decay (decoupled for "adamw").
    dtype : None (follow X: float32 stays float32, anything else float64), "float32" or
        "float64".
    callbacks : None or a list of training-loop callbacks (``on_epoch_end(trainer, logs)``
        returning True stops training).
    fast : None (auto), True or False: gdlab's compiled kernels (C, or numba's) for the optimizer
        update (sgd, gd, adam, adamw) and the fused Dense + ReLU passes (see gdlab.kernels).
    threads : None or int >= 1: threads for the BLAS and gdlab's kernels while ``fit`` runs.
        None keeps the process's setting (from OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or
        MKL_NUM_THREADS, else the cores of the process). BLAS thread pools belong to the whole
        process: ``threads=`` sets them for every thread of it while this estimator fits
        (threadpoolctl's context) and restores the previous setting afterwards.

    With ``early_stopping=True``, ``validation_loss_curve_`` records the validation loss of
    each epoch beside ``loss_curve_``. ``learning_rate_`` (after a fit with a stochastic
    solver) is the learning rate of the next step, where ``invscaling``, ``adaptive`` or
    ``lr_schedule`` have taken it. What still differs from ``MLPClassifier``, and why, is
    listed in the docstring of :mod:`gdlab.estimators`.

    The fitted attributes are the model
    -----------------------------------
    A fitted estimator is its public attributes; the gdlab network it trains is a cache of
    them (:mod:`gdlab.estimators.fitted`). ``fit`` with ``warm_start=True`` and
    ``partial_fit`` start from them, and every fit leaves them as views of the trained
    network's arrays (training updates them in place; writing into them changes the model);
    ``predict*`` compute from them. An estimator made fitted by setting them (as
    scikit-learn's tests do, or code that turns a trained gdlab network into an estimator)
    predicts, and trains on, as the estimator they came from; an exporter reads them:

    coefs_ : list of ``n_layers_ - 1`` arrays, ``coefs_[i]`` of shape (units of layer i, units
        of layer i + 1).
    intercepts_ : list of arrays, ``intercepts_[i]`` of shape (units of layer i + 1,). With
        ``batchnorm=True`` the hidden layers have no bias (BatchNorm's ``beta`` shifts them):
        their ``intercepts_`` are zeros, and must be.
    batchnorm_ : gdlab's. With ``batchnorm=True`` a list with one dict per hidden layer, keys
        ``"gamma"``, ``"beta"``, ``"running_mean"``, ``"running_var"``, each an array of the
        layer's units; None without BatchNorm.
    n_features_in_, n_outputs_, n_layers_ : must agree with the shapes of ``coefs_``.
    out_activation_ : ``"logistic"`` (one unit for two classes; one per label for multilabel
        targets) or ``"softmax"`` (one unit per class; also two units for two classes, as
        gdlab's own networks train them).
    classes_ : the labels, in the order of the output units.

    The parameters ``activation`` (each hidden layer's) and ``batchnorm`` complete the model;
    ``dtype=None`` computes in float32 when every array is float32, else in float64. The
    forward pass, from ``h = X``: for each hidden layer ``i``, ``z = h @ coefs_[i] +
    intercepts_[i]``; with BatchNorm ``z = (z - running_mean) / sqrt(running_var + 1e-5) *
    gamma + beta``; ``h = act_i(z)`` (identity, logistic, tanh, relu, leaky_relu with
    slope 0.01, or elu with alpha 1); then ``h @ coefs_[-1] + intercepts_[-1]`` through ``out_activation_``.
    Dropout is the identity when predicting. (BatchNorm trains with momentum 0.1.)

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from gdlab import GDClassifier  # instead of sklearn.neural_network.MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = GDClassifier(hidden_layer_sizes=(64,), solver="nadam", random_state=0)
    >>> clf.fit(X / 16, y).score(X / 16, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **GDBase._parameter_constraints,
        "class_weight": [None, dict, list, StrOptions({"balanced"})],
    }
    _task = "classification"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, batchnorm=False, dropout=0.0, weight_init=None,
                 lr_schedule=None, clip_norm=None, weight_decay=0.0, dtype=None,
                 callbacks=None, fast=None, threads=None):
        self._set_params_from_init(locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y; returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(partial_fit_available)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` (all labels) is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        if is_row_source(X):  # rows on disk: read a batch at a time, never whole
            X, y = rows_input(self, X, y, reset=reset, y_numeric=False)
        else:
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                                 dtype=(np.float64, np.float32), reset=reset,
                                 ensure_all_finite=False)
            X = dense_finite(X, self)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        lb = self._label_binarizer = self._binarizer()
        # a fitted model with a 2-unit softmax output (gdlab's own networks train 2 classes so)
        # continues as it is
        two_unit_softmax = (not reset and lb.y_type_ == "binary" and len(lb.classes_) == 2
                            and getattr(self, "out_activation_", None) == "softmax")
        if lb.y_type_ == "multiclass" or two_unit_softmax:
            self._loss_kind, self.out_activation_ = "multiclass", "softmax"
            self.n_outputs_ = len(lb.classes_)
            target = np.searchsorted(lb.classes_, y)
        else:
            self._loss_kind, self.out_activation_ = "logistic", "logistic"
            target = lb.transform(y)
            self.n_outputs_ = target.shape[1]
        return X, y, target

    def _binarizer(self):
        """The LabelBinarizer of ``classes_``: fit's, or one rebuilt from ``classes_`` (and
        ``out_activation_``, ``n_outputs_``) for a model whose attributes were set by hand."""
        lb = self.__dict__.get("_label_binarizer")
        if lb is not None and np.array_equal(lb.classes_, self.classes_):
            return lb
        if getattr(self, "out_activation_", None) == "logistic" and getattr(self, "n_outputs_", 1) > 1:
            return LabelBinarizer().fit(np.eye(len(self.classes_), dtype=int))
        return LabelBinarizer().fit(self.classes_)

    def _with_class_weight(self, y, sw, incremental):
        if self.class_weight is None:
            return sw
        if incremental and self.class_weight == "balanced":
            raise ValueError("class_weight 'balanced' is not supported for partial_fit: the "
                             "class frequencies of one batch are not those of the data; pass "
                             "a dict of weights instead")
        cw = compute_sample_weight(self.class_weight, y)
        return cw if sw is None else sw * cw

    def _stratify_labels(self, target):
        """What MLPClassifier stratifies its validation split on: the label-binarized target
        as booleans, for single-output (binary) targets only."""
        return target.astype(bool) if self.n_outputs_ == 1 else None

    def _cast_target(self, target, dtype):
        if self._loss_kind == "multiclass":
            return target.astype(np.int64, copy=False)
        return target.astype(dtype, copy=False)

    def _score_output(self, out, target, sw):
        if self._loss_kind == "multiclass":
            hits = out.argmax(axis=1) == target
        else:
            hits = np.all((out > 0) == (target > 0.5), axis=1)
        return float(np.average(hits, weights=sw))

    def predict(self, X):
        """The predicted classes (an indicator matrix for multilabel targets)."""
        check_is_fitted(self)
        proba = self._proba(X)
        if self.out_activation_ == "softmax":  # also a 2-unit softmax for 2 classes
            return self.classes_.take(proba.argmax(axis=1))
        return self._binarizer().inverse_transform(proba)

    def _proba(self, X):
        out = self._forward(X)
        if self.out_activation_ == "softmax":
            return softmax(out, axis=1)
        out = expit(out)
        return out.ravel() if self.n_outputs_ == 1 else out

    def predict_proba(self, X):
        """Probability estimates, columns ordered as ``classes_``."""
        p = self._proba(X)
        return np.vstack([1 - p, p]).T if p.ndim == 1 else p

    def predict_log_proba(self, X):
        """``np.log(predict_proba(X))``, as scikit-learn: the two agree entry by entry and under
        argmax (``-inf`` where a probability underflows to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
