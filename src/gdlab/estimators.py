"""GDClassifier and GDRegressor: scikit-learn's MLPClassifier/MLPRegressor, trained by gdlab.

A thin adapter. ``fit`` validates with scikit-learn's own helpers (so its users see the
messages they know), converts ``X`` once to the working dtype, builds a network with
:func:`gdlab.network.mlp`, an optimizer with :func:`gdlab.optim.make_optimizer` on the one
flat parameter vector, and hands them to :class:`gdlab.training.Trainer` (or, for
``solver="lbfgs"``, to SciPy's L-BFGS-B with the network's forward and backward passes).
Backpropagation lives in network.py; scikit-learn's stopping rule is a callback
(:class:`gdlab._estimator_params.SklearnStopping`).

Every parameter of scikit-learn's MLP has its name, default and meaning; the extras are off
by default. Documented differences from scikit-learn 1.9: sparse input is accepted but
densified; ``validation_loss_curve_`` is the data loss on the validation split (without the L2
penalty); for several outputs, ``loss_curve_`` sums the per-output losses (scikit-learn's
gradient does, its reported loss of the squared error averages them); momentum follows PyTorch's
form, which equals scikit-learn's at a constant learning rate.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from gdlab import _estimator_params as P
from gdlab.errors import DivergenceError
from gdlab.network import mlp
from gdlab.optim import make_optimizer

_NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain "
               "large values and need to be preprocessed.")


class _GDBase(BaseEstimator):
    """What GDClassifier and GDRegressor share: building, training and storing the network."""

    _parameter_constraints: dict = dict(P.PARAMETER_CONSTRAINTS)

    # ---- fitted weights: views into the network's flat buffer --------------------------------
    @property
    def coefs_(self):
        """The weight matrices, ``coefs_[i]`` of shape (units of layer i, units of layer i+1)."""
        if "_net" not in self.__dict__:
            raise AttributeError("coefs_ is set by fit")
        return [layer.W for layer in P.dense_layers(self._net)]

    @coefs_.setter
    def coefs_(self, values):
        self._set_weights("W", values)

    @property
    def intercepts_(self):
        """The bias vectors, ``intercepts_[i]`` of shape (units of layer i+1,). With
        ``batchnorm=True`` the hidden layers have none (BatchNorm's shift replaces it): zeros."""
        if "_net" not in self.__dict__:
            raise AttributeError("intercepts_ is set by fit")
        return [layer.b if layer.b is not None else np.zeros(layer.out_features, layer.W.dtype)
                for layer in P.dense_layers(self._net)]

    @intercepts_.setter
    def intercepts_(self, values):
        self._set_weights("b", values)

    def _set_weights(self, name, values):
        views = [getattr(layer, name) for layer in P.dense_layers(self._net)]
        if len(values) != len(views):
            raise ValueError(f"expected {len(views)} arrays, got {len(values)}")
        for view, value in zip(views, values):
            if view is not None:
                view[...] = np.broadcast_to(value, view.shape)

    # ---- fit ------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
        if np.any(np.array(hidden) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        acts = P.hidden_activations(self.activation, len(hidden))
        if self.solver == "lbfgs" and self.dropout:
            raise ValueError("dropout needs a stochastic solver; solver='lbfgs' minimises a "
                             "deterministic loss")
        if self.lr_schedule is not None and self.solver in P.SGD_SOLVERS and \
                self.learning_rate != "constant":
            raise ValueError(f"lr_schedule={self.lr_schedule!r} and learning_rate="
                             f"{self.learning_rate!r} both set the learning rate; use one")
        first_pass = "_net" not in self.__dict__ or (not self.warm_start and not incremental)
        X, y, target = self._validate_input(X, y, incremental, reset=first_pass)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X)
        sw = self._with_class_weight(y, sw, incremental)
        rs = check_random_state(self.random_state)
        # random draws in MLPClassifier's order: initial weights, validation split, shuffling
        weights = self._initialize(X.shape[1], hidden, acts, X.dtype, rs) if first_pass else None
        dtype = np.dtype(self._arch["dtype"])
        X = X.astype(dtype, copy=False)
        target = self._cast_target(target, dtype)
        if sw is not None:
            sw = sw.astype(dtype, copy=False)
        loss = P.make_loss(self._loss_kind, self.n_outputs_)
        validation = None
        if self.early_stopping and self.solver != "lbfgs":
            if incremental:
                raise ValueError("partial_fit does not support early_stopping=True")
            X, target, sw, validation = self._split(X, target, sw, rs)
            validation += (loss,)
        if first_pass:
            self._build(weights, rs)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, target, sw, loss)
        else:
            self._fit_stochastic(X, target, sw, loss, incremental, rs, validation)
        if not np.isfinite(self._net.flat_parameters).all():
            raise ValueError(_NON_FINITE)
        return self

    def _initialize(self, n_features, hidden, acts, dtype, rs):
        """Fitted attributes of a fresh model; returns scikit-learn's initial weights or None."""
        if self.dtype is not None:
            dtype = np.dtype(self.dtype)
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(hidden) + 2
        self._arch = dict(n_inputs=n_features, hidden=hidden, n_outputs=self.n_outputs_,
                          activation=acts, init=self.weight_init,
                          batchnorm=bool(self.batchnorm), dropout=float(self.dropout),
                          dtype=np.dtype(dtype).name)
        self._optimizer = self._schedule = None
        self._no_improvement_count = 0
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None
        if self.weight_init is not None:
            return None
        layer_units = [n_features, *hidden, self.n_outputs_]
        return P.sklearn_initial_weights(layer_units, acts, rs, dtype)

    def _build(self, weights, rs):
        """The network (its seed drives weight_init and Dropout), with ``weights`` if given."""
        self._arch["seed"] = int(rs.randint(np.iinfo(np.int32).max))
        self._net = mlp(**self._arch)
        for layer, (W, b) in zip(P.dense_layers(self._net), weights or ()):
            layer.W[...] = W
            if layer.b is not None:  # with batchnorm, BatchNorm's beta replaces the bias
                layer.b[...] = b

    def _split(self, X, target, sw, rs):
        """MLPClassifier's validation split (stratified for single-output classifiers)."""
        stratify = target if self._stratify and self.n_outputs_ == 1 else None
        arrays = [X, target] + ([] if sw is None else [sw])
        parts = train_test_split(*arrays, random_state=rs, test_size=self.validation_fraction,
                                 stratify=stratify)
        X, X_val, target, t_val = parts[:4]
        sw, sw_val = (None, None) if sw is None else parts[4:]
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return X, target, sw, (X_val, t_val, sw_val)

    def _fit_lbfgs(self, X, target, sw, loss):
        net = self._net
        flat, grads = net.flat_parameters, net.flat_gradients
        dense = P.dense_layers(net)
        scale = self.alpha / (X.shape[0] if sw is None else float(sw.sum()))

        def value_and_grad(theta):
            flat[...] = theta
            value, grad = loss._compute(net.forward(X, training=True), target, sw, True)
            net.backward(grad, input_grad=False)
            if scale:
                for layer in dense:
                    value += 0.5 * scale * float(np.vdot(layer.W, layer.W))
                    layer.dW += scale * layer.W
            return value, grads.astype(np.float64)

        res = scipy.optimize.minimize(
            value_and_grad, flat.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = _check_optimize_result("lbfgs", res, self.max_iter)
        self.loss_ = float(res.fun)
        flat[...] = res.x

    def _fit_stochastic(self, X, target, sw, loss, incremental, rs, validation):
        from gdlab.training import Trainer

        net = self._net
        if not incremental or self._optimizer is None:
            name, kwargs = P.optimizer_spec(self)
            self._optimizer = make_optimizer(name, [net.flat_parameters], **kwargs)
            self._schedule = None
            if self.lr_schedule is not None:
                from gdlab.schedules import make_schedule

                self._schedule = make_schedule(self.lr_schedule, self._optimizer,
                                               horizon=self.max_iter)
        n = X.shape[0]
        if self.solver == "gd":
            batch_size = n
        elif self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped", stacklevel=3)
            batch_size = int(np.clip(self.batch_size, 1, n))
        stopper = P.SklearnStopping(self, self._optimizer, n, validation)
        self.n_iter_ = 0
        trainer = Trainer(
            net, loss, self._optimizer, batch_size=batch_size, shuffle=bool(self.shuffle),
            epochs=1 if incremental else self.max_iter, tol=None, alpha=float(self.alpha),
            schedule=self._schedule, clip_norm=self.clip_norm, divergence_factor=None,
            task=self._task, callbacks=[stopper, *(self.callbacks or ())],
            seed=int(rs.randint(np.iinfo(np.int32).max)))
        try:
            trainer.fit(X, target, sample_weight=sw)
        except DivergenceError as e:
            raise ValueError(_NON_FINITE) from e
        if self.early_stopping and stopper.best_state is not None:
            net.load_state_dict(stopper.best_state)
        if not incremental and not stopper.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=3)

    # ---- predict --------------------------------------------------------------------------
    def _forward(self, X):
        """The network's output (logits for classifiers) on validated ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"],
                          dtype=(np.float64, np.float32), reset=False)
        if hasattr(X, "toarray"):
            X = X.toarray()
        return self._net.predict(X.astype(self._net.dtype, copy=False))

    def _check_stochastic(self):
        if self.solver == "lbfgs":
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    # ---- pickling: the network and optimizer travel as their state dicts ----------------------
    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        if "_net" in state:
            state["_net"] = state["_net"].state_dict()
            for key in ("_optimizer", "_schedule"):
                if state.get(key) is not None:
                    state[key] = state[key].state_dict()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if isinstance(self.__dict__.get("_net"), dict):
            net_state = self._net
            self._net = mlp(**self._arch)
            self._net.load_state_dict(net_state)
            opt_state, sched_state = self._optimizer, self._schedule
            self._optimizer = self._schedule = None
            if opt_state is not None:
                name = opt_state["optimizer"].lower()
                self._optimizer = make_optimizer(name, [self._net.flat_parameters])
                self._optimizer.load_state_dict(opt_state)
            if sched_state is not None and self._optimizer is not None:
                from gdlab.schedules import make_schedule

                self._schedule = make_schedule(self.lr_schedule, self._optimizer,
                                               horizon=self.max_iter)
                self._schedule.load_state_dict(sched_state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class GDClassifier(ClassifierMixin, _GDBase):
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
    activation : also "leaky_relu", or a list with one activation per hidden layer.
    class_weight : None, "balanced" or {class: weight}; multiplies the sample weights.
    batchnorm : bool, default=False. BatchNorm after each hidden Dense layer.
    dropout : float in [0, 1), default=0.0. Dropout after each hidden activation.
    weight_init : None or a gdlab.init name/callable (then biases start at zero).
    lr_schedule : None or a gdlab schedule spec (``"cosine"``, ``"step:step_size=10"``...),
        stepped per epoch with ``max_iter`` as its horizon.
    clip_norm : None or float, clip the global gradient norm of each step.
    weight_decay : float, default=0.0, the optimizer's weight decay (decoupled for "adamw").
    dtype : None (follow X: float32 stays float32, anything else float64), "float32" or
        "float64".
    callbacks : None or a list of training-loop callbacks (``on_epoch_end(trainer, logs)``
        returning True stops training).

    With ``early_stopping=True``, ``validation_loss_curve_`` records the validation loss of
    each epoch beside ``loss_curve_``.
    """

    _parameter_constraints: dict = {
        **_GDBase._parameter_constraints,
        "class_weight": [None, dict, list, StrOptions({"balanced"})],
    }
    _task = "classification"
    _stratify = True

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, batchnorm=False, dropout=0.0, weight_init=None,
                 lr_schedule=None, clip_norm=None, weight_decay=0.0, dtype=None,
                 callbacks=None):
        _store(self, locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y; returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_stochastic())
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
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if hasattr(X, "toarray"):
            X = X.toarray()
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
        lb = self._label_binarizer
        if lb.y_type_ == "multiclass":
            self._loss_kind, self.out_activation_ = "multiclass", "softmax"
            self.n_outputs_ = len(lb.classes_)
            target = np.searchsorted(lb.classes_, y)
        else:
            self._loss_kind, self.out_activation_ = "logistic", "logistic"
            target = lb.transform(y)
            self.n_outputs_ = target.shape[1]
        return X, y, target

    def _with_class_weight(self, y, sw, incremental):
        if self.class_weight is None:
            return sw
        if incremental and self.class_weight == "balanced":
            raise ValueError("class_weight 'balanced' is not supported for partial_fit: the "
                             "class frequencies of one batch are not those of the data; pass "
                             "a dict of weights instead")
        cw = compute_sample_weight(self.class_weight, y)
        return cw if sw is None else sw * cw

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
        return self._label_binarizer.inverse_transform(self._proba(X))

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
        """``log(predict_proba(X))``, computed from the logits without underflow."""
        out = self._forward(X)
        if self.out_activation_ == "softmax":
            return log_softmax(out, axis=1)
        if self.n_outputs_ == 1:
            return np.hstack([log_expit(-out), log_expit(out)])
        return log_expit(out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class GDRegressor(RegressorMixin, _GDBase):
    """Multilayer perceptron regressor trained by gdlab: a drop-in for scikit-learn's
    ``MLPRegressor``, with its parameters and fitted attributes (see :class:`GDClassifier`
    for gdlab's extra parameters) and multi-output targets.

    loss : "squared_error" (default; half the squared error, as scikit-learn), "poisson"
        (half Poisson deviance with a log link, ``y >= 0``, as scikit-learn), and gdlab's
        "absolute_error" and "huber" (delta 1). Losses are summed over outputs.
    """

    _parameter_constraints: dict = {
        **_GDBase._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", "absolute_error", "huber"})],
    }
    _task = "regression"
    _stratify = False

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 batchnorm=False, dropout=0.0, weight_init=None, lr_schedule=None,
                 clip_norm=None, weight_decay=0.0, dtype=None, callbacks=None):
        _store(self, locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y; returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_stochastic())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if hasattr(X, "toarray"):
            X = X.toarray()
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        target = y.reshape(y.shape[0], -1)
        if not reset and "_net" in self.__dict__ and target.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {target.shape[1]} outputs but the model was fitted with "
                             f"{self.n_outputs_}")
        self.n_outputs_ = target.shape[1]
        self._loss_kind = self.loss
        self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        return X, y, target

    def _with_class_weight(self, y, sw, incremental):
        return sw

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


def _store(est, args):
    """__init__ stores its arguments and nothing else, as scikit-learn requires."""
    for name, value in args.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)
