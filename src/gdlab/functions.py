"""Classic 2-D test functions and :func:`minimize`, gradient descent on a plain function.

Each function object has ``f(x)`` and ``grad(x)`` for a point ``x`` of shape ``(2,)`` or a
batch of shape ``(..., 2)`` (a contour grid), the known global optimisers ``minima`` and the
optimal value ``minimum``, a plotting box ``bounds`` and a suggested ``start``. The concave
function is meant to be *maximised* (``maximize`` is True): there ``minima``/``minimum`` hold
its maximiser and maximum, the optimum in the function's own direction.

``minimize(f, grad, x0, optimizer="adam", lr=0.01)`` runs any optimizer of
:data:`gdlab.optim.OPTIMIZERS` on such a function and records the path, the values and the
gradient norms, for plots and for comparing optimizers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Function2D", "Quadratic", "Rosenbrock", "Beale", "Himmelblau", "Saddle", "Rastrigin",
    "Concave", "FUNCTIONS", "MinimizeResult", "minimize",
]


class Function2D:
    """A function of two variables with its gradient; subclasses define ``_f`` and ``_grad``."""

    name = "function"
    maximize = False

    def __init__(self, minima, minimum, bounds, start):
        self.minima = [np.asarray(m, dtype=np.float64) for m in minima]
        self.minimum = float(minimum)
        self.bounds = tuple(tuple(float(v) for v in b) for b in bounds)
        self.start = np.asarray(start, dtype=np.float64)

    @staticmethod
    def _split(x):
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[-1] != 2:
            raise ValueError(f"x must have shape (2,) or (..., 2), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        return x, x[..., 0], x[..., 1]

    def f(self, x):
        """Value at ``x``: a float for one point, an array of shape ``x.shape[:-1]`` for a batch."""
        x, a, b = self._split(x)
        value = self._f(a, b)
        return float(value) if x.ndim == 1 else value

    __call__ = f

    def grad(self, x):
        """Gradient at ``x``, the same shape and dtype as ``x``."""
        x, a, b = self._split(x)
        ga, gb = self._grad(a, b)
        return np.stack([np.broadcast_to(ga, a.shape), np.broadcast_to(gb, b.shape)],
                        axis=-1).astype(x.dtype, copy=False)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Quadratic(Function2D):
    r"""Ill-conditioned bowl :math:`f = \tfrac12 (x^2 + \kappa y^2)`, condition number
    :math:`\kappa` = ``cond``; minimum 0 at the origin. Plain GD is stable for
    :math:`\gamma < 2/\kappa` and needs about :math:`\kappa` steps per decade."""

    name = "quadratic"

    def __init__(self, cond=50.0):
        if isinstance(cond, bool) or not isinstance(cond, (int, float)) or not (
                math.isfinite(cond) and cond >= 1):
            raise ValueError(f"cond must be a finite number >= 1, got {cond!r}")
        self.cond = float(cond)
        super().__init__([(0.0, 0.0)], 0.0, ((-10, 10), (-4, 4)), (-9.0, 3.0))

    def _f(self, x, y):
        return 0.5 * (x * x + self.cond * y * y)

    def _grad(self, x, y):
        return x, self.cond * y


class Rosenbrock(Function2D):
    r"""Rosenbrock's banana :math:`f = (a - x)^2 + b (y - x^2)^2`; minimum 0 at :math:`(a, a^2)`."""

    name = "rosenbrock"

    def __init__(self, a=1.0, b=100.0):
        self.a, self.b = float(a), float(b)
        super().__init__([(self.a, self.a ** 2)], 0.0, ((-2, 2), (-1, 3)), (-1.2, 1.0))

    def _f(self, x, y):
        return (self.a - x) ** 2 + self.b * (y - x * x) ** 2

    def _grad(self, x, y):
        r = y - x * x
        return -2.0 * (self.a - x) - 4.0 * self.b * x * r, 2.0 * self.b * r


class Beale(Function2D):
    r"""Beale's function :math:`f = \sum_{i=1}^3 (c_i - x + x y^i)^2`, :math:`c = (1.5, 2.25,
    2.625)`; minimum 0 at :math:`(3, 0.5)`, in a flat valley with steep walls."""

    name = "beale"
    _c = (1.5, 2.25, 2.625)

    def __init__(self):
        super().__init__([(3.0, 0.5)], 0.0, ((-4.5, 4.5), (-4.5, 4.5)), (1.0, 1.5))

    def _f(self, x, y):
        return sum((c - x + x * y ** i) ** 2 for i, c in enumerate(self._c, start=1))

    def _grad(self, x, y):
        gx = gy = 0.0
        for i, c in enumerate(self._c, start=1):
            u = c - x + x * y ** i
            gx = gx + 2.0 * u * (y ** i - 1.0)
            gy = gy + 2.0 * u * x * i * y ** (i - 1)
        return gx, gy


class Himmelblau(Function2D):
    r"""Himmelblau's function :math:`f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2`: four global minima
    of value 0; which one a run reaches depends on the start."""

    name = "himmelblau"

    def __init__(self):
        minima = [(3.0, 2.0), (-2.805118086952745, 3.131312518250573),
                  (-3.779310253377747, -3.283185991286170),
                  (3.584428340330492, -1.848126526964404)]
        super().__init__(minima, 0.0, ((-5, 5), (-5, 5)), (0.0, 0.0))

    def _f(self, x, y):
        return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2

    def _grad(self, x, y):
        u, v = x * x + y - 11.0, x + y * y - 7.0
        return 4.0 * x * u + 2.0 * v, 2.0 * u + 4.0 * y * v


