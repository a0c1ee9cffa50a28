"""The machinery GDClassifier and GDRegressor share: validation with scikit-learn's helpers,
the network of the fitted attributes (:mod:`~gdlab.estimators.fitted`), the training-loop
path (L-BFGS's is :mod:`~gdlab.estimators.lbfgs`), pickling. See :mod:`gdlab.estimators`."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)

from gdlab.errors import DivergenceError
from gdlab.estimators import fitted as F
from gdlab.estimators import params as P
from gdlab.estimators.lbfgs import minimize_lbfgs
from gdlab.estimators.losses import make_loss
from gdlab.estimators.rows import check_rows, is_row_source
from gdlab.estimators.stopping import Curves, SklearnStopping
from gdlab.kernels.threads import limit as limit_threads
from gdlab.nn.sequential import mlp
from gdlab.optim.registry import make_optimizer
from gdlab.schedules.spec import make_schedule
from gdlab.training.metrics import predict_chunked
from gdlab.training.prepared import assert_finite
from gdlab.training.trainer import Trainer

_NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain "
               "large values and need to be preprocessed.")


def dense_finite(X, estimator):
    """X as a dense array, checked for NaN and infinity in one pass (validate_data's check,
    a sum over X, costs more on large data); scikit-learn's message, which users match, with
    where the first bad value is."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    try:
        assert_finite(X, "Input X")
    except ValueError:
        row, column = np.argwhere(~np.isfinite(X))[0]
        try:
            with np.errstate(invalid="ignore", over="ignore"):  # its sum over X meets inf - inf
                check_array(X, ensure_all_finite=True, estimator=estimator, input_name="X")
        except ValueError as theirs:
            raise ValueError(f"{theirs}\nThe first is at row {row}, column {column}.") from None
        raise
    return X


def _same_architecture(cached, arch) -> bool:
    """Whether a network built with ``cached`` (mlp's arguments and its seed) is of ``arch``."""
    return cached is not None and {k: v for k, v in cached.items() if k != "seed"} == arch


def partial_fit_available(est) -> bool:
    """``partial_fit`` exists for the stochastic solvers only, as in scikit-learn."""
    if est.solver == "lbfgs":
        raise AttributeError("partial_fit is only available for stochastic optimizers. "
                             f"{est.solver} is not stochastic.")
    return True


