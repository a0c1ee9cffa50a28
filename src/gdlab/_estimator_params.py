"""The pieces GDClassifier/GDRegressor assemble: parameter constraints, scikit-learn's initial
weights, the solver -> optimizer table, losses in scikit-learn's scaling, and scikit-learn's
stopping rule as a training-loop callback. No backpropagation here: that is network.py's.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from gdlab.layers import Dense
from gdlab.losses import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, Loss, MSELoss

#: scikit-learn's solvers first, then gdlab's; "gd" is "sgd" on the full batch
SOLVERS = ("sgd", "adam", "lbfgs", "gd", "adagrad", "rmsprop", "adamw", "nadam", "radam",
           "adamax", "adadelta")
#: solvers that read ``learning_rate``, ``momentum`` and ``nesterovs_momentum`` (SGD)
SGD_SOLVERS = ("sgd", "gd")
#: solvers that read ``beta_1``, ``beta_2`` and ``epsilon``
ADAM_SOLVERS = ("adam", "adamw", "nadam", "radam", "adamax")
HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "leaky_relu")

PARAMETER_CONSTRAINTS = {
    # scikit-learn's MLP parameters, with its constraints
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(HIDDEN_ACTIVATIONS)), list, tuple],
    "solver": [StrOptions(set(SOLVERS))],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    # gdlab's extras
    "batchnorm": ["boolean"],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "weight_init": [None, str, callable],
    "lr_schedule": [None, str],
    "clip_norm": [None, Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "dtype": [None, StrOptions({"float32", "float64"}), Options(type, {np.float32, np.float64})],
    "callbacks": [None, list, tuple],
    "fast": [None, "boolean"],
}


def hidden_activations(activation, n_hidden):
    """One activation name per hidden layer, or a ValueError naming the bad entry."""
    acts = [activation] * n_hidden if isinstance(activation, str) else list(activation)
    if len(acts) != n_hidden:
        raise ValueError(
            f"activation has {len(acts)} entries but hidden_layer_sizes has {n_hidden} "
            "layers; give one name or one per hidden layer"
        )
    for act in acts:
        if act not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"The 'activation' parameter entries must be in {list(HIDDEN_ACTIVATIONS)}. "
                f"Got {act!r} instead."
            )
    return acts


def sklearn_initial_weights(layer_units, acts, rs, dtype):
    """scikit-learn's MLP initial weights, drawn from ``rs`` in its order (coef, then intercept,
    layer by layer): both uniform in ``[-b, b]``, ``b = sqrt(f / (fan_in + fan_out))`` with
    ``f = 2`` for a logistic layer and ``6`` otherwise (Glorot & Bengio, 2010). The same
    ``random_state`` thus gives MLPClassifier's initial weights, bit for bit. ``acts`` is the
    activation of each hidden layer or, without hidden layers, a one-item list of the
    ``activation`` parameter; the output layer follows the last entry, as scikit-learn's single
    ``activation`` does.
    """
    weights = []
    for i, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:])):
        act = acts[min(i, len(acts) - 1)]
        bound = np.sqrt((2.0 if act == "logistic" else 6.0) / (fan_in + fan_out))
        W = rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False)
        b = rs.uniform(-bound, bound, fan_out).astype(dtype, copy=False)
        weights.append((W, b))
    return weights


def dense_layers(net):
    """The Dense layers of ``net``: their ``W``/``b`` are ``coefs_``/``intercepts_``."""
    return [layer for layer in net.layers if isinstance(layer, Dense)]


def predict_chunked(net, X, chunk=8192):
    """The network's output in evaluation mode, ``chunk`` rows at a time, so that predicting
    on many samples does not hold every layer's activations for all of them at once."""
    if X.shape[0] <= chunk:
        return net.predict(X)
    out = np.empty((X.shape[0], net.n_outputs), dtype=net.dtype)
    for start in range(0, X.shape[0], chunk):
        out[start:start + chunk] = net.predict(X[start:start + chunk])
    return out


def optimizer_spec(est):
    """(gdlab optimizer name, keyword arguments) for the estimator's solver."""
    solver = est.solver
    kw = {"lr": est.learning_rate_init, "weight_decay": est.weight_decay}
    if solver in SGD_SOLVERS:
        kw.update(momentum=est.momentum,
                  nesterov=bool(est.nesterovs_momentum and est.momentum > 0),
                  **fast_kwargs("sgd", est.fast))
        return "sgd", kw
    if solver in ADAM_SOLVERS:
        kw.update(betas=(est.beta_1, est.beta_2), eps=est.epsilon)
    return solver, {**kw, **fast_kwargs(solver, est.fast)}


def fast_kwargs(optimizer_name, fast):
    """``{"fast": fast}`` for the optimizers that have compiled kernels (SGD, Adam, AdamW)."""
    return {"fast": fast} if optimizer_name in ("sgd", "adam", "adamw") else {}


# ---- losses in scikit-learn's scaling ---------------------------------------------------------

