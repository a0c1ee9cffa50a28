"""``gdlab export RUN_DIR --onnx FILE`` end to end (real subprocesses): onnxruntime on the
exported file gives the predictions and probabilities of ``gdlab predict`` to 1e-4 relative,
for a classifier with BatchNorm and mixed activations on a table with text, boolean and
missing cells, for a regressor (in the target's units) and for an array dataset.

The ONNX inputs are built here from the raw CSV as the documented interface says (one input
per column, float32 numbers with NaN, strings with "" for a missing cell, booleans as
"True"/"False"), with pandas and NumPy only; the oracle is ``gdlab predict``'s CSV."""

import csv
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

import gdlab  # noqa: E402
from gdlab.lab.run_config import make_config  # noqa: E402
from gdlab.lab.run_export import convert, onnx_inputs  # noqa: E402
from gdlab.lab.run_model import read_model  # noqa: E402

RTOL = 1e-4
COLUMNS = ["area", "rooms", "district", "garden", "price", "segment"]


def gdlab_run(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "gdlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def write_table(path, n, seed, markers=("", "NA", "?")):
    """Numbers, whole numbers, text and booleans with missing cells; the targets price (a
    quantity in its own units) and segment (text)."""
    rng = np.random.default_rng(seed)
    area, rooms = rng.uniform(30, 200, n), rng.integers(1, 7, n)
    district = rng.choice(["north", "south", "east", "west"], n)
    garden = rng.random(n) < 0.4
    bonus = {"north": 30_000, "south": -20_000, "east": 10_000, "west": 0}
    value = 1_500 * area + 8_000 * rooms + np.array([bonus[d] for d in district]) + 25_000 * garden
    price = np.round(value + rng.normal(0, 10_000, n)).astype(int)
    segment = np.where(value > 260_000, "premium", np.where(value > 150_000, "family", "budget"))
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for i in range(n):
            row = [f"{area[i]:.1f}", rooms[i], district[i], garden[i], price[i], segment[i]]
            for j in range(4):  # the feature columns
                if rng.random() < 0.08:
                    row[j] = markers[rng.integers(len(markers))]
            w.writerow(row)


def interface_inputs(path, session):
    """The exported model's inputs for the rows of a CSV, made from the interface's rules."""
    frame = pd.read_csv(path)
    inputs = {}
    for var in session.get_inputs():
        column = frame[var.name]
        if var.type == "tensor(float)":
            values = column.to_numpy(dtype=np.float32)
        else:
            values = np.array(["" if pd.isna(v) else str(v) for v in column], dtype=object)
        inputs[var.name] = values.reshape(-1, 1)
    return inputs


def session_of(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def predict_and_export(run, data, folder):
    proc = gdlab_run("predict", run, data, "--out", "pred.csv", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    proc = gdlab_run("export", run, "--onnx", "model.onnx", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return pd.read_csv(folder / "pred.csv"), session_of(folder / "model.onnx"), proc.stdout


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    write_table(folder / "houses.csv", 300, seed=1)
    write_table(folder / "new.csv", 60, seed=2, markers=("",))  # missing cells are empty
    return folder


@pytest.fixture(scope="module")
def segment_run(folder):
    """A classification run with BatchNorm and one activation per hidden layer (the library's
    run_training takes a list; gdlab train's --activation one name)."""
    config = make_config(dataset=str(folder / "houses.csv"), target="segment", drop=["price"],
                         layers=[12, 10, 8], activation=["leaky_relu", "elu", "tanh"],
                         batchnorm=True, epochs=15, lr=0.01)
    gdlab.run_training(config, folder / "segment", log=None)
    return folder / "segment"


def test_a_classifier_with_batchnorm_and_mixed_activations_on_a_messy_table(folder,
                                                                            segment_run):
    model = read_model(segment_run)["network"]
    assert model["activation"] == ["leaky_relu", "elu", "tanh"] and model["batchnorm"]
    new = pd.read_csv(folder / "new.csv")
    assert new[["area", "rooms", "district", "garden"]].isna().any().all()

    pred, session, stdout = predict_and_export("segment", "new.csv", folder)
    assert [(i.name, i.type, i.shape[1]) for i in session.get_inputs()] == [
        ("area", "tensor(float)", 1), ("rooms", "tensor(float)", 1),
        ("district", "tensor(string)", 1), ("garden", "tensor(string)", 1)]
    feed = interface_inputs(folder / "new.csv", session)
    label, proba = session.run(["output_label", "output_probability"], feed)
    assert label.tolist() == pred["prediction"].tolist()
    expected = pred[["proba_budget", "proba_family", "proba_premium"]].to_numpy()
    assert proba.shape == expected.shape
    np.testing.assert_allclose(proba, expected, rtol=RTOL)
    for marker in ("NA", "?", "null"):  # gdlab's missing markers are missing in ONNX too
        marked = {k: np.where(v == "", marker, v) if v.dtype == object else v
                  for k, v in feed.items()}
        again = session.run(["output_label", "output_probability"], marked)
        assert again[0].tolist() == label.tolist()
        np.testing.assert_array_equal(again[1], proba)
    assert "inputs:  area (float32 N x 1)" in stdout and "output_probability" in stdout


def test_a_regressor_answers_in_the_targets_units(folder):
    proc = gdlab_run("train", "--dataset", "houses.csv", "--target", "price", "--drop",
                     "segment", "--layers", "16,8", "--activation", "elu", "--batchnorm",
                     "--epochs", "15", "--lr", "0.01", "--out", "price", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    pred, session, _ = predict_and_export("price", "new.csv", folder)
    (value,) = session.run(None, interface_inputs(folder / "new.csv", session))
    assert [o.name for o in session.get_outputs()] == ["variable"]
    assert value.shape == (len(pred), 1)
    assert np.median(np.abs(value)) > 50_000  # prices, not standardised values
    np.testing.assert_allclose(value[:, 0], pred["prediction"].to_numpy(), rtol=RTOL)


def test_an_array_dataset_has_one_float_input(folder):
    from sklearn.datasets import load_digits

    proc = gdlab_run("train", "--dataset", "digits", "--layers", "32", "--batchnorm",
                     "--epochs", "3", "--out", "digits", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    X = load_digits().data[::9]
    np.savez(folder / "digits_rows.npz", X=X)
    pred, session, _ = predict_and_export("digits", "digits_rows.npz", folder)
    (inp,) = session.get_inputs()
    assert (inp.name, inp.type, inp.shape[1]) == ("X", "tensor(float)", 64)
    label, proba = session.run(None, {"X": X.astype(np.float32)})
    assert label.dtype == np.int64 and label.tolist() == pred["prediction"].tolist()
    np.testing.assert_allclose(proba, pred[[f"proba_{d}" for d in range(10)]].to_numpy(),
                               rtol=RTOL)


def test_onnx_inputs_cleans_raw_rows_as_gdlab_predict_does(folder, segment_run):
    """gdlab.onnx_inputs, for users with raw rows: markers such as NA and ? are missing, booleans and
    text spelt as in training."""
    rows = pd.read_csv(folder / "houses.csv", keep_default_na=False, dtype=str).head(80)
    assert rows.isin(["NA", "?"]).any().any()
    present = ~rows["district"].isin(["", "NA", "?"])
    rows.loc[present, "district"] = " " + rows["district"] + " "  # stripped by both
    record = read_model(segment_run)
    onx = convert(record)
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, onnx_inputs(record, rows))
    model = gdlab.load_model(segment_run)
    assert label.tolist() == model.predict(rows).tolist()
    np.testing.assert_allclose(proba, model.predict_proba(rows), rtol=RTOL)


def test_without_the_extra_export_says_which_pip_install_to_run(folder, tmp_path):
    code = ("import sys\nsys.modules['skl2onnx'] = None\nfrom gdlab.cli import main\n"
            f"sys.exit(main(['export', {str(folder / 'price')!r}, '--onnx', 'm.onnx']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("gdlab export: error:") and len(proc.stderr.splitlines()) == 1
    assert "pip install 'gdlab[onnx]'" in proc.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_bad_arguments_get_one_clear_error(folder, tmp_path):
    proc = gdlab_run("export", tmp_path, "--onnx", "m.onnx", cwd=tmp_path)
    assert proc.returncode == 2 and "not a gdlab run folder" in proc.stderr
    proc = gdlab_run("export", folder / "price", "--onnx", "m.txt", cwd=tmp_path)
    assert proc.returncode == 2 and "should end in .onnx" in proc.stderr
    proc = gdlab_run("export", folder / "price", cwd=tmp_path)
    assert proc.returncode == 2 and "--onnx" in proc.stderr
    proc = gdlab_run("export", folder / "price", "--onnx", "m.onnx", "--opset", "999",
                     cwd=tmp_path)
    assert proc.returncode == 2 and "at opset 999" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and not (tmp_path / "m.onnx").exists()


def test_odd_column_names_a_boolean_target_and_an_older_opset(tmp_path):
    """Inputs named as skl2onnx names them ("floor area" -> floor_area, "2nd" -> _2nd),
    boolean classes as int64 labels (True is 1), and --opset."""
    rng = np.random.default_rng(5)
    n = 120
    frame = pd.DataFrame({"floor area": rng.uniform(20, 90, n).round(1),
                          "2nd": rng.choice(["a", "b"], n),
                          "sold": rng.random(n) < 0.5})
    frame.loc[::7, "floor area"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    proc = gdlab_run("train", "--dataset", "t.csv", "--target", "sold", "--layers", "4",
                     "--epochs", "3", "--out", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = gdlab_run("export", "run", "--onnx", "m.onnx", "--opset", "15", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "opset 15" in proc.stdout
    pred, session, _ = predict_and_export("run", "t.csv", tmp_path)
    assert [i.name for i in session.get_inputs()] == ["floor_area", "_2nd"]
    feed = {"floor_area": frame["floor area"].to_numpy(np.float32).reshape(-1, 1),
            "_2nd": frame["2nd"].to_numpy(object).reshape(-1, 1)}
    label, proba = session.run(None, feed)
    assert label.dtype == np.int64
    assert label.tolist() == pred["prediction"].astype(int).tolist()
    np.testing.assert_allclose(proba, pred[["proba_False", "proba_True"]].to_numpy(), rtol=RTOL)
    import onnx

    old = onnx.load(tmp_path / "m.onnx")
    assert [o.version for o in old.opset_import if o.domain == ""] == [15]
    assert session_of(tmp_path / "m.onnx").run(None, feed)[0].tolist() == label.tolist()
    assert old.metadata_props and {p.key: p.value for p in old.metadata_props}["target"] == "sold"


def test_the_help_lists_the_command_and_its_options(tmp_path):
    out = gdlab_run("--help", cwd=tmp_path).stdout
    assert "export" in out
    out = " ".join(gdlab_run("export", "--help", cwd=tmp_path).stdout.split())
    for text in ("--onnx FILE", "--opset N", "pip install 'gdlab[onnx]'", "output_label",
                 "variable"):
        assert text in out, text
