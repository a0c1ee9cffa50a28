"""The playground's configuration (a plain JSON object) and its toy data sets."""

import json
import math

import numpy as np
import pytest
from bad_configs import BAD_CONFIGS

from gdlab.nn.layers import ACTIVATIONS, Softmax
from gdlab.optim.registry import OPTIMIZER_NAMES, optimizer_entry
from gdlab.playground.config import DEFAULTS, ConfigError, check_config, options
from gdlab.playground.datasets import TOY_DATASETS, make_toy

# ---- the configuration ---------------------------------------------------------------------

def test_an_empty_object_takes_every_default_of_the_issue():
    config = check_config({})
    assert list(config) == list(DEFAULTS)
    issue_defaults = {"n_samples": 400, "noise": 0.1, "layers": [8, 8], "activation": "tanh",
                      "optimizer": "adam", "lr": 0.03, "batch_size": 16, "seed": 0,
                      "max_steps": 5000}
    assert {k: config[k] for k in issue_defaults} == issue_defaults
    # about 500 history entries whatever the run's length
    assert config["record_every"] == 10
    assert check_config({"max_steps": 100})["record_every"] == 1
    assert check_config({"max_steps": 100_000})["record_every"] == 200


def test_the_checked_configuration_is_canonical_json():
    config = check_config({"activation": ["TANH", "ReLU"], "batch_size": "FULL",
                           "optimizer": "Adam", "betas": (0.8, 0.99), "schedule": " cosine "})
    assert config["activation"] == ["tanh", "relu"]
    assert config["batch_size"] == "full" and config["optimizer"] == "adam"
    assert config["betas"] == [0.8, 0.99] and config["schedule"] == "cosine"
    again = check_config(json.loads(json.dumps(config)))
    assert again == config


@pytest.mark.parametrize("name, body, field, words", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_each_bad_configuration_names_its_field(name, body, field, words):
    with pytest.raises(ConfigError) as info:
        check_config(json.loads(body))
    assert info.value.field == field
    message = str(info.value)
    assert words.lower() in message.lower()
    if field is not None:
        assert field in message


def test_options_come_from_the_registries():
    got = options()
    assert set(got["optimizers"]) == set(OPTIMIZER_NAMES)
    for name, takes in got["optimizers"].items():
        entry = optimizer_entry(name)
        for key in ("momentum", "betas", "weight_decay"):
            assert (key in takes) == entry.accepts(key), (name, key)
    assert got["optimizers"]["momentum"]["momentum"] == 0.9
    assert got["optimizers"]["adam"]["betas"] == [0.9, 0.999]
    assert "momentum" not in got["optimizers"]["adagrad"]
    assert set(got["datasets"]) == set(TOY_DATASETS)
    assert got["datasets"]["curve"]["task"] == "regression"
    names = got["activations"]
    assert "softmax" not in names and {"tanh", "relu", "sigmoid"} <= set(names)
    # one name per activation: no alias twice
    assert len({ACTIVATIONS[n] for n in names}) == len(names)
    assert all(ACTIVATIONS[n] is not Softmax for n in names)
    json.dumps(got, allow_nan=False)


# ---- the toy data ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(TOY_DATASETS))
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


def test_the_readme_documents_every_setting_and_route():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The playground"):readme.index("## Distributed training")]
    for key in DEFAULTS:
        assert f"`{key}`" in section, key
    for route in ("/api/options", "POST /api/runs", "/api/runs/{id}", "/pause", "/resume",
                  "/step", "/stop", "/pace", "/data", "/boundary", "/events"):
        assert route in section, route
    assert "docs/playground.png" in section and (Path(__file__).resolve().parents[2] / "docs" /
                                                 "playground.png").stat().st_size > 50_000