class Saddle(Function2D):
    r"""The saddle :math:`f = x^2 - y^2`: a stationary point at the origin that is no minimum;
    ``f`` is unbounded below (``minima`` is empty, ``minimum`` is :math:`-\infty`). Started
    near the :math:`x` axis, gradient descent stalls by the saddle before escaping along
    :math:`y`."""

    name = "saddle"

    def __init__(self):
        super().__init__([], -math.inf, ((-5, 5), (-5, 5)), (-4.0, 1e-3))

    def _f(self, x, y):
        return x * x - y * y

    def _grad(self, x, y):
        return 2.0 * x, -2.0 * y


class Rastrigin(Function2D):
    r"""Rastrigin's function :math:`f = 2A + \sum_i (x_i^2 - A\cos 2\pi x_i)`: a bowl covered
    with local minima near every integer point; global minimum 0 at the origin."""

    name = "rastrigin"

    def __init__(self, A=10.0):
        self.A = float(A)
        super().__init__([(0.0, 0.0)], 0.0, ((-5.12, 5.12), (-5.12, 5.12)), (2.2, -3.3))

    def _f(self, x, y):
        t = 2.0 * math.pi
        return 2.0 * self.A + x * x - self.A * np.cos(t * x) + y * y - self.A * np.cos(t * y)

    def _grad(self, x, y):
        t = 2.0 * math.pi
        return 2.0 * x + t * self.A * np.sin(t * x), 2.0 * y + t * self.A * np.sin(t * y)


class Concave(Function2D):
    r"""A concave bowl to *maximise*: :math:`f = 3 - \tfrac12 (x - 1)^2 - 2 (y + \tfrac12)^2`,
    maximum 3 at :math:`(1, -\tfrac12)` (held in ``minima``/``minimum``; ``maximize`` is True)."""

    name = "concave"
    maximize = True

    def __init__(self):
        super().__init__([(1.0, -0.5)], 3.0, ((-4, 4), (-4, 4)), (-3.0, 2.5))

    def _f(self, x, y):
        return 3.0 - 0.5 * (x - 1.0) ** 2 - 2.0 * (y + 0.5) ** 2

    def _grad(self, x, y):
        return -(x - 1.0), -4.0 * (y + 0.5)


FUNCTIONS = {
    "quadratic": Quadratic(),
    "rosenbrock": Rosenbrock(),
    "beale": Beale(),
    "himmelblau": Himmelblau(),
    "saddle": Saddle(),
    "rastrigin": Rastrigin(),
    "concave": Concave(),
}


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
    from gdlab import optim

    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in optim.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; known names: "
                             f"{', '.join(optim.OPTIMIZERS)}")
        return optim.OPTIMIZERS[key]
    if callable(optimizer):
        return optimizer
    raise ValueError(f"optimizer must be a name from OPTIMIZERS or an optimizer class, "
                     f"got {optimizer!r}")


def _positive(name, value, allow_inf=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (value > 0 and (allow_inf or math.isfinite(value))):
        raise ValueError(f"{name} must be {'' if allow_inf else 'finite and '}> 0, got {value!r}")
    return float(value)


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
    lr = _positive("lr", lr)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (
            math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    divergence_factor = _positive("divergence_factor", divergence_factor, allow_inf=True)
    opt = _resolve_optimizer(optimizer)([x], lr=lr, maximize=bool(maximize), **optimizer_kwargs)
    sign = -1.0 if maximize else 1.0

    def evaluate(point):
        value = float(f(point))
        g = np.asarray(grad(point), dtype=np.float64)
        if g.shape != point.shape:
            raise ValueError(f"grad(x) must have shape {point.shape}, got {g.shape}")
        return value, g, float(np.sqrt(np.dot(g, g)))

    # overflow is an expected outcome here (too large a step): detect it, don't warn about it
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        value, g, gnorm = evaluate(x)
        path, values, norms = [x.copy()], [value], [gnorm]
        loss0 = sign * value
        limit = loss0 + divergence_factor * max(abs(loss0), 1.0)
        if not (math.isfinite(value) and math.isfinite(gnorm)):
            reason = "non_finite"
        elif gnorm <= tol:
            reason = "tol"
        else:
            reason = "max_iter"
            for _ in range(max_iter):
                opt.step([g])
                if not np.all(np.isfinite(x)):
                    reason = "non_finite"
                    break
                value, g, gnorm = evaluate(x)
                if not (math.isfinite(value) and math.isfinite(gnorm)):
                    reason = "non_finite"
                    break
                path.append(x.copy())
                values.append(value)
                norms.append(gnorm)
                if sign * value > limit:
                    reason = "diverged"
                    break
                if gnorm <= tol:
                    reason = "tol"
                    break
    path = np.array(path)
    return MinimizeResult(x=path[-1].copy(), fun=values[-1], path=path, values=np.array(values),
                          grad_norms=np.array(norms), n_iter=len(path) - 1,
                          stopped_because=reason, success=reason == "tol")
