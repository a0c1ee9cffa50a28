"""``--schedule NAME[:key=value,...]``: the table of schedule names and the spec parser.

The CLI, the estimators' ``lr_schedule`` and ``Trainer(schedule="...")`` build schedules from
a string through :func:`make_schedule`; the schedules themselves are in the other modules
of :mod:`gdlab.schedules`.
"""

from __future__ import annotations

import inspect

from gdlab import _checks
from gdlab.schedules.base import ConstantSchedule
from gdlab.schedules.cyclic import CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR
from gdlab.schedules.decay import ExponentialLR, InverseScalingLR, MultiStepLR, PolynomialLR, StepLR
from gdlab.schedules.plateau import ReduceLROnPlateau
from gdlab.schedules.warmup import LinearWarmup

SCHEDULES = {
    "constant": ConstantSchedule,
    "step": StepLR,
    "multistep": MultiStepLR,
    "exponential": ExponentialLR,
    "invscaling": InverseScalingLR,
    "polynomial": PolynomialLR,
    "cosine": CosineAnnealingLR,
    "cosine_restarts": CosineAnnealingWarmRestarts,
    "warmup": LinearWarmup,
    "onecycle": OneCycleLR,
    "plateau": ReduceLROnPlateau,
}

# the argument that a run's length (``horizon``) fills in when the spec leaves it out
_HORIZON = {CosineAnnealingLR: "T_max", PolynomialLR: "total_iters", OneCycleLR: "total_steps"}


def _parse_value(text):
    text = text.strip()
    if ";" in text:
        return [_parse_value(part) for part in text.split(";") if part.strip()]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _parse_spec(spec):
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"schedule spec must be a non-empty string, got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    name = _checks.choice("schedule", name.strip(), SCHEDULES)
    kwargs = {}
    for item in filter(str.strip, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key or not value.strip():
            raise ValueError(f"bad schedule option {item.strip()!r} in {spec!r}; use key=value")
        if key in kwargs:
            raise ValueError(f"schedule option {key!r} given twice in {spec!r}")
        kwargs[key] = _parse_value(value)
    return name, kwargs


def _build(name, kwargs, optimizer, horizon):
    cls = SCHEDULES[name]
    allowed = [p for p in inspect.signature(cls).parameters if p != "optimizer"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise _checks.unknown_names("option", unknown, allowed, f" for schedule {name!r}")
    key = _HORIZON.get(cls)
    if key and key not in kwargs and not (cls is OneCycleLR and "epochs" in kwargs):
        if horizon is None:
            raise ValueError(f"schedule {name!r} needs {key} (or a horizon)")
        kwargs[key] = horizon
    required = [p.name for p in inspect.signature(cls).parameters.values()
                if p.default is inspect.Parameter.empty and p.name != "optimizer"]
    missing = [p for p in required if p not in kwargs]
    if missing:
        raise ValueError(f"schedule {name!r} needs the option(s) {', '.join(missing)}, e.g. "
                         f"{name}:{missing[0]}=...")
    try:
        return cls(optimizer, **kwargs)
    except TypeError as exc:  # a value of the wrong kind, written in the spec's text
        raise ValueError(f"schedule {name!r}: {exc}") from None


def make_schedule(spec, optimizer, *, horizon=None):
    """Build a schedule from ``"NAME[:key=value,...]"`` (the CLI's ``--schedule``).

    ``NAME`` is a key of :data:`SCHEDULES`; keys are the class's (torch's) argument names.
    Values are parsed as int, then float, then ``true``/``false``, else kept as text; a
    list is written with ``;`` (``multistep:milestones=10;20,gamma=0.5``). When the spec
    omits a schedule's length (``T_max``, ``total_iters``, ``total_steps``) it is
    ``horizon`` (the CLI passes the number of epochs).

    ``warmup`` takes ``warmup_steps``, ``start_factor`` and ``then=NAME``; every other key
    goes to the ``then`` schedule, whose length defaults to ``horizon - warmup_steps``:
    ``warmup:warmup_steps=5,then=cosine,eta_min=0.001``.

    Examples: ``constant``, ``step:step_size=10,gamma=0.5``, ``exponential:gamma=0.95``,
    ``cosine:T_max=50``, ``cosine_restarts:T_0=10,T_mult=2``, ``onecycle:max_lr=0.1``,
    ``plateau:factor=0.5,patience=3``, ``invscaling:power_t=0.25``.

    Unknown names, unknown keys and bad values raise ``ValueError`` naming them.
    """
    name, kwargs = _parse_spec(spec)
    if horizon is not None:
        horizon = _checks.integer("horizon", horizon)
    if name != "warmup":
        return _build(name, kwargs, optimizer, horizon)
    own = {k: kwargs.pop(k) for k in ("warmup_steps", "start_factor", "then") if k in kwargs}
    if "warmup_steps" not in own:
        raise ValueError("schedule 'warmup' needs the option(s) warmup_steps, e.g. "
                         "warmup:warmup_steps=5")
    warm = _checks.integer("warmup_steps", own["warmup_steps"])
    then_name = own.pop("then", None)
    then = None
    if then_name is not None:
        if not isinstance(then_name, str) or then_name not in SCHEDULES or then_name in (
                "warmup", "plateau"):
            raise ValueError(f"then must name a schedule other than warmup/plateau, "
                             f"got {then_name!r}")
        rest = None if horizon is None else max(1, horizon - warm)
        then = _build(then_name, kwargs, optimizer, rest)
    elif kwargs:
        raise _checks.unknown_names(
            "option", sorted(kwargs), ["warmup_steps", "start_factor", "then"],
            " for schedule 'warmup' (options for the next schedule need then=NAME)")
    try:
        return LinearWarmup(optimizer, then=then, **own)
    except TypeError as exc:
        raise ValueError(f"schedule 'warmup': {exc}") from None
