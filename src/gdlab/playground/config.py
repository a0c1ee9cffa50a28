"""A playground configuration: a plain JSON object, checked field by field.

The keys are named as ``gdlab train``'s options where one exists (``dataset``, ``layers``,
``activation``, ``batchnorm``, ``dropout``, ``optimizer``, ``lr``, ``momentum``,
``weight_decay``, ``alpha``, ``clip_norm``, ``schedule``, ``batch_size``, ``seed``) and as
its configuration file's otherwise (``val_size``); the rest are the playground's own
(``n_samples``, ``noise``, ``betas``, ``max_steps``, ``record_every``). A key left out takes
its default (:data:`DEFAULTS`); :func:`check_config` returns the complete configuration, every
value in its canonical JSON form, so that the same object always describes the same run.
Sizes are bounded (:data:`LIMITS`) so that one request cannot take the machine.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from gdlab import _checks
from gdlab.data.toy import DEFAULT_N_SAMPLES, DEFAULT_NOISE, GENERATORS
from gdlab.errors import InvalidParameterError
from gdlab.nn.layers import ACTIVATIONS, Softmax
from gdlab.optim.registry import OPTIMIZER_NAMES, optimizer_entry
from gdlab.schedules.spec import make_schedule

#: every key of a configuration, with its default
DEFAULTS = {
    "dataset": "circles", "n_samples": DEFAULT_N_SAMPLES, "noise": DEFAULT_NOISE, "val_size": 0.2,
    "layers": [8, 8], "activation": "tanh", "batchnorm": False, "dropout": 0.0,
    "optimizer": "adam", "lr": 0.03, "momentum": None, "betas": None, "weight_decay": None,
    "batch_size": 16, "alpha": 0.0, "clip_norm": None, "schedule": None,
    "seed": 0, "max_steps": 5000, "record_every": None,
}

#: the bounds that keep one run small: samples, hidden layers, units per layer, steps, the
#: number of history entries (``max_steps / record_every``), a seed, a schedule's text
LIMITS = {
    "n_samples": (4, 2000), "layers": 6, "width": 64, "max_steps": 100_000,
    "history": 5_000, "seed": 2**32 - 1, "schedule": 200, "noise": 1.0, "lr": 100.0,
}

#: the hyper-parameters a configuration may set beside ``lr``, each given only to the
#: optimizers that take it (None: the optimizer's own default)
HYPER_PARAMETERS = ("momentum", "betas", "weight_decay")

#: the hidden activations the page offers: one name per activation of the registry, softmax
#: (an output layer's) left out
HIDDEN_ACTIVATIONS = tuple(dict.fromkeys(
    name for name, cls in ACTIVATIONS.items()
    if cls is not Softmax and name == next(n for n, c in ACTIVATIONS.items() if c is cls)))


#: names from gdlab's estimators, PyTorch and elsewhere, for "did you mean ...?"
_ALIASES = {"learning_rate": "lr", "learning_rate_init": "lr", "hidden_layer_sizes": "layers",
            "hidden_layers": "layers", "solver": "optimizer", "epochs": "max_steps",
            "steps": "max_steps", "max_iter": "max_steps", "l2": "alpha", "beta1": "betas",
            "beta2": "betas", "random_state": "seed", "batch": "batch_size"}


class ConfigError(ValueError):
    """A configuration that cannot run; ``field`` names the key at fault (None: the whole)."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def _flag(field, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{field} must be true or false, got "
                                            f"{_checks.describe(value)}")
    return bool(value)


def _layers(field, value) -> list[int]:
    if not isinstance(value, (list, tuple)):
        raise InvalidParameterError(
            f"layers must be a list of hidden layer widths such as [8, 8], got "
            f"{_checks.describe(value)}")
    if len(value) > LIMITS["layers"]:
        raise ValueError(f"layers has {len(value)} hidden layers; at most {LIMITS['layers']}")
    widths = [_checks.integer(f"layers[{i}]", w) for i, w in enumerate(value)]
    if any(w > LIMITS["width"] for w in widths):
        raise ValueError(f"layers must have at most {LIMITS['width']} units per layer, got "
                         f"{widths}")
    return widths


