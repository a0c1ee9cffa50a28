"""Gradient descent on a plain function: :func:`minimize` runs any optimizer of
:data:`gdlab.optim.OPTIMIZERS` on ``f`` and records the path, the values and the gradient
norms, for plots and for comparing optimizers (``gdlab landscape``, the tour)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdlab import _checks
from gdlab.optim.registry import optimizer_entry

__all__ = ["MinimizeResult", "minimize"]


@dataclass
class MinimizeResult:
    """What :func:`minimize` returns.

    ``path`` has shape ``(n_iter + 1, d)`` (the start, then each step's point), ``values`` and
    ``grad_norms`` the matching ``f`` and :math:`\\|\\nabla f\\|`; ``x``/``fun`` are the last
    point and value. ``stopped_because`` is ``"tol"`` (gradient norm <= tol), ``"max_iter"``,
    ``"diverged"`` or ``"non_finite"``; ``success`` is True only for ``"tol"``.
    """

    x: np.ndarray
    fun: float
    path: np.ndarray
    values: np.ndarray
    grad_norms: np.ndarray
    n_iter: int
    stopped_because: str
    success: bool

    @property
    def message(self):
        return {"tol": "gradient norm below tol", "max_iter": "max_iter steps taken",
                "diverged": "the value ran away (see minimize's divergence rule)",
                "non_finite": "a value, point or gradient became inf or NaN"}[self.stopped_because]


def _resolve_optimizer(optimizer):
    if isinstance(optimizer, str):
        return optimizer_entry(optimizer)
    if callable(optimizer):
        return optimizer
    raise ValueError(f"optimizer must be a name from OPTIMIZERS or an optimizer class, "
                     f"got {optimizer!r}")


def minimize(f, grad, x0, optimizer="sgd", lr=0.01, max_iter=1000, tol=1e-6, maximize=False,
             divergence_factor=100.0, **optimizer_kwargs):
    r"""Minimise (or, with ``maximize=True``, maximise) ``f`` by a gradient-descent optimizer.

    ``f(x)`` returns a number, ``grad(x)`` an array of ``x``'s shape (``grad=None`` uses
    ``f.grad``, so a :data:`FUNCTIONS` object can be passed alone). ``optimizer`` is a name
    from ``gdlab.optim.OPTIMIZERS`` or an optimizer class; it is built as
    ``optimizer([x], lr=lr, maximize=maximize, **optimizer_kwargs)`` on a float64 copy of
    ``x0``. Each step: ``opt.step([grad(x)])``, then ``x`` and ``f(x)`` are recorded.

    Stops at the first of: the gradient norm is ``<= tol`` (``"tol"``, checked at the start
    too); a point, value or gradient is inf/NaN (``"non_finite"``; that point is *not*
    recorded, so ``path`` holds finite numbers only); divergence (``"diverged"``);
    ``max_iter`` steps (``"max_iter"``).

    Divergence rule: with the loss :math:`L = f` (:math:`L = -f` when maximising),
    step :math:`k` diverged when :math:`L_k - L_0 > \text{divergence\_factor}\cdot\max(|L_0|, 1)`,
    i.e. the value got worse than the start by ``divergence_factor`` times the start's own
    size (times 1 when :math:`f(x_0)` is near 0); ``divergence_factor=inf`` switches the
    rule off. Divergence is *reported*, never raised, and no NumPy floating-point warning
    escapes.

    Bad arguments (``x0`` not a finite 1-D array, ``lr <= 0``, unknown optimizer name,
    ``max_iter < 1``, ``tol < 0``, ``divergence_factor <= 0``) raise ``ValueError``.
    """
    grad, x = _check_problem(f, grad, x0)
    lr = _checks.positive("lr", lr)
    max_iter = _checks.positive_int("max_iter", max_iter)
    tol = _checks.non_negative("tol", tol)
    divergence_factor = _checks.real("divergence_factor", divergence_factor, low=0.0,
                                     low_open=True, finite=False)
    opt = _resolve_optimizer(optimizer)([x], lr=lr, maximize=bool(maximize), **optimizer_kwargs)
    # overflow is an expected outcome here (too large a step): detect it, don't warn about it
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        path, values, norms, reason = _descend(f, grad, x, opt, max_iter, tol,
                                               -1.0 if maximize else 1.0, divergence_factor)
    path = np.array(path)
    return MinimizeResult(x=path[-1].copy(), fun=values[-1], path=path, values=np.array(values),
                          grad_norms=np.array(norms), n_iter=len(path) - 1,
                          stopped_because=reason, success=reason == "tol")


def _check_problem(f, grad, x0):
    """``(grad, x)``: the gradient function and a float64 copy of ``x0``, or a clear error."""
    if grad is None:
        grad = getattr(f, "grad", None)
    if not callable(f) or not callable(grad):
        raise TypeError("f and grad must be callables (grad=None needs an f with a .grad)")
    try:
        x = np.array(x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"x0 must be a 1-D array of numbers, got {x0!r}") from None
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be a non-empty 1-D array of finite numbers, got {x0!r}")
    return grad, x


def _descend(f, grad, x, opt, max_iter, tol, sign, divergence_factor):
    """The steps of :func:`minimize` on ``x`` in place; (path, values, norms, reason)."""

    def evaluate(point):
        value = float(f(point))
        g = np.asarray(grad(point), dtype=np.float64)
        if g.shape != point.shape:
            raise ValueError(f"grad(x) must have shape {point.shape}, got {g.shape}")
        return value, g, float(np.sqrt(np.dot(g, g)))

    value, g, gnorm = evaluate(x)
    path, values, norms = [x.copy()], [value], [gnorm]
    loss0 = sign * value
    limit = loss0 + divergence_factor * max(abs(loss0), 1.0)
    if not (math.isfinite(value) and math.isfinite(gnorm)):
        return path, values, norms, "non_finite"
    if gnorm <= tol:
        return path, values, norms, "tol"
    for _ in range(max_iter):
        opt.step([g])
        if not np.all(np.isfinite(x)):
            return path, values, norms, "non_finite"
        value, g, gnorm = evaluate(x)
        if not (math.isfinite(value) and math.isfinite(gnorm)):
            return path, values, norms, "non_finite"
        path.append(x.copy())
        values.append(value)
        norms.append(gnorm)
        if sign * value > limit:
            return path, values, norms, "diverged"
        if gnorm <= tol:
            return path, values, norms, "tol"
    return path, values, norms, "max_iter"
