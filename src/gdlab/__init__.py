"""gdlab: neural networks trained by gradient descent and its variants, on NumPy.

Public names are resolved lazily (PEP 562) so that ``import gdlab`` loads only NumPy and
the core; scikit-learn, matplotlib, rich and mpi4py load when a name that needs them is used.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> module that defines it; the one table of what gdlab exports
_NAMES = {
    # engine
    "Layer": "layers",
    "Dense": "layers",
    "Sigmoid": "layers",
    "Tanh": "layers",
    "ReLU": "layers",
    "LeakyReLU": "layers",
    "ELU": "layers",
    "Identity": "layers",
    "Softmax": "layers",
    "BatchNorm": "normalization",
    "Dropout": "normalization",
    "Sequential": "network",
    "MSELoss": "losses",
    "L1Loss": "losses",
    "HuberLoss": "losses",
    "CrossEntropyLoss": "losses",
    "BCEWithLogitsLoss": "losses",
    "gradcheck": "gradient_check",
    # errors
    "DivergenceError": "errors",
    "CheckpointError": "errors",
    # optimisation of plain functions
    "minimize": "functions",
    "make_optimizer": "optim",
    "make_schedule": "schedule_spec",
    "load_dataset": "data",
    "run_training": "runs",
    # training
    "fit": "training",
    "Trainer": "training",
    "History": "training",
    "FitResult": "training",
    "Callback": "training",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    # distributed training (mpi4py is imported only when a launcher started several ranks)
    "MPIComm": "distributed",
    "get_communicator": "distributed",
    "SyncBatchNorm": "distributed",
    "convert_sync_batchnorm": "distributed",
    # scikit-learn estimators
    "GDClassifier": "estimators",
    "GDRegressor": "estimators",
}

_SUBMODULES = {
    "layers", "losses", "init", "network", "optim", "schedules", "training", "checkpoint",
    "data", "functions", "distributed", "estimators", "plots", "report", "cli", "gradient_check",
    "normalization", "errors", "clip", "idx", "runs", "comparison", "explain", "commands",
    "optimizer", "launch", "tour", "schedule_spec", "adaptive", "accel", "fusion",
}

__all__ = sorted(_NAMES) + ["__version__"]


def __getattr__(name):
    if name in _NAMES:
        value = getattr(import_module(f"gdlab.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return import_module(f"gdlab.{name}")
    raise AttributeError(f"module 'gdlab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_NAMES) | _SUBMODULES)
