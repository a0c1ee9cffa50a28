"""The one table of optimizer names. The command line's choices, the estimators' solvers, the
"choose from" messages and which names have compiled kernels are all derived from it."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from gdlab import _checks
from gdlab.optim.adam import Adam, Adamax, AdamW, NAdam, RAdam
from gdlab.optim.adaptive import Adadelta, Adagrad, RMSprop
from gdlab.optim.base import Optimizer
from gdlab.optim.sgd import SGD


@dataclass(frozen=True)
class OptimizerEntry:
    """A name of the table: the class, the settings the name implies (``momentum`` is SGD with
    momentum 0.9), and whether it is an alias kept for scikit-learn's vocabulary (``gd``).
    Calling it builds the optimizer; keyword arguments override the preset."""

    cls: type
    preset: dict = field(default_factory=dict)
    alias: bool = False

    def __call__(self, params, **kwargs) -> Optimizer:
        return self.cls(params, **{**self.preset, **kwargs})

    @property
    def has_kernel(self) -> bool:
        """Whether ``fast=`` applies: the update can run as one compiled pass."""
        return self.cls.has_kernel

    def accepts(self, argument: str) -> bool:
        """Whether the optimizer takes the constructor argument ``argument``."""
        return argument in inspect.signature(self.cls).parameters


OPTIMIZERS = {
    "sgd": OptimizerEntry(SGD),
    "gd": OptimizerEntry(SGD, alias=True),
    "momentum": OptimizerEntry(SGD, {"momentum": 0.9}),
    "nesterov": OptimizerEntry(SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": OptimizerEntry(Adagrad),
    "rmsprop": OptimizerEntry(RMSprop),
    "adadelta": OptimizerEntry(Adadelta),
    "adamax": OptimizerEntry(Adamax),
    "adam": OptimizerEntry(Adam),
    "adamw": OptimizerEntry(AdamW),
    "nadam": OptimizerEntry(NAdam),
    "radam": OptimizerEntry(RAdam),
}

#: the names the command line offers (aliases left out)
OPTIMIZER_NAMES = tuple(name for name, entry in OPTIMIZERS.items() if not entry.alias)


def optimizer_entry(name) -> OptimizerEntry:
    """The entry of ``name`` (any case), or a ValueError that suggests the closest name."""
    return OPTIMIZERS[_checks.choice("optimizer", name, OPTIMIZERS)]


def make_optimizer(name, params, **kwargs) -> Optimizer:
    """Build the optimizer called ``name`` (a key of ``OPTIMIZERS``) over ``params``.

    ``kwargs`` are the class's constructor arguments; they override the presets of
    ``"momentum"`` and ``"nesterov"``.
    """
    return optimizer_entry(name)(params, **kwargs)
