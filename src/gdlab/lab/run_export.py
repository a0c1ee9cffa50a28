"""The ``gdlab export`` job: a run's model (``model.npz``) as an ONNX file, through skl2onnx.

:func:`export_pipeline` is the run's model as skl2onnx converts it: the preprocessing of
:func:`gdlab.load_model` without its first step (the inputs arrive as separate, clean
columns); before the text columns' imputer, :class:`gdlab.onnx.text.MissingText` turns a
missing text cell (NaN, or a marker such as ``NA`` or ``?``) into an empty string, which the
imputer is told is missing (skl2onnx's imputer converter takes a string for missing text);
then the estimator, converted by :mod:`gdlab.onnx`. :func:`export_onnx` converts it with
``skl2onnx.to_onnx`` and checks the file with onnxruntime against :func:`gdlab.load_model`
before writing it.

The exported model's interface follows skl2onnx's conventions for a table:

- one input per feature column, named after it (:func:`input_names`), shape ``(N, 1)``:
  float32 for numbers (whole numbers included), string for text and for booleans
  (``"True"``/``"False"``); a missing number is NaN, a missing text cell an empty string (or
  a marker gdlab reads as missing: ``NA``, ``?``, ``null``, ...). :func:`onnx_inputs` makes
  these arrays from a table as ``gdlab predict`` reads it (text stripped, booleans spelt as
  in training);
- a run on an array (npz, digits, MNIST) has one float32 input ``X`` of shape ``(N, F)``;
- a classifier's outputs are ``output_label`` (N,) and ``output_probability`` (N, n_classes),
  a plain tensor ordered as the run's classes (skl2onnx's ``zipmap=False``); a regressor's is
  ``variable`` (N, 1), in the target's own units.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

__all__ = ["export_pipeline", "input_types", "input_names", "output_types", "onnx_inputs",
           "convert", "export_onnx", "probe_rows"]

#: how close onnxruntime's answers must be to gdlab's for an export to be written
CHECK_RTOL, CHECK_ATOL = 1e-4, 1e-6


def require_onnx():
    """The :mod:`gdlab.onnx` package (the converters registered) and onnxruntime, or an
    ImportError saying which ``pip install`` to run."""
    import gdlab.onnx as gdlab_onnx

    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"gdlab's ONNX export checks the file with onnxruntime, which is not "
                          f"installed: {gdlab_onnx.INSTALL_HINT}", name=exc.name) from exc
    return gdlab_onnx


def _table(record) -> bool:
    return record["preprocessing"]["kind"] == "table"


def export_pipeline(record: dict):
    """The fitted scikit-learn Pipeline that skl2onnx converts for the model ``record``
    (:func:`gdlab.lab.run_model.read_model`): ``encode`` (the ColumnTransformer, taking the
    inputs of :func:`onnx_inputs` as a DataFrame) or ``scale`` (arrays), then ``model``."""
    from sklearn.pipeline import Pipeline

    from gdlab.data.preprocess import preprocessor_from_record
    from gdlab.lab.run_model import estimator_from_record

    pre = preprocessor_from_record(record["preprocessing"])
    model = estimator_from_record(record)
    if not _table(record):
        return Pipeline([*pre.steps, ("model", model)])
    encode = pre.named_steps["encode"]
    if "category" in encode.named_transformers_:
        from gdlab.onnx.text import MissingText

        part = encode.named_transformers_["category"]
        part.named_steps["impute"].set_params(missing_values="")
        # "warn" is scikit-learn's "ignore" with a warning: an unseen category is all zeros
        part.named_steps["onehot"].set_params(handle_unknown="ignore")
        missing = MissingText().fit(np.empty((1, part.named_steps["impute"].n_features_in_)))
        part.set_params(steps=[("missing", missing), *part.steps])
    return Pipeline([("encode", encode), ("model", model)])


def input_types(record: dict) -> list:
    """skl2onnx's ``initial_types`` of the exported model (see the module docstring)."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if not _table(record):
        return [("X", FloatTensorType([None, len(record["features"])]))]
    return [(c["name"], FloatTensorType([None, 1]) if c["kind"] == "number"
             else StringTensorType([None, 1])) for c in record["features"]]


