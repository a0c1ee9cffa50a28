"""A run's model.npz and gdlab.load_model: the Pipeline rebuilt from the record computes what
the trained network computed, for every architecture ``gdlab train`` builds."""

import numpy as np
import pytest

import gdlab
from gdlab.data import load_dataset, split
from gdlab.lab.run_data import build_trainer, prepare_data
from gdlab.lab.run_model import read_model
from gdlab.lab.runs import make_config, run_training
from gdlab.training.checkpoint import load_checkpoint

CASES = [
    ("iris", dict(activation="elu", layers=[8])),
    ("breast_cancer", dict(activation="relu", layers=[8, 4], batchnorm=True)),  # 2 classes
    ("wine", dict(activation="leaky_relu", layers=[], dtype="float64")),
    ("digits", dict(activation="sigmoid", layers=[16], batchnorm=True, dropout=0.2)),
    ("diabetes", dict(activation="tanh", layers=[8])),                         # regression
]


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dataset, options", CASES, ids=[c[0] for c in CASES])
def test_load_model_computes_what_the_trained_network_computes(tmp_path, dataset, options):
    config = make_config(dataset=dataset, epochs=3, **options)
    metrics = run_training(config, tmp_path, log=None)
    data = prepare_data(config)
    trainer = build_trainer({**config, "checkpoint_every": None}, data)
    state, _ = load_checkpoint(tmp_path / "checkpoint.npz")
    trainer.load_state_dict(state)
    out = trainer.net.predict(data.X_test).astype(np.float64)
    ds = load_dataset(dataset)
    rows = split(np.arange(ds.n_samples), ds.y, test_size=0.2, val_size=0.1, task=ds.task,
                 seed=0).X_test
    model = gdlab.load_model(tmp_path)
    assert [name for name, _ in model.steps] == ["scale", "model"]
    tol = 1e-12 if options.get("dtype") == "float64" else 1e-5
    if ds.task == "classification":
        np.testing.assert_allclose(model.predict_proba(ds.X[rows]), softmax(out), rtol=tol,
                                   atol=tol)
        pred = model.predict(ds.X[rows])
        assert list(model[-1].classes_) == ds.classes
        assert np.mean(pred == np.array(ds.classes)[ds.y[rows]]) == metrics["test_accuracy"]
    else:
        expected = out[:, 0] * data.y_scale + data.y_mean
        np.testing.assert_allclose(model.predict(ds.X[rows]), expected, rtol=tol)
    record = read_model(tmp_path)
    assert record["network"]["activation"] == (
        [{"sigmoid": "logistic"}.get(options["activation"], options["activation"])]
        * len(options["layers"]))
    assert (record["network"]["batchnorm"] is not None) == bool(options.get("batchnorm"))
