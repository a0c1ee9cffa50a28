"""The fitted attributes are the model (gdlab.estimators.fitted).

``coefs_``, ``intercepts_`` and gdlab's ``batchnorm_`` are read at the start of each fit that
continues a model and are the trained network's arrays after it; an estimator made fitted by
setting them (scikit-learn's tests do it, and so does gdlab.load_model) predicts what the
estimator they came from predicts. scikit-learn's MLP, given the same attributes, is the
oracle where it has the feature.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from gdlab.estimators import GDClassifier, GDRegressor

#: what makes a model: the attributes gdlab.load_model sets (and batchnorm_ with batchnorm)
MODEL = ("coefs_", "intercepts_", "n_outputs_", "n_features_in_", "n_layers_",
         "out_activation_")


def _iris():
    X, y = datasets.load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _copy(value):
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def _made_fitted(source, est, names=MODEL):
    """``est`` made fitted by setting (copies of) ``source``'s attributes ``names``."""
    for name in names:
        setattr(est, name, _copy(getattr(source, name)))
    return est


def _quiet_fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)


# ---- scikit-learn's worked example: one SGD step from weights set by hand ----------------------

def _set_worked_example(est):
    # sklearn/neural_network/tests/test_mlp.py::test_fit: the attributes are assigned as that
    # test assigns them (lists filled after assignment)
    est.coefs_ = [0] * 2
    est.intercepts_ = [0] * 2
    est.n_outputs_ = 1
    est.coefs_[0] = np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0]])
    est.coefs_[1] = np.array([[0.1], [0.2]])
    est.intercepts_[0] = np.array([0.1, 0.1])
    est.intercepts_[1] = np.array([1.0])
    est.n_features_in_ = 3
    est.n_iter_ = 0
    est.n_layers_ = 3
    est.out_activation_ = "logistic"
    est.t_ = 0
    est.best_loss_ = np.inf
    est.loss_curve_ = []
    est._no_improvement_count = 0  # scikit-learn's own counter: it needs it, gdlab does not
    return est


def test_partial_fit_continues_from_weights_set_by_hand_as_sklearn():
    X, y = np.array([[0.6, 0.8, 0.7]]), np.array([0])
    params = dict(solver="sgd", learning_rate_init=0.1, alpha=0.1, activation="logistic",
                  random_state=1, max_iter=1, hidden_layer_sizes=2, momentum=0)
    ours = _set_worked_example(GDClassifier(**params))
    theirs = _set_worked_example(MLPClassifier(**params))
    before = [W.copy() for W in ours.coefs_]
    ours.partial_fit(X, y, classes=[0, 1])
    theirs.partial_fit(X, y, classes=[0, 1])
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    assert not np.allclose(ours.coefs_[0], before[0])  # a step was taken
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-13)
    assert ours.loss_curve_ == pytest.approx(theirs.loss_curve_, rel=1e-13)
    assert ours.t_ == theirs.t_ == 1


def test_warm_start_fit_reads_the_attributes_and_writes_them_back():
    X, y = _iris()
    params = dict(hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=0.05, max_iter=3,
                  shuffle=False, random_state=0)
    ours, theirs = GDClassifier(**params), MLPClassifier(**params)
    for est in (ours, theirs):
        _quiet_fit(est, X, y)
        est.coefs_ = [W * 0.5 for W in est.coefs_]  # new arrays, not the trained ones
        est.intercepts_[0] = est.intercepts_[0] + 1.0
        est.set_params(warm_start=True)
        _quiet_fit(est, X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


def test_the_attributes_are_the_trained_arrays():
    X, y = _iris()
    est = _quiet_fit(GDClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0), X, y)
    held = est.coefs_[0]
    est.partial_fit(X, y)
    assert est.coefs_[0] is held  # trained in place, as scikit-learn's
    est.coefs_[1][...] = 0  # in place: the model sees it
    est.intercepts_[1][...] = [0.0, 3.0, 0.0]
    np.testing.assert_array_equal(est.predict(X), np.ones(len(X)))
    # a replaced array is read by the next fit; the one it replaced is left as it was
    old = est.coefs_[0].copy()
    est.coefs_[0] = est.coefs_[0] * 2
    est.partial_fit(X, y)
    np.testing.assert_array_equal(held, old)
    assert est.coefs_[0] is not held


