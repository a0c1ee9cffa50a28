"""Your own table, end to end (real subprocesses): a messy CSV in, a run that is a model out,
``gdlab predict`` and ``gdlab.load_model``, and numbers in the target's units.

The yardstick is scikit-learn: the same transformers and its MLP, trained on the same split
(made here with scikit-learn's ``train_test_split``) for the same number of epochs; the
metrics are recomputed with ``sklearn.metrics``, never copied from gdlab's output.
"""

import csv
import json
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import gdlab
from gdlab.errors import CheckpointError

MARKERS = ["", "NA", "nan", "?"]
HOLES = ("area", "district", "garden", "rooms")
COLUMNS = ["area", "price", "district", "garden", "rooms", "segment", "listing"]


def gdlab_run(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "gdlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def write_messy_csv(path, n, seed):
    """Numbers, text, booleans and whole numbers with missing cells written four ways; the
    targets price (whole numbers) and segment (text) are not the last column. Returns the
    number of missing cells written per column."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(30, 200, n)
    rooms = rng.integers(1, 7, n)
    district = rng.choice(["north", "south", "east", "west"], n)
    garden = rng.random(n) < 0.4
    effect = {"north": 30_000, "south": -20_000, "east": 10_000, "west": 0}
    value = (1_500 * area + 8_000 * rooms + np.array([effect[d] for d in district])
             + 25_000 * garden)
    price = np.round(value + rng.normal(0, 10_000, n)).astype(int)
    segment = np.where(value > 260_000, "premium", np.where(value > 150_000, "family", "budget"))
    missing = dict.fromkeys(HOLES, 0)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for i in range(n):
            row = {"area": f"{area[i]:.1f}", "price": price[i], "district": district[i],
                   "garden": garden[i], "rooms": rooms[i], "segment": segment[i],
                   "listing": f"L{i}"}
            for col in HOLES:
                if rng.random() < 0.05:
                    row[col] = MARKERS[rng.integers(len(MARKERS))]
                    missing[col] += 1
            w.writerow([row[c] for c in COLUMNS])
    return missing


def read_like_a_user(path):
    """The table as a scikit-learn user would prepare it, without gdlab: pandas with ``?`` as
    missing, booleans as strings."""
    frame = pd.read_csv(path, na_values=["?"])
    frame["garden"] = frame["garden"].map({True: "yes", False: "no"})
    return frame


def sklearn_preprocessing():
    return ColumnTransformer([
        ("n", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         ["area", "rooms"]),
        ("c", make_pipeline(SimpleImputer(strategy="most_frequent"),
                            OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         ["district", "garden"])])


def the_split(y, seed=0, stratify=False):
    """Row numbers of gdlab train's split (test 20 %, then validation 10 % of the whole),
    made with scikit-learn directly."""
    rows = np.arange(len(y))
    strat = y if stratify else None
    rest, test = train_test_split(rows, test_size=0.2, random_state=seed, stratify=strat)
    train, _ = train_test_split(rest, test_size=0.1 / 0.8, random_state=seed,
                                stratify=None if strat is None else y[rest])
    return train, test


@pytest.fixture(scope="module")
def houses(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    missing = write_messy_csv(folder / "houses.csv", 800, seed=1)
    return folder, missing


@pytest.fixture(scope="module")
def price_run(houses):
    folder, _ = houses
    proc = gdlab_run("train", "--dataset", "houses.csv", "--target", "price", "--drop",
                     "segment,listing", "--out", "price", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder / "price", proc


@pytest.fixture(scope="module")
def segment_run(houses):
    folder, _ = houses
    proc = gdlab_run("train", "--dataset", "houses.csv", "--target", "segment", "--drop",
                     "price,listing", "--batchnorm", "--out", "segment", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder / "segment", proc


def test_regression_on_a_messy_csv_reaches_scikit_learns_r2(houses, price_run):
    folder, missing = houses
    run, proc = price_run
    m = json.loads((run / "metrics.json").read_text())
    assert m["target"] == "price" and m["task"] == "regression"
    assert 'target "price": regression (' in proc.stdout and "distinct whole numbers" in proc.stdout
    filled = f"filled {sum(missing.values())} missing cells"
    assert filled in proc.stdout and m["filled_cells"] == {k: v for k, v in missing.items() if v}
    assert "MSE on the standardised target" in proc.stdout and "test RMSE" in proc.stdout
    frame = read_like_a_user(folder / "houses.csv")
    y = frame["price"].to_numpy(dtype=float)
    train, test = the_split(y)
    assert m["n_train"] == len(train) and m["n_test"] == len(test)
    mlp = MLPRegressor(hidden_layer_sizes=(64,), batch_size=32, learning_rate_init=1e-3,
                       max_iter=m["epochs"], random_state=0)
    model = make_pipeline(sklearn_preprocessing(),
                          TransformedTargetRegressor(mlp, transformer=StandardScaler()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame.iloc[train], y[train])
    pred = model.predict(frame.iloc[test])
    r2 = metrics.r2_score(y[test], pred)
    assert m["test_r2"] >= r2 - 0.02, (m["test_r2"], r2)
    # the run's metrics, recomputed from the predictions of its own model on the rows as
    # plain pandas reads them ("?" included)
    ours = gdlab.load_model(run).predict(pd.read_csv(folder / "houses.csv").iloc[test])
    assert m["test_rmse"] == pytest.approx(metrics.root_mean_squared_error(y[test], ours),
                                           rel=1e-5)
    assert m["test_mae"] == pytest.approx(metrics.mean_absolute_error(y[test], ours), rel=1e-5)
    assert m["test_r2"] == pytest.approx(metrics.r2_score(y[test], ours), rel=1e-5)
    assert m["test_mse"] == pytest.approx(m["test_rmse"] ** 2, rel=1e-12)


def test_classification_on_a_messy_csv_reaches_scikit_learns_accuracy(houses, segment_run):
    folder, _ = houses
    run, proc = segment_run
    m = json.loads((run / "metrics.json").read_text())
    assert m["target"] == "segment" and m["task"] == "classification"
    assert 'target "segment": classification (3 text labels)' in proc.stdout
    frame = read_like_a_user(folder / "houses.csv")
    labels, y = np.unique(frame["segment"].to_numpy(dtype=str), return_inverse=True)
    assert m["classes"] == labels.tolist()
    train, test = the_split(y, stratify=True)
    mlp = MLPClassifier(hidden_layer_sizes=(64,), batch_size=32, learning_rate_init=1e-3,
                        max_iter=m["epochs"], random_state=0)
    model = Pipeline([("pre", sklearn_preprocessing()), ("mlp", mlp)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame.iloc[train], y[train])
    accuracy = metrics.accuracy_score(y[test], model.predict(frame.iloc[test]))
    assert m["test_accuracy"] >= accuracy - 0.02, (m["test_accuracy"], accuracy)
    # per-class metrics and the confusion matrix, recomputed from gdlab predict's output
    test_rows = pd.read_csv(folder / "houses.csv", dtype=str, keep_default_na=False).iloc[test]
    test_rows.to_csv(folder / "test_rows.csv", index=False)
    proc = gdlab_run("predict", run, "test_rows.csv", "--out", "seg.csv", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(folder / "seg.csv")
    assert len(out) == len(test) and out["listing"].tolist() == test_rows["listing"].tolist()
    pred = out["prediction"].to_numpy(dtype=str)
    truth = labels[y[test]]
    assert m["test_accuracy"] == metrics.accuracy_score(truth, pred)
    assert m["test_confusion_matrix"] == metrics.confusion_matrix(truth, pred,
                                                                  labels=labels).tolist()
    p, r, f, s = metrics.precision_recall_fscore_support(truth, pred, labels=labels,
                                                         zero_division=0.0)
    for i, row in enumerate(m["test_per_class"]):
        assert row["class"] == labels[i] and row["support"] == s[i]
        assert row["precision"] == pytest.approx(p[i]) and row["recall"] == pytest.approx(r[i])
        assert row["f1"] == pytest.approx(f[i])
    proba = out[[f"proba_{c}" for c in labels]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (labels[proba.argmax(axis=1)] == pred).all()


NEW_ROWS = """listing,area,district,garden,rooms,note
n1,120.5,north,True,3,x
n2,,harbour,,2,unseen district and missing cells
n3,45.0,south,False,?,
n4,88.8,,True,,
"""


def test_predict_equals_load_model_and_reproduces_the_test_metrics(houses, price_run):
    folder, _ = houses
    run, _ = price_run
    (folder / "new.csv").write_text(NEW_ROWS)
    proc = gdlab_run("predict", run, "new.csv", "--out", "new_pred.csv", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert '"district" \'harbour\'' in proc.stderr and '"note"' in proc.stderr
    out = pd.read_csv(folder / "new_pred.csv")
    assert out["listing"].tolist() == ["n1", "n2", "n3", "n4"]
    model = gdlab.load_model(run)
    new = pd.read_csv(folder / "new.csv")  # missing cells as pandas reads them: NaN
    new.loc[2, "rooms"] = None               # and None
    with pytest.warns(UserWarning, match="unknown categories"):
        expected = model.predict(new)
    np.testing.assert_allclose(out["prediction"], expected, rtol=1e-6)
    assert np.isfinite(expected).all() and expected.min() > 10_000  # in price units
    # without --out, the CSV goes to standard output
    proc = gdlab_run("predict", run, "new.csv", cwd=folder)
    assert proc.returncode == 0 and proc.stdout.splitlines()[0].endswith(",prediction")
    # the test split's raw rows through gdlab predict give the run's own test metrics
    raw = pd.read_csv(folder / "houses.csv", dtype=str, keep_default_na=False)
    y = raw["price"].astype(float).to_numpy()
    _, test = the_split(y)
    raw.iloc[test].to_csv(folder / "test_rows.csv", index=False)
    proc = gdlab_run("predict", run, "test_rows.csv", "--out", "test_pred.csv", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert 'the target column "price" is ignored' in proc.stderr
    pred = pd.read_csv(folder / "test_pred.csv")["prediction"].to_numpy()
    m = json.loads((run / "metrics.json").read_text())
    assert m["test_rmse"] == pytest.approx(metrics.root_mean_squared_error(y[test], pred),
                                           rel=1e-5)
    assert m["test_r2"] == pytest.approx(metrics.r2_score(y[test], pred), rel=1e-5)


def test_a_missing_feature_column_is_one_error_line(houses, price_run):
    folder, _ = houses
    run, _ = price_run
    (folder / "lacks.csv").write_text("area,garden,rooms\n1,True,2\n")
    proc = gdlab_run("predict", run, "lacks.csv", cwd=folder)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if "error:" in x]
    assert len(lines) == 1 and '"district"' in lines[0] and "lacks" in lines[0], proc.stderr
    assert proc.stdout == ""


def test_loading_runs_no_pickled_code(price_run, monkeypatch):
    run, _ = price_run
    import sklearn.pipeline  # noqa: F401 - imported before pickle is disabled

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used to load a model")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(np.lib.format, "read_array", _no_pickle(np.lib.format.read_array))
    model = gdlab.load_model(run)
    frame = pd.DataFrame({"area": [100.0], "district": ["east"], "garden": [True], "rooms": [3]})
    assert model.predict(frame)[0] > 0


def _no_pickle(read_array):
    def read(*args, allow_pickle=False, **kwargs):
        assert not allow_pickle, "an array was read with allow_pickle=True"
        return read_array(*args, allow_pickle=allow_pickle, **kwargs)
    return read


def test_tampered_or_other_version_model_files_are_refused(price_run, tmp_path):
    import shutil

    from gdlab.lab.run_model import MODEL_FORMAT, read_model
    from gdlab.training.checkpoint import save_sealed

    run, _ = price_run
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    raw = bytearray((bad / "model.npz").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (bad / "model.npz").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="model file .*model.npz is corrupt"):
        gdlab.load_model(bad)
    proc = gdlab_run("predict", bad, "x.csv", cwd=tmp_path)
    lines = [x for x in proc.stderr.splitlines() if "error:" in x]
    assert proc.returncode == 2 and len(lines) == 1 and "checksum" in lines[0]
    other = tmp_path / "other"
    shutil.copytree(run, other)
    save_sealed(other / "model.npz", read_model(run), format=MODEL_FORMAT, version=2)
    with pytest.raises(CheckpointError, match="format version 2, but this gdlab reads version 1"):
        gdlab.load_model(other)
    shutil.copy(run / "checkpoint.npz", other / "model.npz")
    with pytest.raises(CheckpointError, match="not a gdlab model file"):
        gdlab.load_model(other)
    (other / "model.npz").unlink()
    with pytest.raises(ValueError, match="no model in .*model.npz is missing"):
        gdlab.load_model(other)
