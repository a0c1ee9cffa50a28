"""Missing text cells for ONNX: :class:`MissingText`, the step of an exported Pipeline that
turns every spelling of a missing text cell into an empty string (the missing value that
skl2onnx's string imputer takes), and its skl2onnx converter.

A string tensor cannot hold NaN, so the exported model takes an empty string for a missing
text cell; the markers that gdlab's tables read as missing (``NA``, ``?``, ``null``, ...:
:data:`gdlab.data.tables.MISSING_MARKERS`) are missing too, as they are for ``gdlab
predict``. In ONNX: a ``LabelEncoder`` flags the markers, ``Where`` replaces them.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto
from skl2onnx.common.data_types import StringTensorType
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types
from sklearn.base import BaseEstimator, TransformerMixin

from gdlab.data.tables import MISSING_MARKERS
from gdlab.onnx.network import Graph

__all__ = ["MissingText", "ALIAS", "parse_missing_text", "convert_missing_text",
           "missing_text_shapes"]

#: the name under which skl2onnx knows :class:`MissingText`
ALIAS = "GdlabMissingText"


class MissingText(TransformerMixin, BaseEstimator):
    """Missing text cells (None, NaN, or a string of ``markers``) become ``""``; other cells
    are kept. ``markers`` defaults to the markers gdlab's tables read as missing."""

    def __init__(self, markers=MISSING_MARKERS):
        self.markers = markers

    def fit(self, X, y=None):
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X):
        markers = set(self.markers) | {""}

        def clean(v):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return ""
            return "" if isinstance(v, str) and v in markers else v

        X = np.asarray(X, dtype=object)
        return np.frompyfunc(clean, 1, 1)(X).astype(object)


def convert_missing_text(scope, operator, container) -> None:
    """The markers (and ``""``) flagged by a LabelEncoder, replaced by ``""`` with Where."""
    markers = sorted(set(operator.raw_operator.markers) | {""})
    graph = Graph(scope, container, TensorProto.STRING)
    x = operator.inputs[0].full_name
    flag = graph.node("LabelEncoder", [x], domain="ai.onnx.ml", op_version=2,
                      keys_strings=markers, values_int64s=[1] * len(markers), default_int64=0)
    missing = graph.node("Cast", [flag], to=TensorProto.BOOL)
    graph.node("Where", [missing, graph.constant("empty", np.array([""], dtype=object)), x],
               operator.outputs[0].full_name)


def parse_missing_text(scope, model, inputs, custom_parsers=None):
    """skl2onnx's parser: one string output (its default parser would guess float)."""
    operator = scope.declare_local_operator(ALIAS, model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("missing_text", StringTensorType()))
    return operator.outputs


def missing_text_shapes(operator) -> None:
    """A string tensor of the input's shape."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=[StringTensorType])
    operator.outputs[0].set_type(StringTensorType(list(operator.inputs[0].type.shape)))
