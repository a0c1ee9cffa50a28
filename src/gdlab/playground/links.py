"""Shareable links: every setting of the page in its URL's query string.

A link is the page's address with a query such as
``?dataset=spirals&n_samples=400&...&layers=16,16&optimizer=adam&lr=0.03&compare=1&b.optimizer=sgd&autostart=1``:

- every key of a configuration the page sets (:data:`LINK_KEYS`: those of
  :data:`~gdlab.playground.config.DEFAULTS` but ``record_every``), in that order, a key whose
  value is null left out (it takes its default); lists are written with commas (``layers=16,16``,
  ``activation=relu,tanh``, ``betas=0.9,0.999``, ``layers=`` for none), true and false as
  ``true`` and ``false``;
- ``compare=1`` for compare mode, and ``b.KEY=value`` for each setting in which the second
  run differs from the first (:func:`side_b`: the first run's settings with these changed);
- ``autostart=1`` to start training as soon as the page has loaded.

The page (``static/links.js``) writes and reads the same form; :func:`link` and
:func:`parse_link` are its Python twins, for the presets, the README and the tests.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qsl, quote

from gdlab.playground.config import DEFAULTS, HYPER_PARAMETERS, ConfigError, check_config

#: the keys a link carries, in order: every setting of the page
LINK_KEYS = tuple(key for key in DEFAULTS if key != "record_every")

#: keys whose value is a list, written with commas
LIST_KEYS = ("layers", "betas")

#: the keys of a link that are no setting
MODE_KEYS = ("compare", "autostart")


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))   # as JavaScript writes it: 1, not 1.0
    return str(value)


def _pairs(settings, prefix=""):
    return [(prefix + key, _text(settings[key])) for key in LINK_KEYS
            if key in settings and settings[key] is not None]


def link(config, b=None, *, compare=False, autostart=False) -> str:
    """The query string (without ``?``) of ``config`` (checked first) and, in compare mode
    (``compare`` or a ``b``), the settings ``b`` in which the second run differs."""
    config = check_config(config)
    pairs = _pairs(config)
    if compare or b is not None:
        pairs.append(("compare", "1"))
        b_config = side_b(config, b or {})
        pairs += [(f"b.{key}", value) for key, value in _pairs(b_config)
                  if (key, value) not in pairs]
    if autostart:
        pairs.append(("autostart", "1"))
    return "&".join(f"{key}={quote(value, safe=',:=')}" for key, value in pairs)


def side_b(config, changes) -> dict:
    """The second run of compare mode: ``config`` with ``changes``; a change of optimizer also
    resets the hyper-parameters that ``changes`` does not set to the new optimizer's own
    defaults (as picking an optimizer in the page does)."""
    b = {**config, **changes}
    if "optimizer" in changes:
        for key in HYPER_PARAMETERS:
            if key not in changes:
                b[key] = None
    return check_config(b)


def _value(key, text):
    default = DEFAULTS[key]
    if key in LIST_KEYS:
        parts = [p for p in text.split(",") if p.strip()]
        return [int(p) if key == "layers" else float(p) for p in parts]
    if key == "activation":
        return text.split(",") if "," in text else text
    if isinstance(default, bool):
        if text not in ("true", "false", "1", "0"):
            raise ValueError(f"{key} must be true or false, got {text!r}")
        return text in ("true", "1")
    if key == "batch_size" and text == "full":
        return text
    if isinstance(default, str) or key == "schedule":
        return text
    number = float(text)
    if key in ("n_samples", "seed", "max_steps", "batch_size") and number.is_integer():
        return int(number)
    if not math.isfinite(number):
        raise ValueError(f"{key} must be a finite number, got {text!r}")
    return number


def parse_link(query) -> dict:
    """``{"config", "b", "compare", "autostart"}`` of a query string: the settings it gives
    (the rest take their defaults when checked), the second run's changes, the modes. A
    ConfigError names a key that is no setting or a value that cannot be read."""
    config, b, modes = {}, {}, {"compare": False, "autostart": False}
    for key, text in parse_qsl(query.lstrip("?"), keep_blank_values=True):
        target, name = (b, key[2:]) if key.startswith("b.") else (config, key)
        if key in MODE_KEYS:
            modes[key] = text in ("1", "true")
            continue
        if name not in LINK_KEYS:
            raise ConfigError(key, f"the link has an unknown setting {key!r}")
        try:
            target[name] = _value(name, text)
        except ValueError as exc:
            raise ConfigError(key, f"the link's {key} cannot be read: {exc}") from None
    changes = {k: v for k, v in b.items() if config.get(k, DEFAULTS[k]) != v}
    return {"config": config, "b": changes, **modes}
