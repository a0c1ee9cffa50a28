"""A gdlab network as ONNX nodes, written into skl2onnx's graph.

The network is the one an estimator predicts with: :func:`estimator_network` builds it from
the fitted attributes (``coefs_``, ``intercepts_``, ``batchnorm_``, the parameters
``activation`` and ``batchnorm``) as the estimator itself does, so the graph computes what
``predict`` computes. Each layer becomes the ONNX operator of the same formula:

============== ===========================================================================
gdlab layer    ONNX
============== ===========================================================================
Dense          ``MatMul`` with ``W`` and ``Add`` of ``b`` (no ``Add`` without a bias)
BatchNorm      ``BatchNormalization`` in inference mode: the running mean and variance,
               ``gamma``, ``beta`` and the layer's ``eps``
Sigmoid, Tanh  ``Sigmoid``, ``Tanh``
ReLU           ``Relu``
LeakyReLU      ``LeakyRelu`` with ``alpha`` the layer's ``negative_slope``
ELU            ``Elu`` with the layer's ``alpha``
Softmax        ``Softmax`` over axis 1
Identity       nothing
Dropout        nothing (it is the identity when predicting)
============== ===========================================================================

Any other layer is a ValueError naming it.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto
from sklearn.utils.validation import check_is_fitted

from gdlab.estimators import fitted
from gdlab.nn.dropout import Dropout
from gdlab.nn.layers import ELU, Dense, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from gdlab.nn.normalization import BatchNorm
from gdlab.nn.sequential import mlp

__all__ = ["Graph", "estimator_network", "add_network"]

#: the layers whose ONNX operator has no attribute
_PLAIN = {Sigmoid: "Sigmoid", Tanh: "Tanh", ReLU: "Relu"}
_NUMPY = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64}


def estimator_network(est):
    """The gdlab network that the fitted estimator ``est`` predicts with, built from its
    fitted attributes (a ValueError names an attribute that disagrees with the others)."""
    check_is_fitted(est, "coefs_")
    net = mlp(**dict(fitted.architecture(est), init="zeros"))
    fitted.load(est, net)
    return net


class Graph:
    """Adds nodes and constants to skl2onnx's graph (its ``scope`` and ``container``), with
    unique names and the constants in ``dtype`` (``TensorProto.FLOAT`` or ``DOUBLE``)."""

    def __init__(self, scope, container, dtype=TensorProto.FLOAT):
        self.scope, self.container, self.dtype = scope, container, dtype

    def constant(self, prefix: str, values, dtype=None) -> str:
        """A constant tensor (an initializer) holding ``values``; returns its name."""
        dtype = self.dtype if dtype is None else dtype
        values = np.asarray(values)
        if dtype in _NUMPY:
            values = values.astype(_NUMPY[dtype])
        content = values.ravel().tolist()
        if dtype == TensorProto.STRING:
            content = [str(v).encode("utf-8") for v in content]
        name = self.scope.get_unique_variable_name(prefix)
        self.container.add_initializer(name, dtype, list(values.shape), content)
        return name

    def node(self, op: str, inputs, output: str | None = None, *, domain: str = "",
             **attrs) -> str:
        """One node ``op`` on the named ``inputs``; returns the name of its output (a fresh one
        unless ``output`` is given)."""
        output = output or self.scope.get_unique_variable_name(op.lower())
        self.container.add_node(op, list(inputs), [output], op_domain=domain,
                                name=self.scope.get_unique_operator_name(op), **attrs)
        return output


def add_network(graph: Graph, net, x: str) -> str:
    """The nodes of every layer of ``net`` applied to the tensor named ``x``; returns the name
    of the network's output."""
    for layer in net.layers:
        x = add_layer(graph, layer, x)
    return x


def add_layer(graph: Graph, layer, x: str) -> str:
    """The nodes of one layer (see the module docstring) on ``x``; returns its output's name."""
    if isinstance(layer, Dense):
        y = graph.node("MatMul", [x, graph.constant("coefficient", layer.W)])
        if layer.b is None:
            return y
        return graph.node("Add", [y, graph.constant("intercepts", layer.b)])
    if isinstance(layer, BatchNorm):
        n = layer.num_features
        gamma = layer.gamma if layer.affine else np.ones(n)
        beta = layer.beta if layer.affine else np.zeros(n)
        inputs = [x, *(graph.constant(name, values) for name, values in (
            ("gamma", gamma), ("beta", beta), ("running_mean", layer.running_mean),
            ("running_var", layer.running_var)))]
        return graph.node("BatchNormalization", inputs, epsilon=float(layer.eps))
    if isinstance(layer, (Identity, Dropout)):
        return x
    if isinstance(layer, LeakyReLU):
        return graph.node("LeakyRelu", [x], alpha=float(layer.negative_slope))
    if isinstance(layer, ELU):
        return graph.node("Elu", [x], alpha=float(layer.alpha))
    if isinstance(layer, Softmax):
        return graph.node("Softmax", [x], axis=1)
    if type(layer) in _PLAIN:
        return graph.node(_PLAIN[type(layer)], [x])
    raise ValueError(f"no ONNX conversion for the layer {layer!r}: gdlab converts Dense, "
                     "BatchNorm, Dropout and the activations identity, sigmoid, tanh, relu, "
                     "leaky_relu, elu and softmax")