# ---- an estimator made fitted by setting its attributes --------------------------------------

@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_classifier_made_fitted_predicts_as_sklearns(target):
    if target == "multilabel":
        X, y = datasets.make_multilabel_classification(n_samples=60, n_classes=3, random_state=0)
    else:
        X, y = _iris()
        y = np.array(["no", "yes"])[(y == 1).astype(int)] if target == "binary" else y
    sk = MLPClassifier(hidden_layer_sizes=(7, 4), activation="tanh", solver="lbfgs",
                       max_iter=30, random_state=0)
    _quiet_fit(sk, X, y)
    ours = _made_fitted(sk, GDClassifier(hidden_layer_sizes=(7, 4), activation="tanh"),
                        MODEL + ("classes_",))
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    assert ours.score(X, y) == sk.score(X, y)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_made_fitted_predicts_as_sklearns(loss):
    X, y = datasets.load_diabetes(return_X_y=True)
    X, y = StandardScaler().fit_transform(X), y / y.mean()
    sk = _quiet_fit(MLPRegressor(loss=loss, hidden_layer_sizes=(6,), solver="lbfgs",
                                 max_iter=30, random_state=0), X, y)
    ours = _made_fitted(sk, GDRegressor(loss=loss, hidden_layer_sizes=(6,)))
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-12)


def _forward_by_the_docstring(est, X):
    """The forward pass the estimators' docstring defines, written from the attributes."""
    h = X
    acts = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "logistic": expit,
            "identity": lambda z: z, "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z)}
    names = [est.activation] * (len(est.coefs_) - 1) if isinstance(est.activation, str) \
        else est.activation
    for i, name in enumerate(names):
        z = h @ est.coefs_[i] + est.intercepts_[i]
        if est.batchnorm:
            bn = est.batchnorm_[i]
            z = (z - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5) * bn["gamma"] \
                + bn["beta"]
        h = acts[name](z)
    return h @ est.coefs_[-1] + est.intercepts_[-1]


def test_classifier_with_batchnorm_made_fitted_predicts_as_the_trained_one():
    X, y = _iris()
    params = dict(hidden_layer_sizes=(8, 5), activation=["tanh", "leaky_relu"],
                  batchnorm=True, dropout=0.1, max_iter=15, batch_size=32, random_state=0,
                  learning_rate_init=0.02)
    trained = _quiet_fit(GDClassifier(**params), X, y)
    assert [sorted(d) for d in trained.batchnorm_] == [
        ["beta", "gamma", "running_mean", "running_var"]] * 2
    assert not np.allclose(trained.batchnorm_[0]["running_var"], 1)  # trained statistics
    made = _made_fitted(trained, GDClassifier(**params), MODEL + ("classes_", "batchnorm_"))
    np.testing.assert_array_equal(made.predict_proba(X), trained.predict_proba(X))
    np.testing.assert_array_equal(made.predict(X), trained.predict(X))
    np.testing.assert_allclose(made.predict_proba(X),
                               softmax(_forward_by_the_docstring(made, X), axis=1), rtol=1e-10)
    # and trains on from them as the trained one does (fresh optimizers, no dropout noise)
    for est in (trained, made):
        _quiet_fit(est.set_params(warm_start=True, max_iter=2, dropout=0.0, shuffle=False), X, y)
    assert made.loss_curve_ == pytest.approx(trained.loss_curve_[-2:], rel=1e-12)
    for a, b in zip(made.batchnorm_, trained.batchnorm_):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12)


