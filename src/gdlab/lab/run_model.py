"""A run is a model: the record of everything needed to predict (``model.npz`` in the run
folder) and :func:`load_model`, which turns it into a fitted scikit-learn Pipeline.

The record (docs/run-format.md) is a dict of JSON types and arrays, written with the
checkpoint's sealed file (:func:`gdlab.training.checkpoint.save_sealed`: atomic, SHA-256,
format ``gdlab-model``, version :data:`MODEL_VERSION`, never pickled):

- ``features``: the raw input columns, ``[{"name", "kind"}]`` in order;
- ``preprocessing``: what the transformers learnt (:mod:`gdlab.data.preprocess`);
- ``target``: its name, the task and why, the ``classes`` (classification) or the ``mean``
  and ``scale`` the network's output is multiplied back by (regression);
- ``network``: the estimator's fitted attributes: ``coefs``, ``intercepts``,
  ``hidden_layer_sizes``, ``activation`` (one per hidden layer), ``out_activation``,
  ``n_outputs``, ``dtype`` and, with batch normalization, ``batchnorm`` (per hidden layer:
  ``gamma``, ``beta``, ``running_mean``, ``running_var``, ``eps``);
- ``dataset``: the name and source the run trained on, and the gdlab version.

:func:`load_model` rebuilds the preprocessing (:func:`preprocessor_from_record`) and a
:class:`~gdlab.GDClassifier` or :class:`~gdlab.GDRegressor` whose public fitted attributes
are set from the record; for regression the target's scaling is folded into the last layer,
so that ``predict`` answers in the target's own units. Exporters (ONNX) and data converters
build on this record and this Pipeline, not on the run's checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gdlab.errors import CheckpointError
from gdlab.lab.run_folder import MODEL_FILE
from gdlab.nn.layers import Activation, Dense, LeakyReLU
from gdlab.nn.normalization import BatchNorm
from gdlab.training.checkpoint import load_sealed, save_sealed

MODEL_FORMAT = "gdlab-model"
MODEL_VERSION = 1
#: gdlab's activation names -> the estimators' (scikit-learn's) names
_ESTIMATOR_ACTIVATIONS = {"sigmoid": "logistic", "linear": "identity"}
#: the arrays of a BatchNorm layer in the estimators' ``batchnorm_``, and its epsilon
_BATCHNORM_KEYS = ("gamma", "beta", "running_mean", "running_var")
_BATCHNORM_EPS = 1e-5

__all__ = ["MODEL_FILE", "MODEL_FORMAT", "MODEL_VERSION", "model_record", "save_model",
           "read_model", "load_model"]


def network_record(net, task: str) -> dict:
    """The fitted attributes of the estimator equal to the trained Sequential ``net`` (an
    MLP as :func:`gdlab.nn.sequential.mlp` builds it)."""
    coefs, intercepts, norms, acts, hidden = [], [], [], [], []
    for layer in net.layers:
        if isinstance(layer, Dense):
            coefs.append(np.array(layer.W))
            intercepts.append(np.array(layer.b) if layer.b is not None
                              else np.zeros(layer.out_features, layer.W.dtype))
            hidden.append(layer.out_features)
        elif isinstance(layer, BatchNorm):
            norms.append({"gamma": np.array(layer.gamma), "beta": np.array(layer.beta),
                          "running_mean": np.array(layer.running_mean),
                          "running_var": np.array(layer.running_var), "eps": layer.eps})
        elif isinstance(layer, LeakyReLU):
            acts.append("leaky_relu")
            if layer.negative_slope != 0.01:
                raise ValueError("only leaky_relu with slope 0.01 is recorded")
        elif isinstance(layer, Activation):
            acts.append(_ESTIMATOR_ACTIVATIONS.get(layer.name, layer.name))
    return {"n_features_in": int(coefs[0].shape[0]), "hidden_layer_sizes": hidden[:-1],
            "activation": acts, "batchnorm": norms or None,
            "out_activation": "softmax" if task == "classification" else "identity",
            "n_outputs": int(coefs[-1].shape[1]), "dtype": net.dtype.name,
            "coefs": coefs, "intercepts": intercepts}


def model_record(net, data, config: dict) -> dict:
    """The record of a trained run: its network ``net`` on the prepared ``data``
    (:class:`gdlab.lab.run_data.PreparedData`) of ``config``."""
    from gdlab import __version__
    from gdlab.data.preprocess import preprocessing_record

    pre = preprocessing_record(data.preprocessor, data.feature_names)
    target = {"name": data.target, "task": data.task, "note": data.task_note,
              "classes": data.classes}
    if data.task == "regression":
        target.update(mean=float(data.y_mean), scale=float(data.y_scale))
    return {"features": pre["columns"], "preprocessing": pre, "target": target,
            "network": network_record(net, data.task),
            "dataset": {"name": data.name, "source": str(config["dataset"]),
                        "gdlab_version": __version__}}


def save_model(folder, net, data, config: dict) -> Path:
    """Write ``model.npz`` into the run folder; returns its path."""
    return save_sealed(Path(folder) / MODEL_FILE, model_record(net, data, config),
                       format=MODEL_FORMAT, version=MODEL_VERSION, what="model file")


def model_path(run) -> Path:
    """The model file of a run folder (or the file itself), or a clear error."""
    path = Path(run)
    if path.is_dir():
        if (path / MODEL_FILE).is_file():
            return path / MODEL_FILE
        why = ("the run has not finished: resume it with gdlab train --resume, and its model "
               "is written at the end" if (path / "config.json").is_file() else
               "it is not a gdlab run folder")
        raise ValueError(f"no model in '{path}': {MODEL_FILE} is missing ({why})")
    if not path.exists():
        raise ValueError(f"no such run folder: '{path}'")
    return path


def read_model(run) -> dict:
    """The record of a run's model (see the module docstring), checked: a tampered, truncated
    or other-version file is a :class:`gdlab.CheckpointError` naming it."""
    path = model_path(run)
    record, _ = load_sealed(path, format=MODEL_FORMAT, version=MODEL_VERSION,
                            what="model file")
    missing = [k for k in ("features", "preprocessing", "target", "network") if k not in record]
    if missing:
        raise CheckpointError(f"model file {path} is incomplete: no {', '.join(missing)}")
    return record


def load_model(run):
    """The model of a run folder ``run`` (or its ``model.npz``) as a fitted scikit-learn
    :class:`~sklearn.pipeline.Pipeline`: the preprocessing, then a ``GDClassifier`` or
    ``GDRegressor`` (step ``"model"``). It predicts on a pandas DataFrame holding the training's
    feature columns (others are ignored; missing values as pandas reads them: NaN, None), or on
    an array for a run on arrays; a regressor answers in the target's own units. Nothing in
    the file is executed: it holds numbers and strings, read without pickle.

    >>> model = gdlab.load_model("runs/houses")            # doctest: +SKIP
    >>> model.predict(pd.read_csv("new_houses.csv"))       # doctest: +SKIP
    """
    from sklearn.pipeline import Pipeline

    from gdlab.data.preprocess import preprocessor_from_record

    record = read_model(run)
    try:
        pre = preprocessor_from_record(record["preprocessing"])
        model = estimator_from_record(record)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CheckpointError(f"model file {model_path(run)} is inconsistent: "
                              f"{type(exc).__name__}: {exc}") from None
    return Pipeline([*pre.steps, ("model", model)])


def estimator_from_record(record: dict):
    """A fitted GDClassifier/GDRegressor made from the record's ``network`` by setting its
    public fitted attributes (for regression, with the target's scaling folded into the last
    layer: ``W * scale``, ``b * scale + mean``)."""
    from gdlab.estimators.classifier import GDClassifier
    from gdlab.estimators.regressor import GDRegressor

    net, target = record["network"], record["target"]
    dtype = np.dtype(net["dtype"])
    hidden = [int(h) for h in net["hidden_layer_sizes"]]
    acts = list(net["activation"])
    classifier = target["task"] == "classification"
    activation = acts[0] if len(set(acts)) == 1 else acts
    est = (GDClassifier if classifier else GDRegressor)(
        hidden_layer_sizes=tuple(hidden), activation=activation if acts else "relu",
        batchnorm=net["batchnorm"] is not None, dtype=dtype.name)
    coefs = [np.asarray(W, dtype=np.float64) for W in net["coefs"]]
    intercepts = [np.asarray(b, dtype=np.float64) for b in net["intercepts"]]
    if not classifier:
        scale, mean = float(target["scale"]), float(target["mean"])
        coefs[-1], intercepts[-1] = coefs[-1] * scale, intercepts[-1] * scale + mean
    est.n_features_in_ = int(net["n_features_in"])
    est.n_outputs_ = int(net["n_outputs"])
    est.n_layers_ = len(hidden) + 2
    est.out_activation_ = net["out_activation"]
    if classifier:
        est.classes_ = np.array(target["classes"])
    est.coefs_ = [W.astype(dtype) for W in coefs]
    est.intercepts_ = [b.astype(dtype) for b in intercepts]
    if net["batchnorm"] is not None:
        if any(float(layer["eps"]) != _BATCHNORM_EPS for layer in net["batchnorm"]):
            raise ValueError(f"the estimators' BatchNorm uses eps {_BATCHNORM_EPS:g}")
        est.batchnorm_ = [{k: np.asarray(layer[k], dtype=dtype) for k in _BATCHNORM_KEYS}
                          for layer in net["batchnorm"]]
    return est
