"""The machinery GDClassifier and GDRegressor share: validation with scikit-learn's helpers,
building the network, the L-BFGS and training-loop paths, pickling. See
:mod:`gdlab.estimators`."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from gdlab.errors import DivergenceError
from gdlab.estimators import params as P
from gdlab.estimators.losses import make_loss
from gdlab.estimators.stopping import Curves, SklearnStopping
from gdlab.kernels.threads import limit as limit_threads
from gdlab.nn.penalty import L2Penalty
from gdlab.nn.sequential import mlp
from gdlab.optim.registry import make_optimizer
from gdlab.schedules.spec import make_schedule
from gdlab.training.metrics import predict_chunked
from gdlab.training.prepared import assert_finite
from gdlab.training.trainer import Trainer

_NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain "
               "large values and need to be preprocessed.")


def dense_finite(X):
    """X as a dense array, checked for NaN and infinity (one pass; validate_data's check, a
    sum over X, costs more on large data)."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    assert_finite(X, "Input X")
    return X


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
        loss = make_loss(self._loss_kind, self.n_outputs_)
        validation = None
        if self.early_stopping and self.solver != "lbfgs":
            if incremental:
                raise ValueError("partial_fit does not support early_stopping=True")
            X, target, sw, validation = self._split(X, target, sw, rs)
            validation += (loss,)
        if first_pass:
            self._build(weights, rs)
        self._net.fast = self.fast
        with limit_threads(self.threads):  # the process's BLAS and kernel threads, then restored
            if self.solver == "lbfgs":
                self._fit_lbfgs(X, target, sw, loss)
            else:
                self._fit_stochastic(X, target, sw, loss, incremental, rs, validation)
        if not np.isfinite(self._net.flat_parameters).all():
            raise ValueError(_NON_FINITE)
        if not np.isfinite(getattr(self, "loss_", 0.0)):
            # L-BFGS stops at once on a non-finite loss and leaves the weights as they were;
            # scikit-learn then returns an untrained model with loss_ = nan: say why instead
            raise ValueError(f"the training loss is {self.loss_}: the input data may contain "
                             "values too large for the network and need to be scaled")
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
        """The records a fit continues from (``n_iter_`` counts this fit's epochs only)."""
        return Curves(0, self.t_, getattr(self, "loss_", None), self.loss_curve_,
                      self.best_loss_, self.validation_scores_, self.validation_loss_curve_,
                      self.best_validation_score_, self._no_improvement_count)

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
        penalty = L2Penalty(net, self.alpha)
        total = X.shape[0] if sw is None else float(sw.sum())

        def value_and_grad(theta):
            flat[...] = theta
            value, grad = loss.compute(net.forward(X, training=True), target, sw, True)
            net.backward(grad, input_grad=False)
            value += penalty.add_to_gradients(total)
            return value, grads.astype(np.float64)

        res = scipy.optimize.minimize(
            value_and_grad, flat.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = _check_optimize_result("lbfgs", res, self.max_iter)
        self.loss_ = float(res.fun)
        flat[...] = res.x

    def _stochastic_optimizer(self, incremental):
        """The optimizer (and schedule) of this fit: kept across partial_fit calls."""
        if not incremental or self._optimizer is None:
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
                self.early_stopping != (self.validation_scores_ is not None)):
            self._store_curves(self._fresh_curves())  # warm start after lbfgs, or switched
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
            result = trainer.fit(X, target, sample_weight=sw, assume_finite=True)
        except DivergenceError as e:
            raise ValueError(_NON_FINITE) from e
        finally:
            self._store_curves(curves)
        if result.stopped_because == "interrupted":
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
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"],
                          dtype=(np.float64, np.float32), reset=False, ensure_all_finite=False)
        X = dense_finite(X)
        with np.errstate(over="ignore", invalid="ignore"):
            out = predict_chunked(self._net, X.astype(self._net.dtype, copy=False))
        bad = ~np.isfinite(out)
        if bad.any():  # finite input, but too large for the network: say so, never answer NaN
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(f"X has values too large for this model: the network's output "
                             f"for row {row} overflowed to NaN or infinity; scale X as the "
                             "training data were scaled")
        return out

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
            self._net.fast = self.fast
            opt_state, sched_state = self._optimizer, self._schedule
            self._optimizer = self._schedule = None
            if opt_state is not None:
                name = opt_state["optimizer"].lower()
                self._optimizer = make_optimizer(name, [self._net.flat_parameters],
                                                 **P.fast_kwargs(name, self.fast))
                self._optimizer.load_state_dict(opt_state)
            if sched_state is not None and self._optimizer is not None:
                self._schedule = make_schedule(self.lr_schedule, self._optimizer,
                                               horizon=self.max_iter)
                self._schedule.load_state_dict(sched_state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