def _activation(field, value, n_hidden):
    names = value if isinstance(value, (list, tuple)) else [value]
    for name in names:
        if not isinstance(name, str):
            raise InvalidParameterError(
                f"activation must be a name or a list of names, got {_checks.describe(name)}")
        if ACTIVATIONS.get(name.lower(), Softmax) is Softmax:  # unknown, or an output's
            _checks.choice("activation", name, HIDDEN_ACTIVATIONS)
    if not isinstance(value, (list, tuple)):
        return value.lower()
    if len(value) != n_hidden:
        raise ValueError(f"activation has {len(value)} name(s) for {n_hidden} hidden layers; "
                         "give one name, or one per hidden layer")
    return [name.lower() for name in value]


def _batch_size(field, value, n_train, batchnorm):
    if isinstance(value, str):
        if value.lower() != "full":
            raise ValueError(f"batch_size must be 'full', 1 or an integer k, got {value!r}")
        return "full"
    k = _checks.integer("batch_size", value)
    if k > n_train:
        raise ValueError(f"batch_size {k} is larger than the {n_train} training samples; use "
                         "'full' for batch gradient descent")
    if batchnorm and (k == 1 or n_train % k == 1):
        # one sample has no spread: the trainer refuses such a batch
        raise ValueError(f"batch_size {k} makes a batch of 1 of the {n_train} training "
                         "samples, which batch normalization cannot normalise; choose another "
                         "batch size")
    return k


def _betas(field, value):
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InvalidParameterError(
            f"betas must be a list of two numbers such as [0.9, 0.999], got "
            f"{_checks.describe(value)}")
    return [_checks.real("betas", b, low=0.0, high=1.0, high_open=True) for b in value]


def _number_fields(c) -> dict:
    """The numeric fields, checked (each error names its field)."""
    lo, hi = LIMITS["n_samples"]
    out = {
        "n_samples": _checked("n_samples", _checks.integer, c["n_samples"], low=lo),
        "noise": _checked("noise", _checks.real, c["noise"], low=0.0, high=LIMITS["noise"]),
        "val_size": _checked("val_size", _checks.real, c["val_size"], low=0.0, high=0.5),
        "dropout": _checked("dropout", _checks.fraction, c["dropout"]),
        "lr": _checked("lr", _checks.real, c["lr"], low=0.0, low_open=True, high=LIMITS["lr"]),
        "alpha": _checked("alpha", _checks.non_negative, c["alpha"]),
        "clip_norm": _checked("clip_norm", _checks.positive, c["clip_norm"], allow_none=True),
        "seed": _checked("seed", _checks.integer, c["seed"], low=0),
        "max_steps": _checked("max_steps", _checks.integer, c["max_steps"]),
        "momentum": _checked("momentum", _checks.non_negative, c["momentum"], allow_none=True),
        "weight_decay": _checked("weight_decay", _checks.non_negative, c["weight_decay"],
                                 allow_none=True),
        "betas": _checked("betas", _betas, c["betas"]),
    }
    for key, high in (("n_samples", hi), ("seed", LIMITS["seed"]),
                      ("max_steps", LIMITS["max_steps"])):
        if out[key] > high:
            raise ConfigError(key, f"{key} must be at most {high:,}, got {out[key]!r}")
    return out


