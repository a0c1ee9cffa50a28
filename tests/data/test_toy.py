"""The generated datasets: the 2-D toy data of the playground and of ``gdlab train --dataset
spirals --n-samples N --noise S``, drawn from a seed (gdlab.data.toy)."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from gdlab.data import DATASETS, GENERATED, load_dataset, make_toy
from gdlab.data.toy import GENERATORS, RAVINE_STRETCH, draw


def test_every_generated_dataset_is_in_the_one_table_of_dataset_names():
    assert set(GENERATED) == set(GENERATORS) and set(GENERATED) <= set(DATASETS)
    for name in GENERATED:
        assert DATASETS[name][0] == GENERATORS[name][0]


@pytest.mark.parametrize("name", list(GENERATORS))
def test_the_same_seed_gives_the_same_points_and_another_seed_others(name):
    a = make_toy(name, 200, 0.1, seed=3)
    b = make_toy(name, 200, 0.1, seed=3)
    c = make_toy(name, 200, 0.1, seed=4)
    for x, y in ((a.X, b.X), (a.y, b.y), (a.X_val, b.X_val), (a.y_val, b.y_val)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.X, c.X)
    assert len(a.X) == 160 and len(a.X_val) == 40
    if a.task == "classification":
        labels = np.concatenate([a.y, a.y_val])
        assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [100, 100]
        assert a.X.shape[1] == 2
    else:
        assert a.X.shape == (160, 1) and a.y.shape == (160, 1)


def _all(name, n=400, noise=0.0):
    d = make_toy(name, n, noise, val_size=0.0, seed=1)
    return d.X, d.y


def test_circles_without_noise_are_a_disc_inside_a_ring():
    X, y = _all("circles")
    r = np.hypot(X[:, 0], X[:, 1])
    assert r[y == 0].max() <= 0.45 and r[y == 1].min() >= 0.65 and r.max() <= 1.0


def test_xor_without_noise_is_labelled_by_the_quadrant():
    X, y = _all("xor")
    np.testing.assert_array_equal(y, (np.sign(X[:, 0]) == np.sign(X[:, 1])).astype(int))
    assert np.abs(X).min() >= 0.05


def test_moons_without_noise_lie_on_two_half_circles():
    X, y = _all("moons")
    u, v = X[:, 0] * 1.5 + 0.5, X[:, 1] / 0.6 * 0.75 + 0.25   # undo the scaling
    np.testing.assert_allclose(np.hypot(u[y == 0], v[y == 0]), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.hypot(1 - u[y == 1], 0.5 - v[y == 1]), 1.0, atol=1e-12)
    assert (v[y == 0] >= -1e-12).all() and (v[y == 1] <= 0.5 + 1e-12).all()


def test_spirals_without_noise_are_each_others_half_turn():
    X, y = _all("spirals")
    r = np.hypot(X[:, 0], X[:, 1])
    assert 0.1 <= r.min() and r.max() <= 1.0
    arm0 = np.array(sorted(map(tuple, np.round(X[y == 0], 12))))
    arm1 = np.array(sorted(map(tuple, np.round(-X[y == 1], 12))))
    np.testing.assert_allclose(arm0, arm1, atol=1e-12)


def test_blobs_are_two_clusters_around_opposite_centres():
    X, y = _all("blobs", n=2000)
    np.testing.assert_allclose(X[y == 0].mean(axis=0), [-0.45, -0.45], atol=0.03)
    np.testing.assert_allclose(X[y == 1].mean(axis=0), [0.45, 0.45], atol=0.03)


def test_the_curve_and_its_noise():
    X, y = _all("curve")
    x = X[:, 0]
    np.testing.assert_allclose(y[:, 0], 0.8 * np.sin(math.pi * x) + 0.2 * x, atol=1e-12)
    Xn, yn = _all("curve", n=2000, noise=0.2)
    residual = yn[:, 0] - (0.8 * np.sin(math.pi * Xn[:, 0]) + 0.2 * Xn[:, 0])
    assert abs(residual.std() - 0.2) < 0.02


def test_the_extent_holds_every_point():
    d = make_toy("moons", 300, 0.2, seed=0)
    x0, x1, y0, y1 = d.extent()
    pts = np.concatenate([d.X, d.X_val])
    assert (pts[:, 0] > x0).all() and (pts[:, 0] < x1).all()
    assert (pts[:, 1] > y0).all() and (pts[:, 1] < y1).all()
    c = make_toy("curve", 300, 0.1, seed=0)
    _, _, y0, y1 = c.extent()
    assert y0 < min(c.y.min(), c.y_val.min()) and y1 > max(c.y.max(), c.y_val.max())


def test_the_ravine_is_a_slanted_line_with_its_first_axis_stretched():
    X, y = _all("ravine", n=2000)
    u, v = X[:, 0] / RAVINE_STRETCH, X[:, 1]
    np.testing.assert_array_equal(y, (v > 0.5 * u).astype(int))
    assert np.abs(v - 0.5 * u).min() >= 0.05 - 1e-12
    spread = X.std(axis=0)
    assert spread[0] > 5 * spread[1]                # features on very different scales


@pytest.mark.parametrize("name", GENERATED)
def test_load_dataset_draws_the_points_make_toy_shuffles_and_splits(name):
    ds = load_dataset(name, n_samples=120, noise=0.2, seed=5)
    assert ds.source == "generated" and ds.name == name and ds.n_samples == 120
    assert ds.task == GENERATORS[name][0] and ds.y.ndim == 1
    X, y = draw(name, 120, 0.2, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y)
    # the playground's data is the same sample, shuffled, with a validation share held out
    toy = make_toy(name, 120, 0.2, val_size=0.25, seed=5)
    both = np.concatenate([toy.X, toy.X_val])
    order = np.lexsort(both.T)
    np.testing.assert_array_equal(both[order], X[np.lexsort(X.T)])
    assert ds.classes == ([0, 1] if ds.task == "classification" else None)


def test_defaults_and_errors_of_the_generated_datasets():
    ds = load_dataset("moons")
    assert ds.n_samples == 400
    np.testing.assert_array_equal(ds.X, load_dataset("moons", n_samples=400, noise=0.1).X)
    assert not np.array_equal(ds.X, load_dataset("moons", seed=1).X)
    for kwargs, words in (({"n_samples": 3}, "n_samples"), ({"noise": -0.1}, "noise"),
                          ({"seed": -1}, "seed"), ({"target": "y"}, "names a column of a table"),
                          ({"task": "regression"}, "classification dataset")):
        with pytest.raises(ValueError, match=words):
            load_dataset("moons", **kwargs)
    for name in ("iris", "digits"):
        with pytest.raises(ValueError, match="generated datasets only"):
            load_dataset(name, n_samples=100)
        with pytest.raises(ValueError, match="noise"):
            load_dataset(name, noise=0.2)


def test_gdlab_train_trains_on_a_generated_dataset(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "gdlab", "train", "--dataset", "spirals", "--n-samples", "200",
         "--noise", "0.05", "--layers", "8,8", "--activation", "tanh", "--epochs", "3",
         "--tol", "none", "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == "spirals" and config["n_samples"] == 200
    assert config["noise"] == 0.05
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 200
    bad = subprocess.run([sys.executable, "-m", "gdlab", "train", "--dataset", "iris",
                          "--n-samples", "100", "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert bad.returncode == 2 and "generated datasets only" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "bad").exists()
