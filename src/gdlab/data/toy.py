"""Generated data: 2-D classification sets and a 1-D regression curve, drawn from a seed.

These datasets are *generated*: a size, a noise level and a seed make a fresh sample. Their
names are in the one table of dataset names, :data:`gdlab.data.DATASETS` (so that
``gdlab train --dataset spirals --n-samples 400 --noise 0.1`` and
:func:`gdlab.data.load_dataset` know them); this module holds how each is drawn
(:data:`GENERATORS`). Every generator draws from ``numpy.random.default_rng(seed)`` only, so
the same arguments give the same points, bit for bit, on every machine. The points lie in
about ``[-1, 1]`` on each axis before noise (``ravine`` stretches its first axis ten times);
``noise`` is the standard deviation of the Gaussian noise added to each coordinate (to the
target, for ``curve``). Class labels are 0 and 1, half of the points each.

:func:`draw` gives the points in the order drawn; :func:`make_toy` shuffles them and holds out
a validation share (the playground's data, :class:`ToyData`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdlab import _checks


def _labels(n):
    """0 for the first half (rounded down), 1 for the rest."""
    return (np.arange(n) >= n // 2).astype(np.int64)


def _circles(rng, n):
    y = _labels(n)
    radius = np.where(y == 0, rng.uniform(0.0, 0.45, n), rng.uniform(0.65, 1.0, n))
    angle = rng.uniform(0.0, 2 * np.pi, n)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]), y


def _moons(rng, n):
    y = _labels(n)
    t = rng.uniform(0.0, np.pi, n)
    x = np.where(y == 0, np.cos(t), 1.0 - np.cos(t))
    z = np.where(y == 0, np.sin(t), 0.5 - np.sin(t))
    # scikit-learn's make_moons shape, centred and scaled into [-1, 1]
    return np.column_stack([(x - 0.5) / 1.5, (z - 0.25) / 0.75 * 0.6]), y


def _xor(rng, n):
    y = _labels(n)
    # |coordinates| in [0.05, 1]: a small gap around the axes keeps every label right before
    # noise; class 1 in the quadrants where the signs agree, class 0 where they differ
    size = rng.uniform(0.05, 1.0, (n, 2))
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return np.column_stack([sign * size[:, 0], np.where(y == 1, sign, -sign) * size[:, 1]]), y


def _blobs(rng, n):
    y = _labels(n)
    centre = np.where(y[:, None] == 0, -0.45, 0.45)
    return centre + rng.normal(0.0, 0.22, (n, 2)), y


TURNS = 1.25


def _spirals(rng, n):
    y = _labels(n)
    i = np.concatenate([np.arange(n // 2), np.arange(n - n // 2)])
    size = np.where(y == 0, n // 2, n - n // 2)
    # evenly spaced along each arm (the square root spreads the points over its length)
    frac = np.sqrt((i + 0.5) / size)
    r = 0.1 + 0.9 * frac
    angle = TURNS * 2 * np.pi * frac + np.pi * y
    return np.column_stack([r * np.sin(angle), r * np.cos(angle)]), y


def _curve(rng, n):
    x = rng.uniform(-1.0, 1.0, n)
    return x[:, None], np.sin(np.pi * x) * 0.8 + 0.2 * x


#: how much wider ``ravine`` spreads its first coordinate than its second
RAVINE_STRETCH = 10.0


def _ravine(rng, n):
    y = _labels(n)
    # either side of the slanted line v = u / 2 (a gap of 0.05 keeps every label right before
    # noise), then u stretched: the loss curves RAVINE_STRETCH**2 times more steeply along the
    # first input's weights than along the second's, a long, narrow valley
    u = rng.uniform(-1.0, 1.0, n)
    v = 0.5 * u + np.where(y == 1, 1.0, -1.0) * rng.uniform(0.05, 1.0, n)
    return np.column_stack([RAVINE_STRETCH * u, v]), y


#: name -> (task, description, generator(rng, n) -> (X, y) without noise); the table of every
#: dataset name, :data:`gdlab.data.DATASETS`, takes these names from here
GENERATORS = {
    "circles": ("classification", "a disc inside a ring", _circles),
    "moons": ("classification", "two interleaved half-moons", _moons),
    "xor": ("classification", "the four quadrants, opposite ones alike", _xor),
    "spirals": ("classification", "two interleaved spirals, 1.5 turns each", _spirals),
    "blobs": ("classification", "two Gaussian clusters", _blobs),
    "ravine": ("classification", "two classes either side of a slanted line, the first "
               "coordinate spread 10 times wider: a long, narrow valley in the loss", _ravine),
    "curve": ("regression", "a 1-D curve, y = 0.8 sin(pi x) + 0.2 x", _curve),
}

#: the sample size and noise of a generated dataset when none is given
DEFAULT_N_SAMPLES, DEFAULT_NOISE = 400, 0.1

#: the fewest points a generator draws
MIN_SAMPLES = 4


def draw(name, n_samples=DEFAULT_N_SAMPLES, noise=DEFAULT_NOISE, *, rng):
    """``n_samples`` points of the generated dataset ``name`` (a key of :data:`GENERATORS`)
    in the order drawn, with Gaussian noise of standard deviation ``noise``, from the
    ``numpy.random.Generator`` ``rng``: ``(X, y)``, float64 ``X`` (samples, features) and a
    1-D ``y`` (int64 labels 0 and 1, or float64 targets)."""
    name = _checks.choice("dataset", name, GENERATORS)
    n = _checks.integer("n_samples", n_samples, low=MIN_SAMPLES)
    noise = _checks.non_negative("noise", noise)
    task, _, generator = GENERATORS[name]
    X, y = generator(rng, n)
    if task == "classification":
        X = X + rng.normal(0.0, noise, X.shape) if noise else X
        return X, y.astype(np.int64)
    return X, (y + rng.normal(0.0, noise, y.shape) if noise else y)


@dataclass(eq=False)
class ToyData:
    """A drawn toy data set: training and validation parts (float64 ``X``; int64 labels or
    float64 targets as a column), the task, and the box the points lie in."""

    name: str
    task: str
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def validation_data(self):
        """``(X_val, y_val)`` for :meth:`gdlab.Trainer.fit`, or None when there is none."""
        return (self.X_val, self.y_val) if len(self.X_val) else None

    def extent(self, margin=0.1) -> list[float]:
        """``[x_min, x_max, y_min, y_max]`` around every point (training and validation) with a
        margin of ``margin`` times the range: the box the page draws. For ``curve`` the second
        axis is the target."""
        X = np.concatenate([self.X, self.X_val])
        y = np.concatenate([self.y, self.y_val]).reshape(len(X), -1)
        pts = X if self.n_features == 2 else np.column_stack([X[:, 0], y[:, 0]])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = (hi - lo) * margin + 1e-9
        return [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]),
                float(hi[1] + pad[1])]


def make_toy(name, n_samples=DEFAULT_N_SAMPLES, noise=DEFAULT_NOISE, *, val_size=0.2,
             seed=0) -> ToyData:
    """Draw ``n_samples`` points of the generated dataset ``name`` (:func:`draw`), shuffle
    them and hold out ``val_size`` of them (rounded) for validation.

    The points, the noise and the shuffle all come from ``numpy.random.default_rng(seed)``.
    """
    name = _checks.choice("dataset", name, GENERATORS)
    val_size = _checks.real("val_size", val_size, low=0.0, high=0.5)
    seed = _checks.integer("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    X, y = draw(name, n_samples, noise, rng=rng)
    task, n = GENERATORS[name][0], len(X)
    if task == "regression":
        y = y.reshape(-1, 1)
    order = rng.permutation(n)
    n_val = int(round(n * val_size))
    train, val = order[:n - n_val], order[n - n_val:]
    return ToyData(name, task, X[train], y[train], X[val], y[val])
