"""``gdlab data convert``: a table read in chunks of a few rows becomes a dataset folder whose
preprocessing equals the one the in-memory table path learns (scikit-learn's transformers
fitted on the whole table: medians, most frequent values, categories, StandardScaler's
statistics to 1e-12), and a run trained from it equals the run on the table itself; its
model predicts on raw columns. Real subprocesses for the command line."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import gdlab
from gdlab.data.preprocess import preprocessing_record
from gdlab.lab.convert import convert_table
from gdlab.lab.run_config import make_config
from gdlab.lab.run_data import prepare_data
from gdlab.lab.runs import run_training


def write_csv(path, n=90, seed=0):
    """Numbers (one with gaps written as '', 'NA', '?'), whole numbers, text with gaps,
    booleans, and a text target (not the last column)."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(30, 200, n)
    rooms = rng.integers(1, 7, n)
    district = rng.choice(["north", "south", "east"], n)
    garden = rng.random(n) < 0.4
    label = np.where(area + 20 * rooms > 160, "big", "small")
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["area", "label", "rooms", "district", "garden"])
        for i in range(n):
            a = ["", "NA", "?"][i % 3] if i % 7 == 3 else f"{area[i]:.2f}"
            d = "" if i % 11 == 5 else district[i]
            w.writerow([a, label[i], rooms[i], d, garden[i]])
    return path


@pytest.fixture()
def table(tmp_path):
    return write_csv(tmp_path / "houses.csv")


def in_memory_record(path, **config):
    data = prepare_data(make_config(dataset=str(path), target="label", test_size=0.0,
                                    val_size=0.0, **config))
    return data, preprocessing_record(data.preprocessor, data.feature_names)


@pytest.mark.parametrize("chunk_size", [4, 7])
def test_the_folder_holds_the_in_memory_preprocessing(table, tmp_path, chunk_size):
    meta = convert_table(table, tmp_path / "folder", target="label", chunk_size=chunk_size,
                         dtype="float64")
    data, expected = in_memory_record(table, dtype="float64")
    got = meta["preprocessing"]
    assert got["columns"] == expected["columns"]
    assert got["categories"]["most_frequent"] == expected["categories"]["most_frequent"]
    assert got["categories"]["categories"] == expected["categories"]["categories"]
    np.testing.assert_array_equal(got["numbers"]["median"], expected["numbers"]["median"])
    for key in ("mean", "var", "scale"):
        np.testing.assert_allclose(got["numbers"][key], expected["numbers"][key], rtol=1e-12)
    assert got["numbers"]["n_samples_seen"] == expected["numbers"]["n_samples_seen"]
    assert meta["classes"] == data.classes and meta["task"] == "classification"
    # the rows: imputed and encoded as the in-memory Pipeline does, before its scaling
    X = np.load(tmp_path / "folder" / "X.npy")
    k = len(got["numbers"]["columns"])
    stats = expected["numbers"]
    np.testing.assert_allclose(X[:, :k], data.X_train[:, :k] * np.asarray(stats["scale"])
                               + np.asarray(stats["mean"]), rtol=1e-12)
    np.testing.assert_array_equal(X[:, k:], data.X_train[:, k:])
    np.testing.assert_array_equal(np.load(tmp_path / "folder" / "y.npy"), data.y_train)


def test_a_run_from_the_folder_trains_as_the_table(table, tmp_path):
    convert_table(table, tmp_path / "folder", target="label", chunk_size=5, dtype="float64")
    config = dict(layers=[8], epochs=5, batch_size=8, seed=1, tol=None, test_size=0.0,
                  val_size=0.0)
    run_training(dict(config, dataset=str(tmp_path / "folder")), tmp_path / "disk", log=None)
    run_training(dict(config, dataset=str(table), target="label"), tmp_path / "table", log=None)
    disk, mem = gdlab.load_model(tmp_path / "disk"), gdlab.load_model(tmp_path / "table")
    for a, b in zip(disk[-1].coefs_ + disk[-1].intercepts_, mem[-1].coefs_ + mem[-1].intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    rows = pd.read_csv(table)
    np.testing.assert_allclose(disk.predict_proba(rows), mem.predict_proba(rows), rtol=1e-4,
                               atol=1e-6)
    assert list(disk.predict(rows)) == list(mem.predict(rows))


def gdlab_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "gdlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_command_converts_trains_and_predicts_on_raw_columns(table, tmp_path):
    done = gdlab_cli("data", "convert", table, "folder", "--target", "label", "--chunk-size",
                     "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "90 rows, 4 columns" in done.stdout
    done = gdlab_cli("train", "--dataset", "folder", "--layers", "4", "--epochs", "2",
                     "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = gdlab_cli("predict", "run", table, "--out", "pred.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert len(pred) == 90 and set(pred["prediction"]) <= {"big", "small"}


def test_a_bad_row_is_named_by_its_line(tmp_path):
    path = write_csv(tmp_path / "t.csv", n=20)
    lines = path.read_text().splitlines()
    cells = lines[11].split(",")
    cells[2] = "lots"  # rooms: numbers everywhere else
    lines[11] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    done = gdlab_cli("data", "convert", path, "out", "--target", "label", "--chunk-size", "3",
                     cwd=tmp_path)
    assert done.returncode == 2
    assert 'column "rooms"' in done.stderr and "line 12" in done.stderr, done.stderr
    lines[11] = lines[11] + ",extra"
    path.write_text("\n".join(lines) + "\n")
    done = gdlab_cli("data", "convert", path, "out2", "--chunk-size", "4", cwd=tmp_path)
    assert done.returncode == 2 and "line 12" in done.stderr, done.stderr


@pytest.mark.parametrize("target", ["rooms", "area", "garden"])
def test_the_target_is_read_as_the_in_memory_path_reads_it(table, tmp_path, target):
    # whole numbers (classes), fractional numbers with missing cells (regression, rows
    # dropped), booleans (classes): task, reason, classes and y as the table path finds them
    meta = convert_table(table, tmp_path / "folder", target=target, chunk_size=6)
    data = prepare_data(make_config(dataset=str(table), target=target, test_size=0.0,
                                    val_size=0.0, dtype="float64"))
    assert meta["task"] == data.task
    assert f"{meta['task']} ({meta['task_reason']})" in data.task_note
    assert meta["classes"] == data.classes and meta["notes"] == data.notes
    y = np.load(tmp_path / "folder" / "y.npy")
    if data.task == "regression":
        y = (y - data.y_mean) / data.y_scale
    np.testing.assert_allclose(y, np.ravel(data.y_train), rtol=1e-12)
