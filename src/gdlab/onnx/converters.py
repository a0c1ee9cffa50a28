"""skl2onnx's shape calculators and converters for :class:`~gdlab.GDClassifier` and
:class:`~gdlab.GDRegressor`, and :func:`register`, which registers them with
``skl2onnx.update_registered_converter`` (``import gdlab.onnx`` calls it).

Beyond scikit-learn's MLP converter they convert what gdlab's estimators add: BatchNorm in
inference mode, one activation per hidden layer, leaky ReLU and ELU, a two-unit softmax output
for two classes, and a regressor's target scaling folded into its last layer (as
:func:`gdlab.load_model` folds it) or its Poisson output (``exp``). The conventions are
skl2onnx's, so that a Pipeline holding the estimators converts with ``skl2onnx.to_onnx``:

- a classifier has the outputs ``output_label`` (the class labels: int64 for whole-number and
  boolean classes (``False`` is 0, ``True`` 1), strings for text) and ``output_probability``
  (a ZipMap of ``{label: probability}`` per row by default, a tensor ``(N, n_classes)``
  ordered as ``classes_`` with the option ``{"zipmap": False}``); the options ``nocl`` and
  ``zipmap="columns"`` work as for scikit-learn's classifiers;
- a regressor has one output ``variable`` of shape ``(N, n_outputs_)``;
- the computation is in float32, or float64 when the estimator's input is float64.
"""

from __future__ import annotations

import numbers

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    BooleanTensorType,
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    guess_proto_type,
)
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types
from skl2onnx.common.utils_classifier import get_label_classes

from gdlab.estimators.classifier import GDClassifier
from gdlab.estimators.regressor import GDRegressor
from gdlab.onnx import text
from gdlab.onnx.network import Graph, add_network, estimator_network

__all__ = ["register", "convert_classifier", "convert_regressor", "ALIASES"]

#: the aliases under which skl2onnx knows the estimators
ALIASES = {GDClassifier: "GdlabGDClassifier", GDRegressor: "GdlabGDRegressor",
           text.MissingText: text.ALIAS}
_INPUT_TYPES = [BooleanTensorType, DoubleTensorType, FloatTensorType, Int64TensorType]


def _network_output(scope, operator, container) -> tuple[Graph, str]:
    """The estimator's network on its input (cast to float32, float64 kept): the graph and
    the name of the network's output (the logits of a classifier)."""
    var = operator.inputs[0]
    dtype = TensorProto.DOUBLE if guess_proto_type(var.type) == TensorProto.DOUBLE \
        else TensorProto.FLOAT
    graph = Graph(scope, container, dtype)
    x = graph.node("Cast", [var.full_name], to=dtype)
    return graph, add_network(graph, estimator_network(operator.raw_operator), x)


def class_labels(scope, est) -> tuple[np.ndarray, int]:
    """``(labels, ONNX type)``: the class labels in the order of the outputs, as skl2onnx's
    shape calculator types them (strings, or int64 for whole numbers and booleans)."""
    classes = get_label_classes(scope, est)
    if len(classes) and all(isinstance(c, str) for c in classes):
        return np.array([str(c) for c in classes], dtype=object), TensorProto.STRING
    values = np.asarray(classes)
    whole = values.dtype.kind in "biu" or (values.dtype.kind == "f" and np.all(values == np.round(values)))
    if not whole or not all(isinstance(c, (numbers.Real, np.bool_)) for c in classes):
        raise ValueError(f"ONNX class labels are strings or whole numbers (skl2onnx's "
                         f"output_label), but the classes are {list(classes)[:5]}: train on "
                         "labels that are text or whole numbers")
    return values.astype(np.int64), TensorProto.INT64


def convert_classifier(scope, operator, container) -> None:
    """skl2onnx converter of :class:`GDClassifier`: ``output_label`` and
    ``output_probability`` (see the module docstring)."""
    est = operator.raw_operator
    graph, logits = _network_output(scope, operator, container)
    proba = operator.outputs[1].full_name
    if est.out_activation_ == "softmax":
        graph.node("Softmax", [logits], proba, axis=1)
    elif est.out_activation_ == "logistic" and est.n_outputs_ == 1:
        p = graph.node("Sigmoid", [logits])
        negative = graph.node("Sub", [graph.constant("one", [1.0]), p])
        graph.node("Concat", [negative, p], proba, axis=1)
    else:
        raise ValueError("ONNX export of a multilabel GDClassifier (one logistic output per "
                         "label) is not supported; train one classifier per label")
    labels, label_type = class_labels(scope, est)
    index = graph.node("ArgMax", [proba], axis=1, keepdims=0)
    graph.node("Gather", [graph.constant("classes", labels, label_type), index],
               operator.outputs[0].full_name, axis=0)


def convert_regressor(scope, operator, container) -> None:
    """skl2onnx converter of :class:`GDRegressor`: ``variable``, shape (N, n_outputs_)."""
    est = operator.raw_operator
    graph, out = _network_output(scope, operator, container)
    if est.out_activation_ == "exp":  # loss="poisson": the log link
        out = graph.node("Exp", [out])
    graph.node("Identity", [out], operator.outputs[0].full_name)


def classifier_shapes(operator) -> None:
    """skl2onnx's shape calculator of classifiers (labels (N,), probabilities (N, classes))."""
    calculate_linear_classifier_output_shapes(operator)


def regressor_shapes(operator) -> None:
    """One output (N, n_outputs_), float64 for a float64 input, else float32."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=_INPUT_TYPES)
    kind = DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) \
        else FloatTensorType
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].set_type(kind([n, int(operator.raw_operator.n_outputs_)]))


def register() -> None:
    """Register the converters of GDClassifier and GDRegressor (and of the export's
    :class:`~gdlab.onnx.text.MissingText`) with skl2onnx (again is harmless): afterwards
    ``skl2onnx.to_onnx`` converts them, alone or in a Pipeline."""
    update_registered_converter(
        GDClassifier, ALIASES[GDClassifier], classifier_shapes, convert_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]})
    update_registered_converter(GDRegressor, ALIASES[GDRegressor], regressor_shapes,
                                convert_regressor)
    update_registered_converter(text.MissingText, text.ALIAS, text.missing_text_shapes,
                                text.convert_missing_text, parser=text.parse_missing_text)