def input_names(record: dict) -> list:
    """The names of the exported model's inputs, in the order of the features: the column
    names as skl2onnx writes them (a character other than a letter, digit or ``_`` becomes
    ``_``, a leading digit gets a ``_`` before it, a repeated name a number after it)."""
    if not _table(record):
        return ["X"]
    seen, names = set(), []
    for c in record["features"]:
        seed = re.sub(r"[^\w+]", "_", c["name"])
        seed = "_" + seed if re.match("^[0-9]", seed) else seed
        name, i = seed, 1
        while name in seen:
            name, i = f"{seed}{i}", i + 1
        seen.add(name)
        names.append(name)
    return names


def output_types(record: dict) -> list:
    """skl2onnx's ``final_types``: ``output_label`` and ``output_probability`` (a tensor),
    or ``variable``."""
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    target = record["target"]
    if target["task"] != "classification":
        return [("variable", FloatTensorType([None, int(record["network"]["n_outputs"])]))]
    classes = target["classes"]
    label = StringTensorType([None]) if all(isinstance(c, str) for c in classes) \
        else Int64TensorType([None])
    return [("output_label", label), ("output_probability", FloatTensorType([None, len(classes)]))]


def onnx_inputs(run, rows) -> dict:
    """The inputs of the ONNX model exported from ``run`` (a run folder, or its record) for
    ``rows`` (``{name: array}``, for onnxruntime's ``InferenceSession.run``): ``rows`` is a
    pandas DataFrame holding the feature columns, cleaned here as ``gdlab predict`` cleans
    them (extra columns are ignored), or an array for a run on arrays.

    >>> session.run(None, gdlab.onnx_inputs("runs/houses", pd.read_csv("new.csv")))  # doctest: +SKIP
    """
    from gdlab.lab.run_model import read_model

    record = run if isinstance(run, dict) else read_model(run)
    if not _table(record):
        return {"X": np.asarray(rows, dtype=np.float32)}
    from gdlab.data.columns import clean_features

    kinds = {c["name"]: c["kind"] for c in record["features"]}
    clean = clean_features(rows, kinds)
    inputs = {}
    for (name, kind), key in zip(kinds.items(), input_names(record)):
        column = clean[name]
        if kind == "number":
            inputs[key] = column.to_numpy(dtype=np.float32).reshape(-1, 1)
        else:
            values = ["" if not isinstance(v, str) else v for v in column]
            inputs[key] = np.array(values, dtype=object).reshape(-1, 1)
    return inputs


def probe_rows(record: dict):
    """A few rows that reach every part of the model (every category, numbers around their
    median, a row of missing cells for a table) on which an export is checked."""
    import pandas as pd

    pre = record["preprocessing"]
    stats = pre.get("numbers", {})
    if not _table(record):
        mean, scale = np.asarray(stats["mean"]), np.asarray(stats["scale"])
        steps = np.array([-1.5, 0.0, 1.0, 2.0])[:, None] * np.cos(np.arange(mean.size))
        return mean + steps * scale
    cats = dict(zip(pre.get("categories", {}).get("columns", []),
                    pre.get("categories", {}).get("categories", [])))
    n = max([4, *(len(v) + 1 for v in cats.values())])
    data = {}
    for c in record["features"]:
        name = c["name"]
        if c["kind"] == "number":
            j = list(stats["columns"]).index(name)
            offsets = np.resize([0.0, -1.5, 1.0, 2.0], n - 1)
            data[name] = [*(stats["median"][j] + offsets * stats["scale"][j]), np.nan]
        else:
            data[name] = [*np.resize(cats[name], n - 1).tolist(), None]
    return pd.DataFrame(data)


def _model_props(record: dict) -> dict:
    from gdlab import __version__

    target = record["target"]
    props = {"gdlab_version": __version__, "task": target["task"],
             "target": str(target["name"]), "dataset": str(record.get("dataset", {}).get("name")),
             "features": json.dumps(record["features"])}
    if target.get("classes") is not None:
        props["classes"] = json.dumps([str(c) for c in target["classes"]])
    return props