class GDBase(BaseEstimator):
    """What GDClassifier and GDRegressor share: building, training and storing the network."""

    _parameter_constraints: dict = dict(P.PARAMETER_CONSTRAINTS)

    def _set_params_from_init(self, args):
        """__init__ stores its arguments and nothing else, as scikit-learn requires."""
        for name, value in args.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

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
        # the fitted attributes are the state: a fit continues from them (warm start,
        # partial_fit), whoever set them
        first_pass = "coefs_" not in self.__dict__ or (not self.warm_start and not incremental)
        X, y, target = self._validate_input(X, y, incremental, reset=first_pass)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X)
        sw = self._with_class_weight(y, sw, incremental)
        rs = check_random_state(self.random_state)
        # random draws in MLPClassifier's order: initial weights, validation split, shuffling
        if first_pass:
            weights = self._initialize(X.shape[1], hidden, acts, X.dtype, rs)
            arch = self._arch
        else:
            arch = self._continued_architecture(hidden)
        dtype = np.dtype(arch["dtype"])
        X = X.astype(dtype, copy=False)
        target = self._cast_target(target, dtype)
        if sw is not None:
            sw = sw.astype(dtype, copy=False)
        loss = make_loss(self._loss_kind, self.n_outputs_)
        validation = None
        if self.early_stopping and self.solver != "lbfgs":
            if incremental:
                raise ValueError("partial_fit does not support early_stopping=True")
            X, target, sw, validation = self._split(X, target, sw, rs)
            validation += (loss,)
        if first_pass:
            self._build(weights, rs)
        else:
            self._network_of_attributes(arch, rs)
        F.write_back(self, self._net)  # from here on the attributes are the network's arrays
        self._net.fast = self.fast
        with limit_threads(self.threads):  # the process's BLAS and kernel threads, then restored
            if self.solver == "lbfgs":
                self.n_iter_, self.loss_ = minimize_lbfgs(
                    self._net, loss, X, target, sw, alpha=self.alpha, max_iter=self.max_iter,
                    max_fun=self.max_fun, tol=self.tol)
            else:
                self._fit_stochastic(X, target, sw, loss, incremental, rs, validation)
        if not np.isfinite(self._net.flat_parameters).all():
            raise ValueError(_NON_FINITE)
        return self

    def _continued_architecture(self, hidden):
        """The architecture of the fitted attributes that a warm start or partial_fit
        continues from, which ``hidden_layer_sizes`` must agree with."""
        arch = F.architecture(self)
        if arch["hidden"] != hidden:
            raise ValueError(f"hidden_layer_sizes={self.hidden_layer_sizes!r} but the fitted "
                             f"coefs_ have hidden layers of {tuple(arch['hidden'])} units: a warm "
                             "start or partial_fit continues the fitted model")
        return arch

    def _network_of_attributes(self, arch, rs):
        """Make ``_net`` the network of the fitted attributes: the trained one if they are its
        own arrays, else a new one (arrays a user still holds are never overwritten) that takes
        over the optimizer's state."""
        net, cached = self.__dict__.get("_net"), self.__dict__.get("_arch")
        if net is not None and _same_architecture(cached, arch) and F.in_sync(self, net):
            return
        opt, sched = (self.__dict__.get(key) for key in ("_optimizer", "_schedule"))
        self._arch = dict(arch, seed=int(rs.randint(np.iinfo(np.int32).max)))
        new = mlp(**self._arch)
        F.load(self, new)
        self._net = new
        same_size = net is not None and net.flat_parameters.shape == new.flat_parameters.shape
        self._attach_optimizer(opt.state_dict() if opt is not None and same_size else None,
                               sched.state_dict() if sched is not None and same_size else None)

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
        self.__dict__.pop("learning_rate_", None)  # a stochastic fit sets it
        self._no_improvement_count = 0
        if self.solver != "lbfgs":
            self._store_curves(self._fresh_curves())
        if self.weight_init is not None:
            return None
        layer_units = [n_features, *hidden, self.n_outputs_]
        fallback = [self.activation] if isinstance(self.activation, str) else ["identity"]
        return P.sklearn_initial_weights(layer_units, acts or fallback, rs, dtype)

    def _fresh_curves(self) -> Curves:
        """The per-epoch records of the stochastic solvers, as MLPClassifier starts them."""
        if self.early_stopping:
            return Curves(best_loss=None, validation_scores=[], validation_loss_curve=[],
                          best_validation_score=-np.inf)
        return Curves()

    def _read_curves(self) -> Curves:
        """The records a fit continues from (``n_iter_`` counts this fit's epochs only); those
        missing from a model whose attributes were set by hand start as a new fit's."""
        get, fresh = self.__dict__.get, self._fresh_curves()
        return Curves(0, get("t_", 0), get("loss_"), get("loss_curve_", fresh.loss_curve),
                      get("best_loss_", fresh.best_loss),
                      get("validation_scores_", fresh.validation_scores),
                      get("validation_loss_curve_", fresh.validation_loss_curve),
                      get("best_validation_score_", fresh.best_validation_score),
                      get("_no_improvement_count", 0))

    def _store_curves(self, c: Curves) -> None:
        """Write the records of a fit as fitted attributes: the one place that does."""
        self.n_iter_, self.t_ = c.n_iter, c.t
        if c.loss is not None:
            self.loss_ = c.loss
        self.loss_curve_, self.best_loss_ = c.loss_curve, c.best_loss
        self.validation_scores_ = c.validation_scores
        self.validation_loss_curve_ = c.validation_loss_curve
        self.best_validation_score_ = c.best_validation_score
        self._no_improvement_count = c.no_improvement_count

    def _build(self, weights, rs):
        """The network (its seed drives weight_init and Dropout), with ``weights`` if given."""
        self._arch["seed"] = int(rs.randint(np.iinfo(np.int32).max))
        self._net = mlp(**self._arch)
        for layer, (W, b) in zip(P.dense_layers(self._net), weights or ()):
            layer.W[...] = W
            if layer.b is not None:  # with batchnorm, BatchNorm's beta replaces the bias
                layer.b[...] = b

    def _split(self, X, target, sw, rs):
        """MLPClassifier's validation split (stratified for binary classifiers)."""
        stratify = self._stratify_labels(target)
        arrays = [X, target] + ([] if sw is None else [sw])
        parts = train_test_split(*arrays, random_state=rs, test_size=self.validation_fraction,
                                 stratify=stratify)
        X, X_val, target, t_val = parts[:4]
        sw, sw_val = (None, None) if sw is None else parts[4:]
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return X, target, sw, (X_val, t_val, sw_val)

    def _stochastic_optimizer(self, incremental):
        """The optimizer (and schedule) of this fit: kept across partial_fit calls."""
        if not incremental or self.__dict__.get("_optimizer") is None:
            name, kwargs = P.optimizer_spec(self)
            self._optimizer = make_optimizer(name, [self._net.flat_parameters], **kwargs)
            self._schedule = None
            if self.lr_schedule is not None:
                self._schedule = make_schedule(self.lr_schedule, self._optimizer,
                                               horizon=self.max_iter)
        return self._optimizer

    def _batch_size(self, n):
        """scikit-learn's batch size rule; one batch of every sample is "full" (no copy)."""
        if self.solver == "gd" or self.batch_size == "auto" and n <= 200:
            batch_size = n
        elif self.batch_size == "auto":
            batch_size = 200
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped", stacklevel=4)
            batch_size = int(np.clip(self.batch_size, 1, n))
        return "full" if batch_size == n else batch_size

    def _fit_stochastic(self, X, target, sw, loss, incremental, rs, validation):
        net = self._net
        if "loss_curve_" not in self.__dict__ or (
                self.early_stopping != (self.__dict__.get("validation_scores_") is not None)):
            fresh = self._fresh_curves()  # warm start after lbfgs, switched, or set by hand
            fresh.t = self.__dict__.get("t_", 0)
            self._store_curves(fresh)
        optimizer = self._stochastic_optimizer(incremental)
        curves = self._read_curves()
        stopper = SklearnStopping(self, curves, optimizer, net, X.shape[0],
                                  score=self._score_output, validation=validation)
        trainer = Trainer(
            net, loss, optimizer, batch_size=self._batch_size(X.shape[0]),
            shuffle=bool(self.shuffle), epochs=1 if incremental else self.max_iter, tol=None,
            alpha=float(self.alpha), schedule=self._schedule, clip_norm=self.clip_norm,
            divergence_factor=None, task=self._task,
            callbacks=[stopper, *(self.callbacks or ())],
            seed=int(rs.randint(np.iinfo(np.int32).max)))
        try:
            # validate_data has rejected NaN and infinity
            stopped_because = trainer.fit(X, target, sample_weight=sw,
                                          assume_finite=True).stopped_because
        except DivergenceError as e:
            if validation is None:
                raise ValueError(_NON_FINITE) from e
            # scikit-learn (>= 1.6) records NaN, keeps the best weights and returns
            stopped_because = "diverged"
            warnings.warn(stopper.diverged(e), ConvergenceWarning, stacklevel=3)
        finally:
            self._store_curves(curves)
            self.learning_rate_ = float(optimizer.lr)
        if stopped_because == "interrupted":
            warnings.warn("Training interrupted by user.", stacklevel=3)
        if self.early_stopping and stopper.best_state is not None:
            net.load_state_dict(stopper.best_state)
        if not incremental and not stopper.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=3)

    # ---- predict --------------------------------------------------------------------------
    def _forward(self, X):
        """The network's output (logits for classifiers) on validated ``X``."""
        check_is_fitted(self, "coefs_")
        if is_row_source(X):  # rows on disk: checked and predicted a chunk at a time
            X = check_rows(self, X, reset=False)
        else:
            X = validate_data(self, X, accept_sparse=["csr", "csc"],
                              dtype=(np.float64, np.float32), reset=False, ensure_all_finite=False)
            X = dense_finite(X, self)
        net = self._predicting_network(X.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            out = predict_chunked(net, X.astype(net.dtype, copy=False))
        bad = ~np.isfinite(out)
        if bad.any():  # finite input, but too large for the network: say so, never answer NaN
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(f"X has values too large for this model: the network's output "
                             f"for row {row} overflowed to NaN or infinity; scale X as the "
                             "training data were scaled")
        return out

    def _predicting_network(self, x_dtype):
        """The network of the fitted attributes: the trained one while they are its own arrays,
        else one built from them for this call (predict changes nothing on the estimator).
        With ``dtype=None`` it computes in the wider of X's and the model's dtype, as
        scikit-learn's NumPy products do."""
        arch = F.architecture(self)
        if self.dtype is None:
            arch["dtype"] = np.result_type(x_dtype, arch["dtype"]).name
        net = self.__dict__.get("_net")
        if net is not None and _same_architecture(self.__dict__.get("_arch"), arch) \
                and F.in_sync(self, net):
            return net
        net = mlp(**dict(arch, init="zeros"))  # the values come from the attributes
        F.load(self, net)
        return net

    # ---- pickling: the fitted attributes travel; the network is rebuilt from them ----------
    def __getstate__(self):
        state = dict(super().__getstate__())
        net = state.pop("_net", None)
        if net is not None:
            state["_net_rng"] = net.rng_state()  # Dropout's streams: a partial_fit continues them
        for key in ("_optimizer", "_schedule"):
            if state.get(key) is not None:
                state[key] = state[key].state_dict()
        return state

    def __setstate__(self, state):
        state = dict(state)
        rng = state.pop("_net_rng", None)
        opt, sched = state.pop("_optimizer", None), state.pop("_schedule", None)
        super().__setstate__(state)
        self._optimizer = self._schedule = None
        # the trained network again, unless its attributes were changed by hand since (then the
        # next fit or predict builds one from them)
        if rng is not None and "coefs_" in self.__dict__ and self._attributes_match_arch():
            net = mlp(**self._arch)
            F.load(self, net)
            net.set_rng_state(rng)
            net.fast = self.fast
            self._net = net
            F.write_back(self, net)
            self._attach_optimizer(opt, sched)

    def _attributes_match_arch(self) -> bool:
        try:
            return _same_architecture(self._arch, F.architecture(self))
        except (AttributeError, TypeError, ValueError):
            return False

    def _attach_optimizer(self, opt_state, sched_state):
        """An optimizer (and schedule) on ``_net``'s parameters with the state of the ones
        before; none where there was none."""
        self._optimizer = self._schedule = None
        if opt_state is None:
            return
        name = opt_state["optimizer"].lower()
        self._optimizer = make_optimizer(name, [self._net.flat_parameters],
                                         **P.fast_kwargs(name, self.fast))
        self._optimizer.load_state_dict(opt_state)
        if sched_state is not None:
            self._schedule = make_schedule(self.lr_schedule, self._optimizer,
                                           horizon=self.max_iter)
            self._schedule.load_state_dict(sched_state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
