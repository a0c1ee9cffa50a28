"""Layers: each writes its forward pass and its backward pass side by side.

A layer's ``forward(X, training)`` caches what its ``backward`` needs; ``backward(grad,
need_input_grad)`` returns the gradient with respect to its input and writes the gradients
of its parameters into the views it was bound to. It never recomputes the forward pass.

Parameters do not live in the layers: :class:`gdlab.Sequential` owns one flat parameter
buffer and one flat gradient buffer and hands each layer views into them (``bind``).

Work arrays: in training mode a layer writes its output (and in backward its input gradient)
into arrays it owns and reuses at the next step of the same batch size, so a training step
allocates nothing but time goes to the matrix products. Such an output is valid until the
layer's next training-mode forward; evaluation mode (``training=False``, what ``predict``
uses) always returns fresh arrays.
"""

from __future__ import annotations

import numpy as np

from gdlab import _checks
from gdlab.nn.init import get_initializer


class Layer:
    """Base class. A layer without parameters only needs ``forward`` and ``backward``."""

    #: set by Sequential for layers that draw random numbers (Dropout)
    stochastic = False
    #: names of the parameters that the L2 penalty applies to (weight matrices, not biases)
    penalized: tuple = ()

    def param_specs(self, dtype) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each parameter array, in the public order (weight then bias)."""
        return []

    def bind(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Receive views into the network's flat parameter and gradient buffers."""

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Fill the bound parameter views with initial values drawn from ``rng``."""

    def buffers(self) -> dict[str, np.ndarray]:
        """State that is not trained by gradients (e.g. BatchNorm running statistics)."""
        return {}

    def build(self, dtype) -> None:
        """Called once by Sequential with the network's dtype, before ``bind``."""

    def output_size(self, in_features: int | None) -> int | None:
        """Number of output features given the number of input features (None if unknown)."""
        return in_features

    def forward(self, X: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def _work(self, name: str, n: int, cols: int, dtype) -> np.ndarray:
        """An ``(n, cols)`` work array owned by the layer, kept and reused between steps
        (under the attribute ``"_work_" + name``).

        It holds as many rows as the largest batch seen and returns a view of its first ``n``
        rows (contiguous), so the short last batch of an epoch allocates nothing either.
        """
        key = "_work_" + name
        buf = self.__dict__.get(key)
        if buf is None or buf.shape[0] < n or buf.shape[1] != cols or buf.dtype != dtype:
            buf = np.empty((n, cols), dtype=dtype)
            setattr(self, key, buf)
        return buf[:n]

    def __getstate__(self):
        # work arrays are scratch: copies and pickles leave them behind
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_work_")}

    def __repr__(self):
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Fully connected layer: ``Y = X W + b``.

    ``W`` has shape ``(in_features, out_features)`` (as scikit-learn's ``coefs_``; PyTorch's
    ``Linear.weight`` is its transpose) and ``b`` shape ``(out_features,)``.

    Backward, for ``G = dL/dY``: ``dL/dW = X^T G``, ``dL/db = sum_rows G``, ``dL/dX = G W^T``.
    """

    penalized = ("W",)

    def __init__(self, in_features: int, out_features: int, init="xavier_uniform", bias=True):
        self.in_features = _checks.positive_int("in_features", in_features)
        self.out_features = _checks.positive_int("out_features", out_features)
        self.init = get_initializer(init)
        self.bias = bool(bias)
        self.W = self.b = self.dW = self.db = None
        self._X = None

    def param_specs(self, dtype):
        specs = [("W", (self.in_features, self.out_features))]
        if self.bias:
            specs.append(("b", (self.out_features,)))
        return specs

    def bind(self, params, grads):
        self.W, self.dW = params[0], grads[0]
        if self.bias:
            self.b, self.db = params[1], grads[1]

    def reset_parameters(self, rng):
        self.W[...] = self.init(rng, self.in_features, self.out_features, self.W.dtype)
        if self.bias:
            self.b[...] = 0

    def output_size(self, in_features):
        return self.out_features

    def forward(self, X, training=True, add_bias=True):
        """``X W + b``; ``add_bias=False`` leaves ``b`` out (:mod:`gdlab.nn.fused` adds it with
        the ReLU)."""
        self._X = X
        out = self._work("Y", X.shape[0], self.out_features, X.dtype) if training else None
        Y = _matmul(X, self.W, out)
        if self.bias and add_bias:
            Y += self.b
        return Y

    def backward(self, grad, need_input_grad=True, bias_grad=True):
        """``bias_grad=False``: ``db`` is already written (gdlab.nn.fused sums it with the ReLU)."""
        _matmul(self._X.T, grad, self.dW)
        if self.bias and bias_grad:
            n = grad.shape[0]
            if n == 1:
                np.copyto(self.db, grad[0])
            else:
                # the column sums as a matrix-vector product: BLAS beats NumPy's reduction
                ones = self.__dict__.get("_work_ones")
                if ones is None or ones.shape[0] != n or ones.dtype != grad.dtype:
                    ones = self._work_ones = np.ones(n, dtype=grad.dtype)
                np.matmul(ones, grad, out=self.db)
        if need_input_grad:
            dX = self._work("dX", grad.shape[0], self.in_features, grad.dtype)
            return _matmul(grad, self.W.T, dX)
        return None

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, init={self.init!r})"


def _matmul(a, b, out=None):
    """``a @ b`` (into ``out``). An inner dimension of 1 makes it an outer product (a batch of
    one sample, a single output or input feature), for which NumPy's matmul falls back to a
    slow loop; broadcasting gives the same numbers (one product each), and for large outer
    products einsum is twice as fast again (its zeros are all +0.0, the only difference)."""
    if a.shape[1] == 1:
        if a.shape[0] * b.shape[1] >= 4096:
            return np.einsum("i,j->ij", a[:, 0], b[0], out=out)
        return np.multiply(a, b, out=out)
    return np.matmul(a, b, out=out)


class Activation(Layer):
    """An elementwise (or row-wise) function without parameters."""

    name = "activation"


class Identity(Activation):
    """``f(x) = x``."""

    name = "identity"

    def forward(self, X, training=True):
        return X

    def backward(self, grad, need_input_grad=True):
        return grad


class Sigmoid(Activation):
    """``f(x) = 1 / (1 + exp(-x))``; ``f'(x) = f(x) (1 - f(x))``."""

    name = "sigmoid"

    def forward(self, X, training=True):
        # exp of -|x| never overflows; the two branches give full relative precision
        e = np.exp(-np.abs(X))
        self._out = np.where(X >= 0, 1.0, e) / (1.0 + e)
        return self._out

    def backward(self, grad, need_input_grad=True):
        s = self._out
        return grad * s * (1.0 - s)


class Tanh(Activation):
    """``f(x) = tanh(x)``; ``f'(x) = 1 - f(x)^2``."""

    name = "tanh"

    def forward(self, X, training=True):
        self._out = np.tanh(X)
        return self._out

    def backward(self, grad, need_input_grad=True):
        return grad * (1.0 - self._out * self._out)


class ReLU(Activation):
    """``f(x) = max(x, 0)``; ``f'(x) = 1 if x > 0 else 0`` (0 at 0, as PyTorch)."""

    name = "relu"

    def forward(self, X, training=True):
        out = self._work("out", X.shape[0], X.shape[1], X.dtype) if training else None
        self._out = np.maximum(X, 0, out=out)
        return self._out

    def backward(self, grad, need_input_grad=True):
        out = self._out
        dX = self._work("dX", out.shape[0], out.shape[1], grad.dtype)
        # the derivative as 1.0/0.0 in the gradient's dtype, then a plain float product: faster
        # than multiplying by a boolean array, which NumPy casts chunk by chunk
        np.greater(out, 0, out=dX)
        return np.multiply(grad, dX, out=dX)


class LeakyReLU(Activation):
    """``f(x) = x if x > 0 else negative_slope * x`` (PyTorch's default slope 0.01)."""

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = _checks.non_negative("negative_slope", negative_slope)

    def forward(self, X, training=True):
        self._pos = X > 0
        return np.where(self._pos, X, X * self.negative_slope)

    def backward(self, grad, need_input_grad=True):
        return np.where(self._pos, grad, grad * self.negative_slope)

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class ELU(Activation):
    """``f(x) = x if x > 0 else alpha (exp(x) - 1)``; ``f'(x) = 1 if x > 0 else f(x) + alpha``."""

    name = "elu"

    def __init__(self, alpha: float = 1.0):
        self.alpha = _checks.non_negative("alpha", alpha)

    def forward(self, X, training=True):
        self._pos = X > 0
        self._out = np.where(self._pos, X, self.alpha * np.expm1(np.minimum(X, 0)))
        return self._out

    def backward(self, grad, need_input_grad=True):
        return np.where(self._pos, grad, grad * (self._out + self.alpha))

    def __repr__(self):
        return f"ELU(alpha={self.alpha})"


class Softmax(Activation):
    """Row-wise ``s_i = exp(x_i) / sum_j exp(x_j)``, for outputs.

    Backward: ``dL/dx = s * (g - sum_j g_j s_j)``. To train a classifier, prefer
    ``CrossEntropyLoss`` on the logits: it fuses the two and is numerically stable.
    """

    name = "softmax"

    def forward(self, X, training=True):
        z = X - X.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        self._out = z
        return z

    def backward(self, grad, need_input_grad=True):
        s = self._out
        return s * (grad - np.sum(grad * s, axis=1, keepdims=True))


ACTIVATIONS = {
    "identity": Identity,
    "linear": Identity,
    "sigmoid": Sigmoid,
    "logistic": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softmax": Softmax,
}


def get_activation(name) -> Activation:
    """A fresh activation layer for ``name`` (scikit-learn's names are accepted too)."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name, got {type(name).__name__}")
    return ACTIVATIONS[_checks.choice("activation", name, ACTIVATIONS)]()
