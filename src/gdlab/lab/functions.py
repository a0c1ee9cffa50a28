r"""Classic 2-D test functions, to watch gradient descent at work on plain functions.

Each function object has ``f(x)`` and ``grad(x)`` for a point ``x`` of shape ``(2,)`` or a
batch of shape ``(..., 2)`` (a contour grid), its global minimisers ``minima`` and minimum
``minimum`` (:math:`-\infty` and no minimisers when it is unbounded below), its global
maximisers ``maxima`` and maximum ``maximum`` (:math:`+\infty` and none when it is unbounded
above; only the concave function has one), a plotting box ``bounds`` and a suggested
``start``. :meth:`Function2D.optimum` gives the optimum in either direction. The concave
function is meant to be *maximised* (``maximize`` is True, the direction its ``start`` is
chosen for); descending it runs away.

:func:`gdlab.lab.minimize.minimize` runs any optimizer of :data:`gdlab.optim.OPTIMIZERS` on
such a function. :data:`FUNCTIONS` is the one table of their names.
"""

from __future__ import annotations

import math

import numpy as np

from gdlab import _checks

__all__ = [
    "Function2D", "Quadratic", "Rosenbrock", "Beale", "Himmelblau", "Saddle", "Rastrigin",
    "Concave", "FUNCTIONS",
]


class Function2D:
    """A function of two variables with its gradient; subclasses define ``_f`` and ``_grad``."""

    name = "function"
    maximize = False

    def __init__(self, minima, minimum, bounds, start, maxima=(), maximum=math.inf):
        self.minima = [np.asarray(m, dtype=np.float64) for m in minima]
        self.minimum = float(minimum)
        self.maxima = [np.asarray(m, dtype=np.float64) for m in maxima]
        self.maximum = float(maximum)
        self.bounds = tuple(tuple(float(v) for v in b) for b in bounds)
        self.start = np.asarray(start, dtype=np.float64)

    def optimum(self, maximize: bool = False) -> tuple[float, list]:
        """``(value, points)`` of the global maximum (``maximize``) or minimum: an infinite
        value and no points when the function is unbounded in that direction."""
        return (self.maximum, self.maxima) if maximize else (self.minimum, self.minima)

    def describe_optimum(self, maximize: bool = False) -> str:
        """The known optimum in words: ``known minimum 0 at (3, 2), ...`` or ``no maximum:
        the function is unbounded above``."""
        goal = "maximum" if maximize else "minimum"
        value, points = self.optimum(maximize)
        if not points:
            return f"no {goal}: the function is unbounded {'above' if maximize else 'below'}"
        return f"known {goal} {value:g} at " + ", ".join(f"({m[0]:g}, {m[1]:g})" for m in points)

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
        self.cond = _checks.real("cond", cond, low=1.0)
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
    maximum 3 at :math:`(1, -\tfrac12)` (``maxima``/``maximum``); unbounded below, so it has no
    minimum. ``maximize`` is True: it is meant to be climbed."""

    name = "concave"
    maximize = True

    def __init__(self):
        super().__init__([], -math.inf, ((-4, 4), (-4, 4)), (-3.0, 2.5),
                         maxima=[(1.0, -0.5)], maximum=3.0)

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
