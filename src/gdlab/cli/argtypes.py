"""The argument types of the ``gdlab`` command (:mod:`gdlab.cli`): each turns one option's text
into its value, or raises ``argparse.ArgumentTypeError`` with a message naming the bad value."""

from __future__ import annotations

import argparse
import math

from gdlab import _checks
from gdlab.lab.functions import FUNCTIONS
from gdlab.optim.registry import OPTIMIZER_NAMES

FUNCTION_NAMES = tuple(FUNCTIONS)


def positive_float(text):
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def learning_rate(text):
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"negative learning rate {text!r}; it must be > 0")
    if value == 0:
        raise argparse.ArgumentTypeError(f"learning rate {text!r} must be > 0")
    return value


def non_negative_float(text):
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def optional_non_negative_float(text):
    """A tolerance: a number >= 0, or ``none``/``off`` to switch the rule off."""
    if text.strip().lower() in ("none", "off"):
        return None
    return non_negative_float(text)


def probability(text):
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def _float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _integer(text, low):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {text!r}")
    return value


def positive_int(text):
    return _integer(text, 1)


def non_negative_int(text):
    return _integer(text, 0)


def batch_size(text):
    """``full`` (batch gradient descent), ``1`` (stochastic) or an integer K >= 1."""
    if text.strip().lower() == "full":
        return "full"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"batch size must be 'full' or an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"batch size {text!r} is invalid: it must be 'full' or an integer >= 1")
    return value


def layer_sizes(text):
    """``64,32`` -> (64, 32); an empty string or ``none`` -> () (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    sizes = []
    for part in text.split(","):
        try:
            size = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"layer sizes are integers separated by commas (e.g. 64,32), got {text!r}"
            ) from None
        if size < 1:
            raise argparse.ArgumentTypeError(f"layer sizes must be >= 1, got {text!r}")
        sizes.append(size)
    return tuple(sizes)


def optimizer_name(text):
    try:
        return _checks.choice("optimizer", text.strip(), OPTIMIZER_NAMES)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def optimizer_list(text):
    names = [optimizer_name(part) for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one optimizer")
    return names


def batch_size_list(text):
    return _list(text, batch_size, "batch size")


def lr_list(text):
    return _list(text, learning_rate, "learning rate")


def _list(text, item, what):
    values = [item(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"give at least one {what}")
    return values


def point(text):
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"a point is x,y (e.g. -1.5,2), got {text!r}")
    return tuple(_float(p) for p in parts)