def convert(record: dict, opset: int | None = None):
    """The ONNX model (an ``onnx.ModelProto``) of the model ``record``."""
    import onnx
    from skl2onnx import to_onnx

    require_onnx()
    pipe = export_pipeline(record)
    classifier = record["target"]["task"] == "classification"
    options = {id(pipe[-1]): {"zipmap": False}} if classifier else None
    outputs = output_types(record)
    clash = set(input_names(record)) & {name for name, _ in outputs}
    if clash:
        raise ValueError(f"a feature column is named {sorted(clash)[0]!r}, as an output of the "
                         "ONNX model: rename the column and train again")
    try:
        onx = to_onnx(pipe, initial_types=input_types(record), final_types=outputs,
                      target_opset=opset, options=options)
    except RuntimeError as exc:
        if opset is None:
            raise
        raise ValueError(f"skl2onnx cannot convert this model at opset {opset}: {exc}") from None
    if [v.name for v in onx.graph.input] != input_names(record):  # skl2onnx's naming changed
        raise ValueError(f"skl2onnx named the inputs {[v.name for v in onx.graph.input]}, not "
                         f"{input_names(record)}")
    onx.doc_string = (f"gdlab model of the target {record['target']['name']!r} "
                      f"({record['target']['task']}); inputs as in gdlab's run format")
    onnx.helper.set_model_props(onx, _model_props(record))
    return onx


def check_export(onx, record: dict, model) -> float:
    """Run ``onx`` with onnxruntime on :func:`probe_rows` and compare with ``model`` (the
    Pipeline of :func:`gdlab.load_model`): the largest relative difference, or a ValueError
    when they disagree."""
    import warnings

    import onnxruntime as ort

    rows = probe_rows(record)
    try:
        session = ort.InferenceSession(onx.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        got = session.run(None, onnx_inputs(record, rows))
    except Exception as exc:  # onnxruntime's own errors (an opset newer than it knows, ...)
        raise ValueError(f"onnxruntime {ort.__version__} cannot run the exported model "
                         f"({str(exc).strip()[:300]}); nothing was written. An older opset "
                         "(--opset N, e.g. 17) may help") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if record["target"]["task"] == "classification":
            label, proba = model.predict(rows), model.predict_proba(rows)
            pairs = [(got[1], proba)]
            same_labels = np.array_equal(got[0], np.asarray(label).astype(got[0].dtype))
        else:
            pairs, same_labels = [(got[0], model.predict(rows).reshape(got[0].shape))], True
    worst = max(float(np.max(np.abs(a - b) / np.maximum(np.abs(b), CHECK_ATOL / CHECK_RTOL)))
                for a, b in pairs)
    if worst > CHECK_RTOL or not same_labels:
        raise ValueError(f"the ONNX model disagrees with gdlab's own predictions on test rows "
                         f"(largest relative difference {worst:.2g}, same labels: "
                         f"{same_labels}); nothing was written")
    return worst


def export_onnx(run, path, opset: int | None = None) -> dict:
    """Export the model of the run folder ``run`` to the ONNX file ``path``, checked with
    onnxruntime first (:func:`check_export`). Returns what was written: ``path``,
    ``inputs`` and ``outputs`` (``[(name, type, shape)]``) and ``max_rel_diff``."""
    from gdlab.lab.run_model import load_model, read_model

    require_onnx()
    record = read_model(run)
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"the ONNX file should end in .onnx, got '{path}'")
    onx = convert(record, opset)
    worst = check_export(onx, record, load_model(run))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(onx.SerializeToString())
    os.replace(tmp, path)
    return {"path": path, "inputs": _signature(onx.graph.input),
            "outputs": _signature(onx.graph.output), "max_rel_diff": worst,
            "opset": max(o.version for o in onx.opset_import if o.domain in ("", "ai.onnx"))}


def _signature(values) -> list:
    import onnx

    out = []
    for v in values:
        t = v.type.tensor_type
        shape = ["N" if d.dim_param or not d.HasField("dim_value") else d.dim_value
                 for d in t.shape.dim]
        out.append((v.name, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
                    if t.elem_type != onnx.TensorProto.STRING else "string", shape))
    return out