class _SumOverOutputs:
    """Mixin: ``factor`` times a gdlab loss. gdlab's losses average over every element;
    scikit-learn's MLP sums over outputs and averages over samples (and halves its squared
    error): for ``k`` outputs that is ``factor = k`` (``k / 2`` for the squared error). The
    subclasses stay instances of the gdlab loss, so the training loop checks targets as usual."""

    factor = 1.0

    def _compute(self, output, y, sample_weight, need_grad):
        value, grad = super()._compute(output, y, sample_weight, need_grad)
        if grad is not None:
            grad *= self.factor
        return value * self.factor, grad

    def __repr__(self):
        return f"{self.factor:g} * {super().__repr__()}"


class _SummedMSE(_SumOverOutputs, MSELoss):
    pass


class _SummedL1(_SumOverOutputs, L1Loss):
    pass


class _SummedHuber(_SumOverOutputs, HuberLoss):
    pass


class _SummedBCE(_SumOverOutputs, BCEWithLogitsLoss):
    pass


class _PoissonLogLink(Loss):
    """scikit-learn's half Poisson deviance with a log link, on ``z = log(prediction)``:
    ``l = y log(y / e^z) - y + e^z`` per output, summed over outputs and averaged over samples
    (weighted by ``sample_weight``); ``dl/dz = e^z - y``."""

    def _compute(self, output, y, sample_weight, need_grad):
        mu = np.exp(output)
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0)
        elem = ylogy - y * output - y + mu
        n = output.shape[0]
        w = None if sample_weight is None else sample_weight / sample_weight.sum()
        value = float(elem.sum()) / n if w is None else float(elem.sum(axis=1) @ w)
        if not need_grad:
            return value, None
        grad = mu - y
        grad *= (1.0 / n) if w is None else w[:, None].astype(grad.dtype)
        return value, grad.astype(output.dtype, copy=False)


def make_loss(kind, n_outputs):
    """The training loss for the output ``kind`` in scikit-learn's scaling.

    kind: "multiclass" (softmax + cross-entropy on labels), "logistic" (binary and multilabel:
    sigmoid + binary cross-entropy on indicators), or a regression loss name.
    """
    if kind == "multiclass":
        return CrossEntropyLoss()
    if kind == "poisson":
        return _PoissonLogLink()
    cls, factor = {
        "logistic": (_SummedBCE, n_outputs),
        "squared_error": (_SummedMSE, n_outputs / 2.0),
        "absolute_error": (_SummedL1, n_outputs),
        "huber": (_SummedHuber, n_outputs),
    }[kind]
    loss = cls()
    loss.factor = float(factor)
    return loss


# ---- scikit-learn's stopping rule, as a callback ----------------------------------------------

class SklearnStopping:
    """MLPClassifier's end-of-epoch bookkeeping and stopping rule, for the training loop.

    After each epoch: record ``loss_curve_`` and, with a validation split, the validation
    loss and score (accuracy or R^2, as ``score``). An epoch that does not improve the best
    training loss by ``tol`` (or, with early stopping, the best validation score by ``tol``)
    counts as no improvement; after more than ``n_iter_no_change`` such epochs in a row,
    training stops, except with ``learning_rate="adaptive"``, which divides the learning rate
    by 5 instead until it falls to 1e-6. ``invscaling`` sets ``lr = lr_0 / (t + 1)^power_t``
    with ``t`` the number of samples seen (scikit-learn's time step).
    """

    def __init__(self, est, optimizer, n_train, validation=None):
        self.est, self.optimizer, self.n_train = est, optimizer, n_train
        self.validation = validation  # (X_val, target_val, sw_val, loss) or None
        self.stopped = False
        # scikit-learn restores the initial weights if no epoch ever scores (all NaN)
        self.best_state = est._net.state_dict() if validation is not None else None

    def on_epoch_end(self, trainer, logs):
        est = self.est
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_ = float(logs["loss"])
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        if self.validation is not None:
            self._validate(trainer.net if hasattr(trainer, "net") else est._net)
        elif est.loss_ > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if self.validation is None and est.loss_ < est.best_loss_:
            est.best_loss_ = est.loss_
        sgd = est.solver in SGD_SOLVERS
        if sgd and est.learning_rate == "invscaling":
            self.optimizer.lr = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            msg = (f"{what} did not improve more than tol={est.tol:f} for "
                   f"{est.n_iter_no_change} consecutive epochs.")
            if sgd and est.learning_rate == "adaptive" and self.optimizer.lr > 1e-6:
                self.optimizer.lr /= 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    print(f"{msg} Setting learning rate to {self.optimizer.lr:f}")
            else:
                if est.verbose:
                    print(f"{msg} Stopping.")
                self.stopped = True
                return True
        return False

    def _validate(self, net):
        est = self.est
        X_val, target, sw, loss = self.validation
        out = predict_chunked(net, X_val)
        finite = bool(np.isfinite(out).all())
        val_loss = loss._compute(out, target, sw, need_grad=False)[0] if finite else np.nan
        est.validation_loss_curve_.append(float(val_loss))
        score = est._score_output(out, target, sw) if finite else np.nan
        est.validation_scores_.append(score)
        if est.verbose:
            print(f"Validation score: {score:f}")
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            self.best_state = net.state_dict()
