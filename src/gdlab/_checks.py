"""The boundary checks: the one place that turns a bad argument into a sentence for people.

Every public entry point (constructors, ``fit``, the CLI, file loaders) validates with these,
so that the same mistake gets the same kind of message everywhere: it names the argument and
shows the value. Inside the package, data that passed a check is trusted.
"""

from __future__ import annotations

import difflib
import math
import numbers

import numpy as np

from gdlab.errors import InvalidParameterError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _interval(low, high, low_open, high_open) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def real(name, value, *, low=None, high=None, low_open=False, high_open=False,
         allow_none=False, finite=True) -> float | None:
    """``value`` as a finite Python float inside the interval.

    A value that is not a real number is an :class:`~gdlab.errors.InvalidParameterError`, both
    a TypeError and a ValueError (booleans included: ``True`` is not a learning rate; NumPy
    scalars are real numbers); a number outside the interval, or NaN or infinity, a
    ValueError (``finite=False`` lets infinity through: a clipping threshold). Both name
    ``name`` and show the value.
    """
    if value is None and allow_none:
        return None
    or_none = " or None" if allow_none else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(f"{name} must be a real number{or_none}, got "
                                    f"{describe(value)}")
    x = float(value)
    bad = math.isnan(x) or (finite and math.isinf(x))
    bad |= low is not None and (x <= low if low_open else x < low)
    bad |= high is not None and (x >= high if high_open else x > high)
    if bad:
        where = ("a finite number" if low is None and high is None
                 else _interval(low, high, low_open, high_open))
        raise ValueError(f"{name} must be {where}{or_none}, got {describe(value)}")
    return x


def non_negative(name, value, *, allow_none=False) -> float | None:
    """A finite number ``>= 0`` (a rate, a penalty, a tolerance)."""
    return real(name, value, low=0.0, allow_none=allow_none)


def positive(name, value, *, allow_none=False) -> float | None:
    """A finite number ``> 0``."""
    return real(name, value, low=0.0, low_open=True, allow_none=allow_none)


def fraction(name, value) -> float:
    """A number in ``[0, 1)`` (a share of the data, a dropout probability)."""
    return real(name, value, low=0.0, high=1.0, high_open=True)


def integer(name, value, *, low=1, allow_none=False) -> int | None:
    """``value`` as a Python int ``>= low``: an InvalidParameterError (a TypeError and a
    ValueError) when it is no integer (2.5, "3", True), a ValueError when it is too small; both
    name ``name``."""
    if value is None and allow_none:
        return None
    kind = "a positive integer" if low == 1 else f"an integer >= {low}"
    message = f"{name} must be {kind}{' or None' if allow_none else ''}, got {describe(value)}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(message)
    if value < low:
        raise ValueError(message)
    return int(value)


def positive_int(name, value, *, allow_none=False) -> int | None:
    return integer(name, value, low=1, allow_none=allow_none)


def float_dtype(dtype, name="dtype") -> np.dtype:
    """``np.dtype`` for float32/float64 (a name, a type or a dtype); ValueError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be 'float32' or 'float64', got {dtype!r}")
    return dt


def did_you_mean(value, options) -> str:
    """`` did you mean 'x'?`` for the closest option, or an empty string."""
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def describe(value) -> str:
    """The value as a person typed it: ``'south'``, never ``np.str_('south')``."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def unknown_names(kind, values, options, where="") -> ValueError:
    """The error for names that are not among ``options``: ``unknown schedule option
    'Tmax'; did you mean 'T_max'? Choose from: T_max, eta_min`` (plain lists, never Python
    ones). ``where`` follows the names (`` for schedule 'cosine'``)."""
    values, options = list(values), [str(o) for o in options]
    shown = ", ".join(describe(v) for v in values)
    hint = did_you_mean(values[0], options) if values else ""
    listed = ", ".join(options)
    tail = f"{hint} Choose from: {listed}" if hint else f"; choose from: {listed}"
    return ValueError(f"unknown {kind}{'s' if len(values) > 1 else ''} {shown}{where}{tail}")


def choice(name, value, options, *, kind=None, normalize=str.lower):
    """The key of ``options`` (a registry or a list) that ``value`` names, or a ValueError.

    ``normalize`` maps what the user typed onto the registry's spelling (lower case by
    default). The message names the kind, suggests the closest name and lists the choices in
    plain words: ``unknown optimizer 'adamm'; did you mean 'adam'? Choose from: sgd, adam``.
    """
    options = list(options)
    key = normalize(value) if isinstance(value, str) and normalize else value
    if isinstance(key, str) and key in options:
        return key
    hint = did_you_mean(key, options)
    listed = ", ".join(map(str, options))
    tail = f"{hint} Choose from: {listed}" if hint else f"; choose from: {listed}"
    raise ValueError(f"unknown {kind or name} {describe(value)}{tail}")
