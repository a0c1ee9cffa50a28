"""The preprocessing a model keeps (gdlab.data.preprocess): scikit-learn's transformers on a
table's columns, their record, and the fitted Pipeline rebuilt from it. The expected numbers
come from scikit-learn's transformers fitted here by hand, not from gdlab."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from gdlab.data import load_dataset
from gdlab.data.preprocess import (
    TableColumns,
    make_preprocessor,
    preprocessing_record,
    preprocessor_from_record,
    unknown_categories,
)

CSV = """area,colour,garden,rooms,price
12.5,red,True,3,100
NA,blue,False,?,200
7.25,,True,4,150
nan, green ,null,5,300
3.0,red,TRUE,2,250
9.5,blue,False,,120
"""


@pytest.fixture
def table(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    return load_dataset(tmp_path / "t.csv", target="price")


def by_hand(frame):
    """The same transformers, set up here without gdlab (booleans and text as strings)."""
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    cats = make_pipeline(SimpleImputer(strategy="most_frequent"),
                         OneHotEncoder(handle_unknown="ignore", sparse_output=False))
    ct = ColumnTransformer([("n", numbers, ["area", "rooms"]),
                            ("c", cats, ["colour", "garden"])])
    return ct.fit(frame)


def test_kinds_and_cleaning(table):
    assert table.kinds == {"area": "number", "colour": "text", "garden": "boolean",
                           "rooms": "number"}
    assert table.missing == {"area": 2, "colour": 1, "garden": 1, "rooms": 2}
    assert table.X["colour"].tolist()[3] == "green"          # stripped
    assert table.X["garden"].tolist()[4] == "True"           # TRUE is a boolean too
    # six distinct whole numbers: class labels, and the reason says so
    assert table.task == "classification" and table.task_reason == "6 distinct whole numbers"


def test_preprocessing_equals_the_transformers_by_hand(table):
    pre = make_preprocessor(table.kinds)
    ours = pre.fit_transform(table.X)
    frame = pd.DataFrame({"area": [12.5, np.nan, 7.25, np.nan, 3.0, 9.5],
                          "rooms": [3, np.nan, 4, 5, 2, np.nan],
                          "colour": ["red", "blue", np.nan, "green", "red", "blue"],
                          "garden": ["True", "False", "True", np.nan, "True", "False"]})
    expected = by_hand(frame).transform(frame)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-15)


def test_record_is_plain_data_and_rebuilds_the_same_transform(table):
    pre = make_preprocessor(table.kinds).fit(table.X)
    record = preprocessing_record(pre)
    json.dumps({k: v for k, v in record.items() if k != "numbers"})  # plain JSON types
    assert record["categories"]["categories"] == [["blue", "green", "red"], ["False", "True"]]
    assert record["categories"]["most_frequent"] == ["blue", "True"]
    np.testing.assert_array_equal(record["numbers"]["median"], [8.375, 3.5])
    rebuilt = preprocessor_from_record(record)
    new = pd.DataFrame({"rooms": [None, 7], "area": [np.nan, 1.0], "garden": [True, None],
                        "colour": ["purple", None], "extra": ["x", "y"]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a, b = pre.transform(new), rebuilt.transform(new)
    np.testing.assert_array_equal(a, b)
    assert any("unknown categories" in str(w.message) for w in caught)
    # the unseen colour encodes as all zeros; the missing one as the most frequent (blue)
    colour = slice(2, 5)
    assert a[0, colour].tolist() == [0.0, 0.0, 0.0] and a[1, colour].tolist() == [1.0, 0, 0]
    assert unknown_categories(rebuilt, new) == {"colour": ["purple"]}


def test_array_record_rebuilds_the_scaler():
    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, size=(50, 4))
    pre = make_preprocessor(None).fit(X)
    record = preprocessing_record(pre, ["a", "b", "c", "d"])
    assert record["kind"] == "array" and [c["name"] for c in record["columns"]] == list("abcd")
    rebuilt = preprocessor_from_record(record)
    np.testing.assert_array_equal(rebuilt.transform(X), StandardScaler().fit(X).transform(X))


def test_table_columns_errors():
    step = TableColumns((("a", "number"), ("b", "text"))).fit(pd.DataFrame({"a": [1], "b": ["x"]}))
    with pytest.raises(ValueError, match='missing feature column.*"b"'):
        step.transform(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(ValueError, match='column "a" holds numbers, but row 2 holds \'x\''):
        step.transform(pd.DataFrame({"a": ["1", "x"], "b": ["u", "v"]}))
    out = step.transform(np.array([[1, "u"], [None, 3]], dtype=object))  # an array, in order
    assert np.isnan(out["a"][1]) and out["b"].tolist() == ["u", "3"]
    with pytest.raises(ValueError, match="unknown column kind 'date'"):
        TableColumns((("a", "date"),)).fit(pd.DataFrame({"a": [1]}))


def test_inconsistent_records_are_refused(table):
    record = preprocessing_record(make_preprocessor(table.kinds).fit(table.X))
    record["categories"]["categories"][0] = ["red", "blue"]  # not sorted as recorded
    with pytest.raises(ValueError, match="categories"):
        preprocessor_from_record(record)


def test_parquet_reads_like_csv(tmp_path):
    pytest.importorskip("pyarrow")
    (tmp_path / "t.csv").write_text(CSV)
    frame = pd.read_csv(tmp_path / "t.csv", na_values=["?"])
    frame.to_parquet(tmp_path / "t.parquet")
    a = load_dataset(tmp_path / "t.csv", target="price")
    b = load_dataset(tmp_path / "t.parquet", target="price")
    assert a.kinds == b.kinds and a.missing == b.missing
    pd.testing.assert_frame_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