def _checked(field, check, value, *args, **kwargs):
    """``check(field, value, ...)`` with its error turned into a ConfigError naming ``field``."""
    try:
        return check(field, value, *args, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(field, str(exc)) from None


def _record_every(field, value, max_steps):
    if value is None:  # about 500 entries whatever the length of the run
        return max(1, math.ceil(max_steps / 500))
    every = _checks.integer("record_every", value)
    if max_steps / every > LIMITS["history"]:
        raise ValueError(f"record_every {every} would record {max_steps // every:,} entries "
                         f"of max_steps {max_steps:,}; at most {LIMITS['history']:,}")
    return every


def check_config(config) -> dict:
    """The complete, checked configuration for ``config`` (a dict of some keys of
    :data:`DEFAULTS`), or a :class:`ConfigError` whose message and ``field`` name the key."""
    if not isinstance(config, dict):
        raise ConfigError(None, f"a configuration must be a JSON object of settings such as "
                                f'{{"dataset": "moons"}}, got {type(config).__name__}')
    for key in config:
        if key not in DEFAULTS:
            hint = (f"; did you mean {_ALIASES[key]!r}?" if key in _ALIASES
                    else _checks.did_you_mean(key, DEFAULTS))
            listed = f"he settings are: {', '.join(DEFAULTS)}"
            raise ConfigError(str(key), f"unknown setting {str(key)!r}"
                                        f"{hint + ' T' if hint else '; t'}{listed}")
    c = {**DEFAULTS, **config}
    out = {"dataset": _checked("dataset", _name, c["dataset"], GENERATORS)}
    out.update(_number_fields(c))
    out["layers"] = _checked("layers", _layers, c["layers"])
    out["activation"] = _checked("activation", _activation, c["activation"], len(out["layers"]))
    out["batchnorm"] = _checked("batchnorm", _flag, c["batchnorm"])
    out["optimizer"] = _checked("optimizer", _name, c["optimizer"], OPTIMIZER_NAMES)
    n_train = out["n_samples"] - int(round(out["n_samples"] * out["val_size"]))
    out["batch_size"] = _checked("batch_size", _batch_size, c["batch_size"], n_train,
                                 out["batchnorm"])
    out["record_every"] = _checked("record_every", _record_every, c["record_every"],
                                   out["max_steps"])
    out["schedule"] = _checked("schedule", _schedule_text, c["schedule"])
    _check_optimizer(out)
    return {key: out[key] for key in DEFAULTS}


def _name(field, value, options):
    if not isinstance(value, str):
        raise InvalidParameterError(f"{field} must be a name, got "
                                            f"{_checks.describe(value)}")
    return _checks.choice(field, value, options)


def _schedule_text(field, value):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > LIMITS["schedule"]:
        raise InvalidParameterError(
            f"schedule must be a text such as 'cosine' or 'step:step_size=500,gamma=0.5' of at "
            f"most {LIMITS['schedule']} characters, got {_checks.describe(value)[:60]}")
    return value.strip() or None


def optimizer_arguments(config) -> dict:
    """The optimizer's constructor arguments of a checked configuration: ``lr`` and the
    hyper-parameters it sets (``betas`` as a tuple)."""
    kwargs = {"lr": config["lr"]}
    for key in HYPER_PARAMETERS:
        if config[key] is not None:
            kwargs[key] = tuple(config[key]) if key == "betas" else config[key]
    return kwargs


def _check_optimizer(config) -> None:
    """Hyper-parameters the optimizer does not take, or values it refuses together (Nesterov
    without momentum), and a schedule that cannot be built, named by their field."""
    entry = optimizer_entry(config["optimizer"])
    for key in HYPER_PARAMETERS:
        if config[key] is not None and not entry.accepts(key):
            takers = [n for n in OPTIMIZER_NAMES if optimizer_entry(n).accepts(key)]
            raise ConfigError(key, f"{key} does not apply to the optimizer "
                                   f"{config['optimizer']!r}; it applies to {', '.join(takers)}")
    probe = np.zeros(1, dtype=np.float32)
    try:
        optimizer = entry([probe], **optimizer_arguments(config))
    except (ValueError, TypeError) as exc:
        field = next((k for k in HYPER_PARAMETERS if k in str(exc)), "optimizer")
        raise ConfigError(field, f"{config['optimizer']}: {exc}") from None
    if config["schedule"] is not None:
        try:
            make_schedule(config["schedule"], optimizer, horizon=config["max_steps"])
        except (ValueError, TypeError) as exc:
            raise ConfigError("schedule", f"schedule: {exc}") from None


def options() -> dict:
    """What a page or a notebook needs to offer valid settings: the defaults, the limits, the
    data sets, the hidden activations, and per optimizer the hyper-parameters it takes with
    their defaults."""
    optimizers = {}
    for name in OPTIMIZER_NAMES:
        entry = optimizer_entry(name)
        probe = entry([np.zeros(1, dtype=np.float32)])
        optimizers[name] = {key: _jsonable(getattr(probe, key)) for key in
                            ("lr", *HYPER_PARAMETERS) if key == "lr" or entry.accepts(key)}
    return {
        "defaults": DEFAULTS, "limits": LIMITS,
        "datasets": {name: {"task": task, "description": text}
                     for name, (task, text, _) in GENERATORS.items()},
        "activations": list(HIDDEN_ACTIVATIONS), "optimizers": optimizers,
    }


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value