def test_regressor_with_batchnorm_made_fitted_predicts_as_the_trained_one():
    X, y = datasets.load_diabetes(return_X_y=True)
    X, y = StandardScaler().fit_transform(X), (y - y.mean()) / y.std()
    params = dict(hidden_layer_sizes=(6,), batchnorm=True, max_iter=10, random_state=0,
                  dtype="float64")
    trained = _quiet_fit(GDRegressor(**params), X, y)
    made = _made_fitted(trained, GDRegressor(**params), MODEL + ("batchnorm_",))
    np.testing.assert_array_equal(made.predict(X), trained.predict(X))
    np.testing.assert_allclose(made.predict(X), _forward_by_the_docstring(made, X).ravel(),
                               rtol=1e-10, atol=1e-12)
    b = pickle.loads(pickle.dumps(made))
    np.testing.assert_array_equal(b.predict(X), trained.predict(X))


def test_two_classes_with_a_two_unit_softmax():
    X, y = _iris()
    y = np.where(y == 1, "b", "a")
    sk = _quiet_fit(MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=20,
                                  random_state=0), X, y)
    # softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]: the same model with two output units
    two = GDClassifier(hidden_layer_sizes=(5,))
    _made_fitted(sk, two, ("coefs_", "intercepts_", "classes_", "n_features_in_"))
    two.coefs_[1] = np.hstack([np.zeros_like(sk.coefs_[1]), sk.coefs_[1]])
    two.intercepts_[1] = np.r_[0.0, sk.intercepts_[1]]
    two.out_activation_, two.n_outputs_, two.n_layers_ = "softmax", 2, 3
    # scikit-learn's first column is 1 - p, exact to 1e-16 absolute only
    np.testing.assert_allclose(two.predict_proba(X), sk.predict_proba(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.exp(two.predict_log_proba(X)), sk.predict_proba(X),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(two.predict(X), sk.predict(X))
    # partial_fit trains the two units with the softmax cross-entropy
    before = two.predict_proba(X)
    two.set_params(solver="sgd", alpha=0.0, batch_size=len(X), learning_rate_init=0.1)
    two.partial_fit(X, y)
    assert two.coefs_[1].shape == (5, 2) and two.out_activation_ == "softmax"
    expected = -np.mean(np.log(before[np.arange(len(X)), (y == "b").astype(int)]))
    assert two.loss_ == pytest.approx(expected, rel=1e-12)


def test_attributes_that_disagree_are_named():
    X, y = _iris()
    est = _quiet_fit(GDClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0), X, y)
    bad = _made_fitted(est, GDClassifier(hidden_layer_sizes=(4,)), MODEL + ("classes_",))
    bad.intercepts_ = [np.zeros(3), est.intercepts_[1]]
    with pytest.raises(ValueError, match=r"intercepts_\[0\] has shape \(3,\), expected \(4,\)"):
        bad.predict(X)
    bad = _made_fitted(est, GDClassifier(hidden_layer_sizes=(4,)), MODEL + ("classes_",))
    bad.n_layers_ = 4
    with pytest.raises(ValueError, match="n_layers_ is 4 but coefs_ describe"):
        bad.predict(X)
    bn = GDClassifier(hidden_layer_sizes=(4,), batchnorm=True)
    _made_fitted(est, bn, MODEL + ("classes_",))
    with pytest.raises(ValueError, match=r"intercepts_\[0\] must be zeros: with batchnorm=True"):
        bn.predict(X)
    bn.intercepts_[0] = np.zeros(4)
    with pytest.raises(ValueError, match="batchnorm=True needs batchnorm_"):
        bn.predict(X)
    bn.batchnorm_ = [{"gamma": np.ones(4), "beta": np.zeros(4), "running_mean": np.zeros(4)}]
    with pytest.raises(ValueError, match=r"batchnorm_\[0\] must be a dict with the keys"):
        bn.predict(X)
    with pytest.raises(NotFittedError):
        GDClassifier().predict(X)
    with pytest.raises(ValueError, match="hidden_layer_sizes=.* but the fitted coefs_"):
        est.set_params(hidden_layer_sizes=(9,)).partial_fit(X, y)
