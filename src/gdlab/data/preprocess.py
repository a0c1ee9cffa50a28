"""The preprocessing a model keeps: scikit-learn's transformers, learnt on the training part,
and their record (plain numbers and strings, no pickle) from which they are rebuilt.

A table's preprocessing is a :class:`sklearn.pipeline.Pipeline` of two steps:

1. ``columns``: :class:`TableColumns` selects the feature columns by name and cleans them by
   the kinds the training recorded (:mod:`gdlab.data.columns`): numbers to float64, booleans
   and text to strings, every missing cell (NaN, None, ``pd.NA``) to NaN;
2. ``encode``: a :class:`~sklearn.compose.ColumnTransformer` with

   - ``number``: :class:`~sklearn.impute.SimpleImputer` (the training median), then
     :class:`~sklearn.preprocessing.StandardScaler`;
   - ``category`` (booleans and text): :class:`~sklearn.impute.SimpleImputer` (the most
     frequent value), then :class:`~sklearn.preprocessing.OneHotEncoder` with
     ``handle_unknown="warn"``: a category the training never saw encodes as all zeros, with a
     warning.

An array dataset's preprocessing is one step, ``scale``: a StandardScaler.

:func:`preprocessing_record` writes what these learnt (medians, most frequent values,
categories, means, variances) as a dict of lists and arrays; :func:`preprocessor_from_record`
rebuilds the fitted Pipeline from it: the same transformers, fitted on a small table made of
the stored categories, then given the stored statistics through their public fitted
attributes (``statistics_``, ``mean_``, ``var_``, ``scale_``, ``n_samples_seen_``). It is also
the way to build a fitted preprocessing from statistics computed elsewhere (in chunks).
This module imports scikit-learn and pandas: import it when a table is used.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from gdlab.data.columns import KINDS, clean_features

__all__ = ["TableColumns", "make_preprocessor", "preprocessing_record",
           "preprocessor_from_record", "unknown_categories"]


class TableColumns(TransformerMixin, BaseEstimator):
    """The first step of a table model: pick the feature columns of a DataFrame by name and
    clean them by their recorded kinds (:func:`gdlab.data.columns.clean_features`).

    ``kinds``: ``((name, kind), ...)`` with kinds from :data:`gdlab.data.columns.KINDS`.
    Extra columns of the input are ignored; a missing one is a ValueError naming it. A 2-D
    array with one column per feature is taken in the recorded order.
    """

    def __init__(self, kinds=()):
        self.kinds = kinds

    def fit(self, X, y=None):
        kinds = self._kinds()
        self._frame(X, kinds)
        self.feature_names_in_ = np.array(list(kinds), dtype=object)
        self.n_features_in_ = len(kinds)
        return self

    def transform(self, X):
        check_is_fitted(self)
        kinds = self._kinds()
        return clean_features(self._frame(X, kinds), kinds)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return self.feature_names_in_.copy()

    def _kinds(self) -> dict:
        kinds = dict(self.kinds)
        bad = [k for k in kinds.values() if k not in KINDS]
        if bad:
            raise ValueError(f"unknown column kind {bad[0]!r}; kinds are {', '.join(KINDS)}")
        return kinds

    @staticmethod
    def _frame(X, kinds):
        import pandas as pd

        if isinstance(X, pd.DataFrame):
            return X
        X = np.asarray(X, dtype=object)
        if X.ndim != 2 or X.shape[1] != len(kinds):
            raise ValueError(f"this model reads a table with the columns "
                             f"{', '.join(map(repr, kinds))}: give a pandas DataFrame (or a "
                             f"2-D array of {len(kinds)} columns), got shape {X.shape}")
        return pd.DataFrame(X, columns=list(kinds))


def _groups(kinds: dict) -> tuple[list, list]:
    numbers = [n for n, k in kinds.items() if k == "number"]
    return numbers, [n for n, k in kinds.items() if k != "number"]


def make_preprocessor(kinds: dict | None) -> Pipeline:
    """The unfitted preprocessing of a table whose feature columns have ``kinds`` (name ->
    kind), or of an array dataset (``kinds`` None): see the module docstring."""
    if kinds is None:
        return Pipeline([("scale", StandardScaler())])
    numbers, categories = _groups(kinds)
    parts = []
    if numbers:
        parts.append(("number", Pipeline([("impute", SimpleImputer(strategy="median")),
                                          ("scale", StandardScaler())]), numbers))
    if categories:
        parts.append(("category", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="warn", sparse_output=False,
                                     dtype=np.float64))]), categories))
    encode = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("columns", TableColumns(tuple(kinds.items()))), ("encode", encode)])


def _scaler_record(scaler) -> dict:
    return {"mean": np.asarray(scaler.mean_, dtype=np.float64),
            "var": np.asarray(scaler.var_, dtype=np.float64),
            "scale": np.asarray(scaler.scale_, dtype=np.float64),
            "n_samples_seen": int(np.max(scaler.n_samples_seen_))}


def preprocessing_record(pre: Pipeline, feature_names=None) -> dict:
    """What the fitted preprocessing ``pre`` learnt, as JSON types and float64 arrays (the
    ``preprocessing`` entry of a run's model file; docs/run-format.md)."""
    if "scale" in pre.named_steps:
        names = list(feature_names) if feature_names is not None else [
            f"x{j}" for j in range(pre.named_steps["scale"].n_features_in_)]
        return {"kind": "array", "columns": [{"name": n, "kind": "number"} for n in names],
                "numbers": {"columns": names, **_scaler_record(pre.named_steps["scale"])}}
    kinds = dict(pre.named_steps["columns"].kinds)
    encode = pre.named_steps["encode"]
    numbers, categories = _groups(kinds)
    record = {"kind": "table",
              "columns": [{"name": n, "kind": k} for n, k in kinds.items()],
              "outputs": [str(n) for n in encode.get_feature_names_out()]}
    if numbers:
        part = encode.named_transformers_["number"]
        record["numbers"] = {"columns": numbers,
                             "median": np.asarray(part.named_steps["impute"].statistics_,
                                                  dtype=np.float64),
                             **_scaler_record(part.named_steps["scale"])}
    if categories:
        part = encode.named_transformers_["category"]
        record["categories"] = {
            "columns": categories,
            "most_frequent": [str(v) for v in part.named_steps["impute"].statistics_],
            "categories": [[str(v) for v in c] for c in part.named_steps["onehot"].categories_]}
    return record


def _set_scaler(scaler, stats: dict) -> None:
    """A scaler's public fitted attributes from a record."""
    scaler.mean_ = np.asarray(stats["mean"], dtype=np.float64)
    scaler.var_ = np.asarray(stats["var"], dtype=np.float64)
    scaler.scale_ = np.asarray(stats["scale"], dtype=np.float64)
    scaler.n_samples_seen_ = int(stats["n_samples_seen"])


def preprocessor_from_record(record: dict) -> Pipeline:
    """The fitted preprocessing that :func:`preprocessing_record` described (ValueError or
    KeyError when the record is inconsistent)."""
    if record["kind"] == "array":
        stats = record["numbers"]
        pre = make_preprocessor(None)
        pre.fit(np.zeros((2, len(stats["mean"]))))
        _set_scaler(pre.named_steps["scale"], stats)
        return pre
    if record["kind"] != "table":
        raise ValueError(f"unknown preprocessing kind {record['kind']!r}")
    kinds = {c["name"]: c["kind"] for c in record["columns"]}
    numbers, categories = _groups(kinds)
    pre = make_preprocessor(kinds)
    pre.fit(_frame_of(record, kinds))
    encode = pre.named_steps["encode"]
    if numbers:
        stats, part = record["numbers"], encode.named_transformers_["number"]
        if list(stats["columns"]) != numbers:
            raise ValueError("the recorded number columns do not match the column kinds")
        part.named_steps["impute"].statistics_ = np.asarray(stats["median"], dtype=np.float64)
        _set_scaler(part.named_steps["scale"], stats)
    if categories:
        stats, part = record["categories"], encode.named_transformers_["category"]
        part.named_steps["impute"].statistics_ = np.array(stats["most_frequent"], dtype=object)
        found = [[str(v) for v in c] for c in part.named_steps["onehot"].categories_]
        if list(stats["columns"]) != categories or found != stats["categories"]:
            raise ValueError("the recorded categories are not sorted, or do not match the "
                             "column kinds")
    return pre


def _frame_of(record, kinds):
    """A small table holding every recorded category (and numbers): what the transformers are
    fitted on before they receive the recorded statistics."""
    import pandas as pd

    cats = dict(zip(record.get("categories", {}).get("columns", []),
                    record.get("categories", {}).get("categories", [])))
    n = max([2, *(len(c) for c in cats.values())])
    data = {}
    for name, kind in kinds.items():
        if kind == "number":
            data[name] = np.arange(n, dtype=np.float64)
        else:
            values = cats[name]
            if not values:
                raise ValueError(f'no categories recorded for column "{name}"')
            data[name] = [values[i % len(values)] for i in range(n)]
    return pd.DataFrame(data)


def unknown_categories(pre: Pipeline, frame) -> dict:
    """``{column: [values]}``: the categories in ``frame`` (raw rows) that the fitted table
    preprocessing ``pre`` never saw in training (they encode as all zeros)."""
    if "columns" not in pre.named_steps:
        return {}
    encode = pre.named_steps["encode"]
    if "category" not in encode.named_transformers_:
        return {}
    clean = pre.named_steps["columns"].transform(frame)
    part = encode.named_transformers_["category"]
    names = [n for n, k in dict(pre.named_steps["columns"].kinds).items() if k != "number"]
    out = {}
    for name, known in zip(names, part.named_steps["onehot"].categories_):
        values = clean[name].dropna()
        new = sorted(set(values) - set(known))
        if new:
            out[name] = new
    return out
