"""gdlab: neural networks trained by gradient descent and its variants, on NumPy.

The package is laid out along the path of one training step (docs/architecture.md):
:mod:`gdlab.data` -> :mod:`gdlab.nn` (forward, loss, backward) -> :mod:`gdlab.optim` ->
:mod:`gdlab.schedules` -> :mod:`gdlab.training` (the loop), with :mod:`gdlab.kernels`,
:mod:`gdlab.distributed`, :mod:`gdlab.estimators`, :mod:`gdlab.lab`, :mod:`gdlab.report` and
:mod:`gdlab.cli` around it; :mod:`gdlab.onnx` (skl2onnx converters, the extra ``gdlab[onnx]``)
is imported only when asked for.

Public names are resolved lazily (PEP 562) so that ``import gdlab`` loads only NumPy and
the core; scikit-learn, matplotlib, rich and mpi4py load when a name that needs them is used.
"""

from importlib import import_module

__version__ = "0.2.0"

# public name -> module that defines it; the one table of what gdlab exports
_NAMES = {
    # the engine
    "Layer": "nn.layers",
    "Dense": "nn.layers",
    "Sigmoid": "nn.layers",
    "Tanh": "nn.layers",
    "ReLU": "nn.layers",
    "LeakyReLU": "nn.layers",
    "ELU": "nn.layers",
    "Identity": "nn.layers",
    "Softmax": "nn.layers",
    "BatchNorm": "nn.normalization",
    "Dropout": "nn.dropout",
    "Sequential": "nn.sequential",
    "mlp": "nn.sequential",
    "MSELoss": "nn.losses",
    "L1Loss": "nn.losses",
    "HuberLoss": "nn.losses",
    "CrossEntropyLoss": "nn.losses",
    "BCEWithLogitsLoss": "nn.losses",
    "gradcheck": "nn.gradcheck",
    # errors
    "DivergenceError": "errors",
    "CheckpointError": "errors",
    # optimizers and schedules by name
    "make_optimizer": "optim.registry",
    "make_schedule": "schedules.spec",
    # training
    "fit": "training.trainer",
    "Trainer": "training.trainer",
    "History": "training.history",
    "FitResult": "training.history",
    "Callback": "training.callbacks",
    "save_checkpoint": "training.checkpoint",
    "load_checkpoint": "training.checkpoint",
    # data
    "load_dataset": "data.datasets",
    "ScaledRows": "data.ondisk",
    "convert_table": "lab.convert",
    # distributed training (mpi4py is imported only when a launcher started several ranks)
    "MPIComm": "distributed.mpi",
    "get_communicator": "distributed.mpi",
    "SyncBatchNorm": "distributed.syncbn",
    "convert_sync_batchnorm": "distributed.syncbn",
    # scikit-learn estimators
    "GDClassifier": "estimators.classifier",
    "GDRegressor": "estimators.regressor",
    # the lab: plain functions, runs
    "minimize": "lab.minimize",
    "lr_range_test": "lab.lr_find",
    "find_lr": "lab.lr_find",
    "run_training": "lab.runs",
    "load_model": "lab.run_model",
    "export_onnx": "lab.run_export",
    "onnx_inputs": "lab.run_export",
}

_SUBMODULES = {
    "nn", "optim", "schedules", "training", "kernels", "distributed", "data", "estimators",
    "lab", "report", "cli", "errors", "onnx",
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
