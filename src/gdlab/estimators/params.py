"""The estimators' parameters: their constraints, the solvers (derived from the optimizer
registry), the solver -> optimizer mapping and scikit-learn's initial weights. No
backpropagation here: that is :mod:`gdlab.nn`'s.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from gdlab.nn.layers import Dense
from gdlab.optim.registry import OPTIMIZERS

#: scikit-learn's solvers first, then the optimizers of gdlab's registry that need no preset
#: ("momentum" and "nesterov" are sgd's momentum parameters here); "gd" is "sgd" on the full
#: batch
SOLVERS = ("sgd", "adam", "lbfgs") + tuple(
    name for name, entry in OPTIMIZERS.items()
    if not entry.preset and name not in ("sgd", "adam"))
#: solvers that read ``learning_rate``, ``momentum`` and ``nesterovs_momentum`` (SGD)
SGD_SOLVERS = ("sgd", "gd")
#: solvers that read ``beta_1``, ``beta_2`` and ``epsilon``
ADAM_SOLVERS = ("adam", "adamw", "nadam", "radam", "adamax")
HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "leaky_relu", "elu")

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
    "threads": [None, Interval(Integral, 1, None, closed="left")],
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
    """``{"fast": fast}`` for the optimizers that have compiled kernels (the registry says
    which)."""
    return {"fast": fast} if OPTIMIZERS[optimizer_name].has_kernel else {}
