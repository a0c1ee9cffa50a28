"""Weight initialisers.

An initialiser is a callable ``init(rng, fan_in, fan_out, dtype) -> array`` of shape
``(fan_in, fan_out)``, drawing from the ``numpy.random.Generator`` it is given, so that the
same seed gives the same weights, bit for bit. Biases start at zero (the classic recipe).

Names accepted wherever an ``init`` is asked for: see :data:`INITIALIZERS`.
"""

from __future__ import annotations

import math

import numpy as np

from gdlab import _checks

# gains as torch.nn.init.calculate_gain gives them
_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1 + 0.01**2)),
    "elu": 1.0,
    "selu": 0.75,
}


def gain(nonlinearity: str) -> float:
    """The recommended gain for ``nonlinearity`` (PyTorch's ``calculate_gain`` values)."""
    return _GAINS[_checks.choice("nonlinearity", nonlinearity, _GAINS, normalize=None)]


class Initializer:
    """Base class: subclasses give ``scale(fan_in, fan_out)`` (a bound or a standard deviation)
    and ``uniform``."""

    uniform = True

    def scale(self, fan_in: int, fan_out: int) -> float:
        raise NotImplementedError

    def __call__(self, rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> np.ndarray:
        s = self.scale(fan_in, fan_out)
        shape = (fan_in, fan_out)
        if self.uniform:
            w = rng.uniform(-s, s, size=shape)
        else:
            w = rng.normal(0.0, s, size=shape)
        return w.astype(dtype, copy=False)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Normal(Initializer):
    """W ~ N(mean, std^2)."""

    def __init__(self, std: float = 0.01, mean: float = 0.0):
        self.std, self.mean = _checks.positive("std", std), _checks.real("mean", mean)

    def __call__(self, rng, fan_in, fan_out, dtype):
        return rng.normal(self.mean, self.std, size=(fan_in, fan_out)).astype(dtype, copy=False)


class Uniform(Initializer):
    """W ~ U(low, high)."""

    def __init__(self, low: float = -0.05, high: float = 0.05):
        if not high > low:
            raise ValueError(f"high must be > low, got low={low!r}, high={high!r}")
        self.low, self.high = float(low), float(high)

    def __call__(self, rng, fan_in, fan_out, dtype):
        return rng.uniform(self.low, self.high, size=(fan_in, fan_out)).astype(dtype, copy=False)


class XavierUniform(Initializer):
    """Glorot & Bengio (2010): W ~ U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def scale(self, fan_in, fan_out):
        return self.gain * math.sqrt(6.0 / (fan_in + fan_out))


class XavierNormal(XavierUniform):
    """Glorot & Bengio (2010): W ~ N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))."""

    uniform = False

    def scale(self, fan_in, fan_out):
        return self.gain * math.sqrt(2.0 / (fan_in + fan_out))


class KaimingUniform(Initializer):
    """He et al. (2015), fan-in mode: W ~ U(-b, b), b = gain * sqrt(3 / fan_in)."""

    def __init__(self, nonlinearity: str = "relu"):
        self.nonlinearity = nonlinearity
        gain(nonlinearity)  # validate early

    def scale(self, fan_in, fan_out):
        return gain(self.nonlinearity) * math.sqrt(3.0 / fan_in)


class KaimingNormal(KaimingUniform):
    """He et al. (2015), fan-in mode: W ~ N(0, s^2), s = gain / sqrt(fan_in)."""

    uniform = False

    def scale(self, fan_in, fan_out):
        return gain(self.nonlinearity) / math.sqrt(fan_in)


class LeCunUniform(Initializer):
    """LeCun et al. (1998): W ~ U(-b, b), b = sqrt(3 / fan_in) (unit variance for linear units)."""

    def scale(self, fan_in, fan_out):
        return math.sqrt(3.0 / fan_in)


class LeCunNormal(LeCunUniform):
    """LeCun et al. (1998): W ~ N(0, 1 / fan_in)."""

    uniform = False

    def scale(self, fan_in, fan_out):
        return 1.0 / math.sqrt(fan_in)


class TorchDefault(Initializer):
    """PyTorch's ``nn.Linear`` default: W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    def scale(self, fan_in, fan_out):
        return 1.0 / math.sqrt(fan_in)


class Zeros(Initializer):
    """All zeros: every unit of a layer stays identical (shows why weights must start random)."""

    def __call__(self, rng, fan_in, fan_out, dtype):
        return np.zeros((fan_in, fan_out), dtype=dtype)


INITIALIZERS = {
    "normal": Normal,
    "uniform": Uniform,
    "xavier_uniform": XavierUniform,
    "xavier_normal": XavierNormal,
    "glorot_uniform": XavierUniform,
    "glorot_normal": XavierNormal,
    "kaiming_uniform": KaimingUniform,
    "kaiming_normal": KaimingNormal,
    "he_uniform": KaimingUniform,
    "he_normal": KaimingNormal,
    "lecun_uniform": LeCunUniform,
    "lecun_normal": LeCunNormal,
    "torch": TorchDefault,
    "zeros": Zeros,
}


def get_initializer(init) -> Initializer:
    """Turn a name or a callable into an initialiser; raise ValueError for unknown names."""
    if isinstance(init, str):
        return INITIALIZERS[_checks.choice("init", init, INITIALIZERS)]()
    if callable(init):
        return init
    raise TypeError(f"init must be a name or a callable, got {type(init).__name__}")
