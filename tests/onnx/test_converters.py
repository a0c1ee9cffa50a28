"""The skl2onnx converters of GDClassifier and GDRegressor (``import gdlab.onnx``): a Pipeline
holding them converts with ``skl2onnx.to_onnx`` and onnxruntime answers what the Pipeline's own
``predict`` and ``predict_proba`` answer, to 1e-4 relative. The oracle is the fitted
scikit-learn Pipeline, computed by NumPy; the ONNX graph is run by onnxruntime."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from skl2onnx import to_onnx  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import gdlab.onnx  # noqa: E402, F401  (registers the converters)
from gdlab import GDClassifier, GDRegressor  # noqa: E402

RTOL = 1e-4


def fitted(pipe, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipe.fit(X, y)


def mlp_outputs(X, y, options):
    """The outputs (names and kinds) of scikit-learn's MLPClassifier converted by skl2onnx with
    the same options: the conventions gdlab's converter follows."""
    from sklearn.neural_network import MLPClassifier

    mlp = fitted(MLPClassifier(hidden_layer_sizes=(3,), max_iter=2), X, y)
    onx = to_onnx(mlp, X[:1], options=options)
    return [(o.name, o.type.WhichOneof("value")) for o in onx.graph.output]


def outputs(onx):
    return [(o.name, o.type.WhichOneof("value")) for o in onx.graph.output]


def run_onnx(onx, X):
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: X})))


@pytest.fixture(scope="module")
def three_classes():
    X, y = make_classification(n_samples=240, n_features=7, n_informative=5, n_classes=3,
                               random_state=0)
    labels = np.array(["cat", "dog", "eel"])[y]
    return (X * 3 + 10).astype(np.float32), labels


def test_a_pipeline_with_batchnorm_and_every_activation_converts(three_classes):
    X, y = three_classes
    acts = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu"]
    pipe = fitted(make_pipeline(StandardScaler(), GDClassifier(
        hidden_layer_sizes=(9, 8, 7, 6, 5, 4), activation=acts, batchnorm=True, max_iter=30,
        random_state=0)), X, y)
    assert np.any(pipe[-1].batchnorm_[0]["running_var"] != 1)  # trained statistics
    onx = to_onnx(pipe, X[:1], options={id(pipe[-1]): {"zipmap": False}})
    ops = {n.op_type for n in onx.graph.node}
    assert {"BatchNormalization", "Sigmoid", "Tanh", "Relu", "LeakyRelu", "Elu",
            "Softmax"} <= ops
    assert outputs(onx) == mlp_outputs(X, y, {"zipmap": False})
    assert outputs(onx) == [("label", "tensor_type"), ("probabilities", "tensor_type")]
    got = run_onnx(onx, X)
    assert got["label"].tolist() == pipe.predict(X).tolist()
    np.testing.assert_allclose(got["probabilities"], pipe.predict_proba(X), rtol=RTOL)


def test_the_default_zipmap_gives_a_dict_per_row_as_for_scikit_learns_classifiers(
        three_classes):
    X, y = three_classes
    pipe = fitted(make_pipeline(StandardScaler(), GDClassifier(
        hidden_layer_sizes=(6,), activation="leaky_relu", max_iter=20, random_state=1)), X, y)
    onx = to_onnx(pipe, X[:1])
    assert outputs(onx) == mlp_outputs(X, y, None)
    assert outputs(onx) == [("output_label", "tensor_type"), ("output_probability", "sequence_type")]
    got = run_onnx(onx, X)
    proba = pipe.predict_proba(X)
    assert got["output_label"].tolist() == pipe.predict(X).tolist()
    for row, expected in zip(got["output_probability"], proba):
        assert list(row) == ["cat", "dog", "eel"]
        np.testing.assert_allclose([row[c] for c in row], expected, rtol=RTOL)


def test_a_binary_classifier_with_a_logistic_output_and_integer_labels():
    X, y = make_classification(n_samples=200, n_features=5, random_state=2)
    X = X.astype(np.float32)
    labels = np.where(y == 1, 7, -3)
    clf = fitted(GDClassifier(hidden_layer_sizes=(5, 4), activation=["elu", "tanh"],
                              max_iter=25, random_state=0), X, labels)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    got = run_onnx(to_onnx(clf, X[:1], options={"zipmap": False}), X)
    assert got["label"].dtype == np.int64
    assert got["label"].tolist() == clf.predict(X).tolist()
    np.testing.assert_allclose(got["probabilities"], clf.predict_proba(X), rtol=RTOL)


def test_a_regressor_pipeline_answers_in_the_targets_units():
    X, y = make_regression(n_samples=200, n_features=6, noise=5, random_state=3)
    X, y = X.astype(np.float32), 40_000 + 300 * y
    pipe = fitted(make_pipeline(StandardScaler(), GDRegressor(
        hidden_layer_sizes=(10, 6), activation=["tanh", "leaky_relu"], batchnorm=True,
        learning_rate_init=0.05, max_iter=40, random_state=0)), X, y)
    got = run_onnx(to_onnx(pipe, X[:1]), X)
    assert list(got) == ["variable"] and got["variable"].shape == (len(X), 1)
    np.testing.assert_allclose(got["variable"][:, 0], pipe.predict(X), rtol=RTOL)


def test_a_multi_output_poisson_regressor():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(150, 4)).astype(np.float32)
    y = rng.poisson(np.exp(X[:, :2] * 0.5))
    reg = fitted(GDRegressor(loss="poisson", hidden_layer_sizes=(6,), max_iter=20,
                             random_state=0), X, y)
    got = run_onnx(to_onnx(reg, X[:1]), X)
    assert got["variable"].shape == (150, 2)
    np.testing.assert_allclose(got["variable"], reg.predict(X), rtol=RTOL)


def test_float64_input_computes_in_float64(three_classes):
    X, y = three_classes
    clf = fitted(GDClassifier(hidden_layer_sizes=(6,), batchnorm=True, dtype="float64",
                              max_iter=10, random_state=0), X.astype(np.float64), y)
    got = run_onnx(to_onnx(clf, X[:1].astype(np.float64), options={"zipmap": False}),
                   X.astype(np.float64))
    assert got["probabilities"].dtype == np.float64
    np.testing.assert_allclose(got["probabilities"], clf.predict_proba(X), rtol=1e-10)


def test_what_cannot_be_converted_is_named(three_classes):
    X, _ = three_classes
    Y = (X[:, :3] > 10).astype(int)
    multilabel = fitted(GDClassifier(hidden_layer_sizes=(4,), max_iter=5), X, Y)
    with pytest.raises(ValueError, match="multilabel"):
        to_onnx(multilabel, X[:1], options={"zipmap": False})


def test_register_is_idempotent_and_without_the_extra_the_import_says_what_to_install():
    gdlab.onnx.register()
    gdlab.onnx.register()
    code = ("import sys\nsys.modules['skl2onnx'] = None\n"
            "try:\n    import gdlab.onnx\nexcept ImportError as exc:\n    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'gdlab[onnx]'" in proc.stdout and "skl2onnx" in proc.stdout
