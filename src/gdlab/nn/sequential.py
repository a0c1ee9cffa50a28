"""Sequential: a stack of layers that owns ONE flat parameter buffer and ONE flat gradient buffer.

Each layer gets views into the two buffers, in the public order ``[W1, b1, W2, b2, ...]``.
The training loop can then hand an optimizer the two flat vectors: every parameter is
updated by a few vectorised operations, a distributed allreduce is one call and a
checkpoint is one array.
"""

from __future__ import annotations

import copy

import numpy as np

from gdlab import _checks
from gdlab import kernels as builds
from gdlab.nn import fused
from gdlab.nn.dropout import Dropout
from gdlab.nn.layers import Dense, Layer, get_activation
from gdlab.nn.normalization import BatchNorm


class Sequential:
    """A feed-forward network: ``forward`` runs the layers in order, ``backward`` in reverse.

    Parameters
    ----------
    layers : list of Layer
    dtype : "float32" (default) or "float64"; kept by every buffer, forward and backward.
    seed : int or None. The same seed gives the same parameters, bit for bit. Weight
        initialisation and the random streams of stochastic layers (Dropout) are drawn from
        independent children of ``numpy.random.SeedSequence(seed)``, so adding a Dropout
        layer does not change the initial weights.
    fast : None (auto), True or False: run each Dense + ReLU pair in training mode as one
        fused compiled pass per direction (:mod:`gdlab.nn.fused`, :mod:`gdlab.kernels`). Auto
        takes it when the kernels are installed and the pair's activations are large
        (full-batch training).
    """

    def __init__(self, layers, dtype="float32", seed=0, fast=None):
        self.fast = builds.check_fast(fast)
        layers = list(layers)
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        seen = {}
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is a {type(layer).__name__}, not a gdlab Layer")
            if id(layer) in seen:
                raise ValueError(f"layer {i} is the same object as layer {seen[id(layer)]} "
                                 f"({layer!r}): a layer holds the parameters and caches of one "
                                 "place in the network; give each place its own instance")
            seen[id(layer)] = i
        self.layers = layers
        self.dtype = _checks.float_dtype(dtype)
        self.seed = seed
        self.training = True
        self._check_sizes()
        for layer in layers:
            layer.build(self.dtype)
        self._allocate()
        init_seq, noise_seq = np.random.SeedSequence(seed).spawn(2)
        self._init_rng = np.random.default_rng(init_seq)
        for layer in layers:
            layer.reset_parameters(self._init_rng)
        stochastic = [layer for layer in layers if layer.stochastic]
        for layer, child in zip(stochastic, noise_seq.spawn(len(stochastic))):
            layer.rng = np.random.default_rng(child)
        self._first_trainable = next(
            (i for i, layer in enumerate(layers) if layer.param_specs(self.dtype)), None
        )

    # ---- construction -------------------------------------------------------------------
    def _check_sizes(self):
        size = None
        for i, layer in enumerate(self.layers):
            expected = getattr(layer, "in_features", None) or getattr(layer, "num_features", None)
            if expected is not None and size is not None and expected != size:
                raise ValueError(
                    f"layer {i} ({layer!r}) expects {expected} input features but the layer "
                    f"before it gives {size}"
                )
            if size is None and expected is not None:
                size = expected
            size = layer.output_size(size)
        self.n_features_in = next(
            (getattr(layer, "in_features", None) or getattr(layer, "num_features", None)
             for layer in self.layers
             if getattr(layer, "in_features", None) or getattr(layer, "num_features", None)),
            None,
        )
        self.n_outputs = size

    def _allocate(self):
        specs = [layer.param_specs(self.dtype) for layer in self.layers]
        total = sum(int(np.prod(shape)) for layer_specs in specs for _, shape in layer_specs)
        self._flat_params = np.zeros(total, dtype=self.dtype)
        self._flat_grads = np.zeros(total, dtype=self.dtype)
        self._bind(specs)

    def _bind(self, specs):
        """Hand each layer its parameters and gradients as views into the two flat buffers."""
        self._params, self._grads, self._names, self._penalized = [], [], [], []
        counters: dict[str, int] = {}
        offset = 0
        for layer, layer_specs in zip(self.layers, specs):
            if not layer_specs:
                continue
            kind = type(layer).__name__
            counters[kind] = counters.get(kind, 0) + 1
            p_views, g_views = [], []
            for name, shape in layer_specs:
                size = int(np.prod(shape))
                p_views.append(self._flat_params[offset:offset + size].reshape(shape))
                g_views.append(self._flat_grads[offset:offset + size].reshape(shape))
                self._names.append(f"{name}{counters[kind]}")
                if name in layer.penalized:
                    self._penalized.append(slice(offset, offset + size))
                offset += size
            layer.bind(p_views, g_views)
            self._params += p_views
            self._grads += g_views

    # ---- the public contract -------------------------------------------------------------
    def parameters(self) -> list[np.ndarray]:
        """The parameter arrays ``[W1, b1, W2, b2, ...]``: views that training updates in place."""
        return list(self._params)

    def gradients(self) -> list[np.ndarray]:
        """The gradient arrays, in the order of ``parameters()``, filled by ``backward``."""
        return list(self._grads)

    def parameter_names(self) -> list[str]:
        """Names such as ``W1, b1, W2, b2`` in the order of ``parameters()``."""
        return list(self._names)

    @property
    def flat_parameters(self) -> np.ndarray:
        """All parameters as one 1-D array (the buffer the views look into, not a copy)."""
        return self._flat_params

    @property
    def flat_gradients(self) -> np.ndarray:
        """All gradients as one 1-D array (the buffer the views look into, not a copy)."""
        return self._flat_grads

    @property
    def n_parameters(self) -> int:
        return self._flat_params.size

    def penalized_slices(self) -> list[slice]:
        """Where the weight matrices lie in the flat buffers (the parameters that layers declare
        ``penalized``, Dense's ``W``): what an L2 penalty applies to, biases and BatchNorm's
        parameters left out."""
        return list(self._penalized)

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trained state (BatchNorm running statistics), keyed ``"<layer index>.<name>"``."""
        return {
            f"{i}.{name}": array
            for i, layer in enumerate(self.layers)
            for name, array in layer.buffers().items()
        }

    def train(self, mode: bool = True) -> Sequential:
        """Training mode: Dropout drops, BatchNorm uses batch statistics and updates its buffers."""
        self.training = bool(mode)
        return self

    def eval(self) -> Sequential:
        """Evaluation mode: Dropout is the identity, BatchNorm uses its running statistics."""
        return self.train(False)

    def forward(self, X, training: bool | None = None) -> np.ndarray:
        """Run the layers on ``X`` of shape ``(n_samples, n_features)``.

        ``training`` defaults to the network's mode (``train()``/``eval()``). ``X`` is converted
        to the network's dtype if needed (a copy); the training loop converts once up front.

        In training mode the layers write into work arrays they own and reuse (no allocation
        per step): the returned array is valid until the next training-mode ``forward`` of this
        network; copy it to keep it longer. In evaluation mode (``predict``) it is a fresh array.
        """
        X = self.check_input(X)
        mode = self.training if training is None else bool(training)
        # the plan that backward must follow, and the shape its grad_out must have (once set)
        self._fused = self._out_shape = None
        fast = self.fast
        if mode and fast is not False and (fast or self._fusion_may_apply(X.shape[0])):
            plan = self._plan = self.__dict__.get("_plan") or fused.FusedPlan()
            kernels = plan.choose(fast, self.layers, X.shape[0], self._flat_params.size)
            if kernels is not None:
                self._fused = plan
                X = plan.forward(self.layers, plan.found, X, kernels)
        if self._fused is None:
            for layer in self.layers:
                X = layer.forward(X, mode)
        self._out_shape = X.shape
        return X

    __call__ = forward

    def __setstate__(self, state):
        # pickle and deepcopy turn the layers' views into separate arrays: make them views of
        # the flat buffers again, or training would update arrays the layers no longer read
        self.__dict__.update(state)
        self._bind([layer.param_specs(self.dtype) for layer in self.layers])

    @property
    def fused_plan(self):
        """The :class:`~gdlab.nn.fused.FusedPlan` of the last forward if it fused Dense + ReLU
        pairs (``plan.used`` once its backward ran), else None."""
        return self.__dict__.get("_fused")

    @property
    def fast(self):
        """None (auto), True or False: the fused compiled passes of :mod:`gdlab.nn.fused`."""
        return self.__dict__.get("_fast")

    @fast.setter
    def fast(self, value):
        self._fast = builds.check_fast(value)

    def _fusion_may_apply(self, n_rows):
        # a quick bound before looking for pairs: the batch-size-1 steps of stochastic
        # gradient descent on a small network cost a few microseconds each. The widest layer
        # is remembered from the first call: layers swapped in later can at worst make auto
        # mode miss a fusion, never fuse a wrong pair (fusable_pairs looks at the layers)
        widest = self.__dict__.get("_widest")
        if widest is None:
            widest = self._widest = max(getattr(layer, "out_features", 0) for layer in self.layers)
        return builds.FAST_MIN_SIZE <= max(self._flat_params.size, widest * n_rows)

    def predict(self, X) -> np.ndarray:
        """The output in evaluation mode (whatever the network's current mode)."""
        return self.forward(X, training=False)

    def backward(self, grad_out, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``grad_out = dL/d(output)`` through the layers of the last ``forward``.

        Writes (does not accumulate) every parameter gradient into ``gradients()`` and returns
        ``dL/dX``, or None with ``input_grad=False``: the layers below the first trainable one
        are then skipped and the first trainable layer does not compute its input gradient.
        ``grad_out`` must have the shape of that forward's output (else a ValueError) and is
        cast to the network's dtype, as PyTorch's autograd casts a gradient to its tensor's.
        """
        grad = self._check_grad_out(grad_out)
        stop = 0 if input_grad or self._first_trainable is None else self._first_trainable
        plan = self.__dict__.get("_fused")
        if plan is not None:
            if plan.used:
                raise RuntimeError(
                    "backward was already called after this forward: the fused training pass "
                    "(Sequential.fast) overwrites its activations; run forward again, or set "
                    "fast=False to backpropagate one forward several times")
            if not (grad.flags.aligned and grad.flags.c_contiguous):  # as the kernels take it
                grad = np.require(grad, requirements=("A", "C"))
            return plan.backward(self.layers, grad, stop, input_grad)
        for i in range(len(self.layers) - 1, stop - 1, -1):
            grad = self.layers[i].backward(grad, need_input_grad=input_grad or i > stop)
        return grad

    def _check_grad_out(self, grad_out) -> np.ndarray:
        """``grad_out`` in the network's dtype, of the shape of the last forward's output."""
        want, grad = self.__dict__.get("_out_shape"), np.asarray(grad_out, dtype=self.dtype)
        if want is None:
            raise RuntimeError("backward needs a forward first (it uses what forward cached)")
        if grad.shape != want:
            raise ValueError(f"grad_out has shape {grad.shape}, but the last forward's output has "
                             f"shape {want}: one row per sample of that forward, one column per "
                             "output")
        return grad

    def check_input(self, X) -> np.ndarray:
        """X as a 2-D array of the network's dtype, or a ValueError/TypeError saying why not."""
        if not isinstance(X, np.ndarray) or X.dtype != self.dtype:
            X = np.asarray(X)
            if X.dtype.kind not in "fiub":
                raise TypeError(f"X must be numeric, got dtype {X.dtype}")
            X = X.astype(self.dtype)
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2-D (n_samples, n_features), got shape {X.shape}; "
                "for a single sample use X.reshape(1, -1)"
            )
        if X.shape[0] == 0:
            raise ValueError("X is empty (0 samples)")
        if self.n_features_in is not None and X.shape[1] != self.n_features_in:
            raise ValueError(
                f"X has {X.shape[1]} features, but the network expects {self.n_features_in}"
            )
        return X

    # ---- state -----------------------------------------------------------------------------
    def rng_state(self) -> list[dict]:
        """The bit-generator states of the stochastic layers (JSON-serialisable)."""
        return [layer.rng.bit_generator.state for layer in self.layers if layer.stochastic]

    def set_rng_state(self, states: list[dict]) -> None:
        stochastic = [layer for layer in self.layers if layer.stochastic]
        if len(states) != len(stochastic):
            raise ValueError(
                f"got {len(states)} random states for {len(stochastic)} stochastic layers"
            )
        for layer, state in zip(stochastic, states):
            layer.rng.bit_generator.state = state

    def state_dict(self) -> dict:
        """Parameters (one flat copy), buffers (copies) and the random streams."""
        return {
            "params": self._flat_params.copy(),
            "buffers": {k: v.copy() for k, v in self.buffers().items()},
            "rng": self.rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned, checking every shape."""
        params = np.asarray(state["params"])
        if params.shape != self._flat_params.shape:
            raise ValueError(
                f"params has shape {params.shape} but this network has "
                f"{self._flat_params.size} parameters"
            )
        buffers = self.buffers()
        given = state.get("buffers", {})
        if set(given) != set(buffers):
            raise ValueError(
                f"buffers {sorted(given)} do not match the network's {sorted(buffers)}"
            )
        for key, array in given.items():
            if np.shape(array) != buffers[key].shape:
                raise ValueError(
                    f"buffer {key} has shape {np.shape(array)}, expected {buffers[key].shape}"
                )
        self._flat_params[...] = params
        for key, array in given.items():
            buffers[key][...] = array
        if "rng" in state:
            self.set_rng_state(state["rng"])

    def clone(self, dtype=None) -> Sequential:
        """An independent copy (optionally in another dtype) with the same parameters, buffers,
        random streams and mode."""
        dtype = self.dtype if dtype is None else _checks.float_dtype(dtype)
        new = Sequential(copy.deepcopy(self.layers), dtype=dtype, seed=self.seed, fast=self.fast)
        new.load_state_dict(self.state_dict())
        return new.train(self.training)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return (
            f"Sequential([\n  {inner}\n], dtype={self.dtype.name}, "
            f"n_parameters={self.n_parameters})"
        )


def mlp(n_inputs, hidden, n_outputs, activation="relu", *, output_activation=None,
        init=None, batchnorm=False, dropout=0.0, dtype="float32", seed=0, fast=None) -> Sequential:
    """A multilayer perceptron: ``Dense, [BatchNorm], activation, [Dropout]`` per hidden layer.

    ``activation`` is one name or a list with one name per hidden layer; ``init`` defaults to
    He (Kaiming) uniform for ReLU-like activations and Xavier/Glorot uniform otherwise. The
    output layer is linear unless ``output_activation`` is given (losses such as
    CrossEntropyLoss expect logits). ``fast`` as for :class:`Sequential`.
    """
    hidden = [int(h) for h in hidden]
    for h in hidden:
        if h < 1:
            raise ValueError(f"hidden layer sizes must be positive integers, got {hidden}")
    acts = [activation] * len(hidden) if isinstance(activation, str) else list(activation)
    if len(acts) != len(hidden):
        raise ValueError(
            f"activation has {len(acts)} entries for {len(hidden)} hidden layers; give one name "
            "or one per hidden layer"
        )
    dropout = _checks.fraction("dropout", dropout)
    layers = []
    size = n_inputs
    for h, act in zip(hidden, acts):
        act_layer = get_activation(act)
        # BatchNorm subtracts the batch mean, so a bias before it would do nothing
        layers.append(Dense(size, h, init=init or _default_init(act_layer.name), bias=not batchnorm))
        if batchnorm:
            layers.append(BatchNorm(h))
        layers.append(act_layer)
        if dropout:
            layers.append(Dropout(dropout))
        size = h
    layers.append(Dense(size, n_outputs, init=init or "xavier_uniform"))
    if output_activation is not None:
        layers.append(get_activation(output_activation))
    return Sequential(layers, dtype=dtype, seed=seed, fast=fast)


def _default_init(activation_name):
    relu_like = activation_name in ("relu", "leaky_relu", "elu")
    return "kaiming_uniform" if relu_like else "xavier_uniform"
