"""The fitted attributes are the model.

A fitted GDClassifier/GDRegressor is its public attributes: ``coefs_``, ``intercepts_`` and,
with ``batchnorm=True``, gdlab's ``batchnorm_`` (one dict per hidden layer with ``gamma``,
``beta``, ``running_mean`` and ``running_var``), read with the parameters ``activation``,
``batchnorm`` and ``dropout`` and the attributes ``n_features_in_``, ``n_outputs_``,
``n_layers_`` and ``out_activation_``. The gdlab network the estimator trains is a cache of
them: :func:`architecture` says which network they describe (checking that they agree),
:func:`in_sync` whether a network's own arrays are the attributes, :func:`load` copies the
attributes into a network and :func:`write_back` makes the attributes views of a network's
parameters and buffers again, so that what training does to the network is what the
attributes hold, and what a user writes into them (in place) is what the network computes.
"""

from __future__ import annotations

import numpy as np

from gdlab.estimators import params as P
from gdlab.nn.normalization import BatchNorm

#: the arrays of one hidden layer's BatchNorm in ``batchnorm_``
BATCHNORM_KEYS = ("gamma", "beta", "running_mean", "running_var")


def _attribute(est, name):
    try:
        return getattr(est, name)
    except AttributeError:
        raise AttributeError(
            f"{type(est).__name__} has coefs_ but no {name}: a fitted model needs coefs_, "
            f"intercepts_ and {name} (see the fitted attributes in the estimator's docstring)"
        ) from None


def _as_arrays(name, values, ndim):
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list of arrays, got {type(values).__name__}")
    arrays = [np.asarray(v) for v in values]
    for i, a in enumerate(arrays):
        if a.ndim != ndim or a.dtype.kind not in "fiu":
            raise ValueError(f"{name}[{i}] must be a {ndim}-D numeric array, got "
                             f"{a.dtype} of shape {a.shape}")
    return arrays


def architecture(est) -> dict:
    """The keyword arguments of :func:`gdlab.nn.sequential.mlp` (all but ``seed``) for the
    network that ``est``'s fitted attributes and parameters describe, or a ValueError naming
    the attribute that disagrees with the others."""
    coefs = _as_arrays("coefs_", est.coefs_, 2)
    intercepts = _as_arrays("intercepts_", _attribute(est, "intercepts_"), 1)
    if not coefs or len(intercepts) != len(coefs):
        raise ValueError(f"coefs_ and intercepts_ must be lists of the same length >= 1, got "
                         f"{len(coefs)} and {len(intercepts)} arrays")
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        if i and W.shape[0] != coefs[i - 1].shape[1]:
            raise ValueError(f"coefs_[{i}] has {W.shape[0]} rows but coefs_[{i - 1}] gives "
                             f"{coefs[i - 1].shape[1]} units")
        if b.shape != (W.shape[1],):
            raise ValueError(f"intercepts_[{i}] has shape {b.shape}, expected ({W.shape[1]},) "
                             f"for coefs_[{i}] of shape {W.shape}")
    expected = {"n_layers_": len(coefs) + 1, "n_features_in_": coefs[0].shape[0],
                "n_outputs_": coefs[-1].shape[1]}
    for name, value in expected.items():
        if getattr(est, name, value) != value:
            raise ValueError(f"{name} is {getattr(est, name)} but coefs_ describe a network "
                             f"with {name} = {value}")
    hidden = [W.shape[1] for W in coefs[:-1]]
    if est.dtype is not None:
        dtype = np.dtype(est.dtype)
    else:  # as fit: float32 stays float32, anything else is float64
        kinds = {W.dtype for W in coefs + intercepts}
        dtype = np.dtype(np.float32) if kinds == {np.dtype(np.float32)} else np.dtype(np.float64)
    return dict(n_inputs=coefs[0].shape[0], hidden=hidden, n_outputs=coefs[-1].shape[1],
                activation=P.hidden_activations(est.activation, len(hidden)),
                init=est.weight_init, batchnorm=bool(est.batchnorm),
                dropout=float(est.dropout), dtype=dtype.name)


def _batchnorm_layers(net):
    return [layer for layer in net.layers if isinstance(layer, BatchNorm)]


def in_sync(est, net) -> bool:
    """Whether the fitted attributes are ``net``'s own arrays (views into its buffers): then
    the network computes what the attributes say, and training updates them."""
    dense = P.dense_layers(net)
    coefs, intercepts = est.coefs_, est.intercepts_
    if len(coefs) != len(dense) or len(intercepts) != len(dense):
        return False
    for layer, W, b in zip(dense, coefs, intercepts):
        if W is not layer.W or (b is not layer.b if layer.b is not None else np.any(b)):
            return False
    bns = _batchnorm_layers(net)
    states = getattr(est, "batchnorm_", None) or []
    if len(states) != len(bns):
        return False
    return all(isinstance(state, dict) and state.get(key) is array
               for layer, state in zip(bns, states)
               for key, array in _batchnorm_arrays(layer).items())


def _batchnorm_arrays(layer):
    return {"gamma": layer.gamma, "beta": layer.beta, "running_mean": layer.running_mean,
            "running_var": layer.running_var}


def load(est, net) -> None:
    """Copy the fitted attributes into ``net``, a network of their :func:`architecture`."""
    for i, (layer, W, b) in enumerate(zip(P.dense_layers(net), est.coefs_, est.intercepts_)):
        layer.W[...] = W
        if layer.b is not None:
            layer.b[...] = b
        elif np.any(b):
            raise ValueError(f"intercepts_[{i}] must be zeros: with batchnorm=True the hidden "
                             "layers have no bias (BatchNorm's beta, in batchnorm_, shifts them)")
    bns = _batchnorm_layers(net)
    states = getattr(est, "batchnorm_", None)
    if not bns:
        if states:
            raise ValueError("batchnorm_ is set but batchnorm=False: set batchnorm=True to use "
                             "it, or batchnorm_ = None")
        return
    if not isinstance(states, (list, tuple)) or len(states) != len(bns):
        raise ValueError(f"batchnorm=True needs batchnorm_: a list of {len(bns)} dicts (one per "
                         f"hidden layer) with the keys {', '.join(BATCHNORM_KEYS)}; got "
                         f"{type(states).__name__}")
    for i, (layer, state) in enumerate(zip(bns, states)):
        if not isinstance(state, dict) or set(state) != set(BATCHNORM_KEYS):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"batchnorm_[{i}] must be a dict with the keys "
                             f"{', '.join(BATCHNORM_KEYS)}, got {got}")
        for key, array in _batchnorm_arrays(layer).items():
            value = np.asarray(state[key])
            if value.shape != array.shape:
                raise ValueError(f"batchnorm_[{i}][{key!r}] has shape {value.shape}, expected "
                                 f"{array.shape}")
            array[...] = value


def write_back(est, net) -> None:
    """Make ``coefs_``, ``intercepts_`` and ``batchnorm_`` views of ``net``'s parameters and
    buffers (the hidden layers' intercepts are zeros with BatchNorm), and ``n_layers_`` agree."""
    dense = P.dense_layers(net)
    est.coefs_ = [layer.W for layer in dense]
    est.intercepts_ = [layer.b if layer.b is not None else np.zeros(layer.out_features, layer.W.dtype)
                       for layer in dense]
    bns = _batchnorm_layers(net)
    est.batchnorm_ = [_batchnorm_arrays(layer) for layer in bns] if est.batchnorm else None
    est.n_layers_ = len(dense) + 1
