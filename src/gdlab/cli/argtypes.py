"""The argument types of the ``gdlab`` command: each turns one option's text into its value, or
raises ``argparse.ArgumentTypeError`` with a message naming the bad value.

They parse the text and leave the rule to :mod:`gdlab._checks`, the one set of boundary checks
(numbers in a range, names from a registry with "did you mean ...?"): its ValueError becomes an
ArgumentTypeError with the same message, which argparse prints after ``argument --OPTION:``.
Names are checked against the registries: :data:`gdlab.optim.registry.OPTIMIZER_NAMES`,
:data:`gdlab.nn.layers.ACTIVATIONS` and :data:`gdlab.lab.functions.FUNCTIONS`.
"""

from __future__ import annotations

import argparse

from gdlab import _checks
from gdlab.lab.functions import FUNCTIONS
from gdlab.nn.layers import ACTIVATIONS
from gdlab.optim.registry import OPTIMIZER_NAMES

VALUE = "value"  # how _checks' messages name an option's value (argparse names the option)


def _checked(check, *args, **kwargs):
    """``check(*args, **kwargs)`` of :mod:`gdlab._checks`, its ValueError as ArgumentTypeError."""
    try:
        return check(*args, **kwargs)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ---- numbers -------------------------------------------------------------------------------

def _float(text) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _int(text) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def positive_float(text):
    """A finite number > 0."""
    return _checked(_checks.positive, VALUE, _float(text))


def non_negative_float(text):
    """A finite number >= 0."""
    return _checked(_checks.non_negative, VALUE, _float(text))


def optional_non_negative_float(text):
    """A tolerance: a number >= 0, or ``none``/``off`` to switch the rule off."""
    if text.strip().lower() in ("none", "off"):
        return None
    return non_negative_float(text)


def probability(text):
    """A number in [0, 1) (a dropout probability)."""
    return _checked(_checks.fraction, VALUE, _float(text))


def learning_rate(text):
    """A finite number > 0; a negative one is named as such (a common slip)."""
    value = _float(text)
    try:
        return _checks.positive("learning rate", value)
    except ValueError as exc:
        if value < 0:
            raise argparse.ArgumentTypeError(
                f"negative learning rate {text!r}; it must be > 0") from None
        raise argparse.ArgumentTypeError(str(exc)) from None


def learning_rate_or_auto(text):
    """A learning rate, or ``auto``: the learning-rate range test chooses it."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"learning rate {text!r} is neither a number nor "
                                         "'auto'") from None
    return learning_rate(text)


def positive_int(text):
    return _checked(_checks.integer, VALUE, _int(text), low=1)


def jobs(text):
    """A number of worker processes as joblib's ``n_jobs``: positive, or -1 for as many as the
    cores allow (-2 one fewer, ...)."""
    value = _int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 worker processes; give a positive number, or -1 for "
                                         "as many as the cores allow")
    return value


def non_negative_int(text):
    return _checked(_checks.integer, VALUE, _int(text), low=0)


def batch_size(text):
    """``full`` (batch gradient descent), ``1`` (stochastic) or an integer K >= 1."""
    if text.strip().lower() == "full":
        return "full"
    rule = "it must be 'full' or an integer >= 1"
    try:
        return _checks.positive_int("batch size", int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch size {text!r} is invalid: {rule}") from None


def layer_sizes(text):
    """``64,32`` -> (64, 32); an empty string or ``none`` -> () (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"layer sizes are integers separated by commas (e.g. 64,32), got {text!r}") from None
    for size in sizes:
        _checked(_checks.positive_int, "layer size", size)
    return tuple(sizes)


def point(text):
    """``x,y`` -> a pair of finite numbers."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"a point is x,y (e.g. -1.5,2), got {text!r}")
    return tuple(_checked(_checks.real, "coordinate", _float(p)) for p in parts)


# ---- names from the registries -------------------------------------------------------------------

def optimizer_name(text):
    return _checked(_checks.choice, "optimizer", text.strip(), OPTIMIZER_NAMES)


def activation_name(text):
    return _checked(_checks.choice, "activation", text.strip(), ACTIVATIONS)


def function_name(text):
    return _checked(_checks.choice, "function", text.strip(), FUNCTIONS)


# ---- comma-separated lists --------------------------------------------------------------------

def _list(text, item, what):
    values = [item(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"give at least one {what}")
    return values


def optimizer_list(text):
    return _list(text, optimizer_name, "optimizer")


def batch_size_list(text):
    return _list(text, batch_size, "batch size")


def lr_list(text):
    return _list(text, learning_rate, "learning rate")


def column_list(text):
    """``a,b,c`` -> ["a", "b", "c"]: column names of a table (checked against the table when
    it is read)."""
    return _list(text, str, "column name")
