"""GDClassifier / GDRegressor: scikit-learn's estimator checks, and scikit-learn's MLP as the oracle.

With ``weight_init=None`` the estimators start from MLPClassifier's initial weights (same
``random_state``), so deterministic runs (L-BFGS; SGD without shuffling) must follow
scikit-learn's trajectory to rounding error: that checks the losses' scaling, the L2 penalty,
the learning-rate modes, the stopping rule and the validation split against the original.
"""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn import datasets
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)

from gdlab.estimators import GDClassifier, GDRegressor


@parametrize_with_checks(
    [GDClassifier(max_iter=20, random_state=0), GDRegressor(max_iter=20, random_state=0),
     GDClassifier(solver="lbfgs", max_iter=20, random_state=0),
     GDRegressor(solver="lbfgs", max_iter=20, random_state=0)],
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("est", [GDClassifier(max_iter=20, random_state=0, alpha=0.0),
                                 GDRegressor(max_iter=20, random_state=0, alpha=0.0),
                                 GDRegressor(max_iter=20, random_state=0, alpha=0.1)])
def test_sample_weight_equivalence(est):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_sample_weight_equivalence_on_dense_data(type(est).__name__, est)


# ---- data -------------------------------------------------------------------------------------

def _iris():
    X, y = datasets.load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _diabetes():
    X, y = datasets.load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def _max_diff(a, b):
    pa = a.coefs_ + a.intercepts_
    pb = b.coefs_ + b.intercepts_
    assert [p.shape for p in pa] == [p.shape for p in pb]
    return max(float(np.abs(p - q).max()) for p, q in zip(pa, pb))


def _fit_both(gd_cls, sk_cls, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gd_cls(**params).fit(X, y), sk_cls(**params).fit(X, y)


_DET = dict(hidden_layer_sizes=(8,), random_state=0, shuffle=False, batch_size=32, max_iter=10)


# ---- scikit-learn as the oracle ------------------------------------------------------------

@pytest.mark.parametrize("params", [
    dict(solver="sgd", learning_rate_init=0.05),
    dict(solver="sgd", learning_rate_init=0.05, nesterovs_momentum=False, alpha=0.01),
    dict(solver="sgd", learning_rate_init=0.05, momentum=0.0, learning_rate="invscaling"),
    dict(solver="sgd", learning_rate_init=0.05, momentum=0.0, learning_rate="adaptive",
         tol=10.0, n_iter_no_change=1),
    # Adam's epsilon sits outside PyTorch's bias correction, inside scikit-learn's: with a
    # negligible epsilon the two are the same algorithm
    dict(solver="adam", learning_rate_init=0.01, epsilon=1e-16),
    dict(solver="sgd", learning_rate_init=0.05, activation="tanh", early_stopping=True,
         validation_fraction=0.2),
])
def test_classifier_follows_sklearn_trajectory(params):
    X, y = _iris()
    g, s = _fit_both(GDClassifier, MLPClassifier, X, y, **_DET, **params)
    tol = 1e-8 if params["solver"] == "sgd" else 1e-7
    assert _max_diff(g, s) < tol
    np.testing.assert_allclose(g.loss_curve_, s.loss_curve_, rtol=1e-9)
    assert g.n_iter_ == s.n_iter_ and g.t_ == s.t_
    if params.get("early_stopping"):
        np.testing.assert_allclose(g.validation_scores_, s.validation_scores_)
        assert g.best_validation_score_ == s.best_validation_score_
        assert g.best_loss_ is None
    else:
        assert g.best_loss_ == pytest.approx(s.best_loss_, rel=1e-9)


def test_warm_start_and_partial_fit_follow_sklearn():
    X, y = _diabetes()
    params = dict(_DET, solver="sgd", learning_rate_init=0.01, max_iter=4)
    g, s = GDRegressor(**params), MLPRegressor(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in (g, s):
            est.fit(X, y)
            est.set_params(warm_start=True, max_iter=3)
            est.fit(X, y)  # continues from the weights, with a fresh optimizer
            est.partial_fit(X, y)  # continues with that optimizer's momentum
    assert _max_diff(g, s) < 1e-9
    np.testing.assert_allclose(g.loss_curve_, s.loss_curve_, rtol=1e-9)
    assert g.n_iter_ == s.n_iter_ == 1 and g.t_ == s.t_ == 8 * len(X)


def test_verbose_prints_sklearns_lines(capsys):
    X, y = _iris()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GDClassifier(max_iter=2, verbose=True, early_stopping=True, random_state=0).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Iteration 1, loss = ") and out[1].startswith("Validation score: ")
    assert len(out) == 4


def test_feature_names_in():
    pd = pytest.importorskip("pandas")
    X, y = _iris()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = GDClassifier(solver="lbfgs", max_iter=5, random_state=0).fit(frame, y)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"] and est.n_features_in_ == 4
    with pytest.raises(ValueError, match="feature names"):
        est.predict(frame.rename(columns={"a": "z"}))


@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_lbfgs_classifier_equals_sklearn(target, activation):
    if target == "multilabel":
        X, y = datasets.make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    else:
        X, y = _iris()
        y = y == 1 if target == "binary" else y
    # a firm penalty keeps the problem well conditioned: with saturated probabilities (where
    # scikit-learn clips them) L-BFGS amplifies rounding differences into different paths
    params = dict(solver="lbfgs", hidden_layer_sizes=(8, 5), activation=activation,
                  random_state=0, max_iter=25, alpha=1.0)
    g, s = _fit_both(GDClassifier, MLPClassifier, X, y, **params)
    assert _max_diff(g, s) < 1e-8
    assert g.loss_ == pytest.approx(s.loss_, rel=1e-10)
    assert g.out_activation_ == s.out_activation_ and g.n_outputs_ == s.n_outputs_
    np.testing.assert_allclose(g.predict_proba(X), s.predict_proba(X), atol=1e-8)
    np.testing.assert_array_equal(g.predict(X), s.predict(X))
    assert g.n_iter_ == s.n_iter_ and g.n_layers_ == s.n_layers_ == 4


@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_no_hidden_layer_equals_sklearn(activation):
    X, y = _iris()
    params = dict(hidden_layer_sizes=(), activation=activation, solver="lbfgs", max_iter=20,
                  random_state=0, alpha=1.0)
    g, s = _fit_both(GDClassifier, MLPClassifier, X, y, **params)
    assert g.n_layers_ == s.n_layers_ == 2
    assert _max_diff(g, s) < 1e-8


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_lbfgs_regressor_equals_sklearn(loss):
    X, y = _diabetes()
    y = np.exp(y) if loss == "poisson" else y
    params = dict(solver="lbfgs", loss=loss, hidden_layer_sizes=(8,), random_state=0,
                  max_iter=30)
    g, s = _fit_both(GDRegressor, MLPRegressor, X, y, **params)
    assert _max_diff(g, s) < 1e-8
    np.testing.assert_allclose(g.predict(X), s.predict(X), rtol=1e-8)
    assert g.out_activation_ == s.out_activation_


def test_multioutput_regression_follows_sklearn():
    X, y = _diabetes()
    Y = np.c_[y, y**2, -y]
    # alpha=0: the L2 penalty is not multiplied with the number of outputs
    g, s = _fit_both(GDRegressor, MLPRegressor, X, Y, solver="sgd", learning_rate_init=0.01,
                     early_stopping=True, alpha=0.0, **_DET)
    assert _max_diff(g, s) < 1e-8
    assert g.predict(X).shape == (X.shape[0], 3)
    assert g.n_outputs_ == 3
    np.testing.assert_allclose(g.validation_scores_, s.validation_scores_)
    # scikit-learn's gradient is of the per-output losses summed; its reported squared error
    # is their mean. gdlab reports the loss whose gradient it follows: 3 times larger here.
    np.testing.assert_allclose(g.loss_curve_, 3 * np.array(s.loss_curve_), rtol=1e-9)


# ---- scores on scikit-learn's bundled datasets ---------------------------------------------

_DATASETS = {
    "digits": dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=100),
    "iris": dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=100),
    "wine": dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=100),
    "breast_cancer": dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=100),
    "diabetes": dict(hidden_layer_sizes=(64,), learning_rate_init=0.001, max_iter=200),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_DATASETS))
def test_scores_match_sklearn_on_bundled_datasets(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    regression = name == "diabetes"
    gd_cls, sk_cls = (GDRegressor, MLPRegressor) if regression else (GDClassifier, MLPClassifier)
    ours, theirs = [], []
    for seed in range(10):
        Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=seed,
                                              stratify=None if regression else y)
        scaler = StandardScaler().fit(Xtr)
        Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
        if regression:
            mu, sd = ytr.mean(), ytr.std()
            ytr, yte = (ytr - mu) / sd, (yte - mu) / sd
        g, s = _fit_both(gd_cls, sk_cls, Xtr, ytr, random_state=seed, **_DATASETS[name])
        ours.append(g.score(Xte, yte))
        theirs.append(s.score(Xte, yte))
    diff = np.array(ours) - np.array(theirs)
    margin = max(0.01, 2 * diff.std(ddof=1) / np.sqrt(len(diff)))
    assert np.mean(ours) >= np.mean(theirs) - margin, (np.mean(ours), np.mean(theirs), margin)


# ---- the scikit-learn API ---------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["adam", "sgd", "adamw", "adadelta"])
def test_pickle_round_trip_keeps_predictions_and_optimizer_state(tmp_path, solver):
    X, y = _iris()
    a = GDClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, batch_size=50,
                     solver=solver, weight_decay=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    path = tmp_path / "model.joblib"
    joblib.dump(a, path)
    np.testing.assert_array_equal(a.predict_proba(X), joblib.load(path).predict_proba(X))
    # the restored Adam moments continue exactly where the original's would
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert b.loss_curve_ == a.loss_curve_


def test_coefs_are_the_network_weights():
    X, y = _iris()
    est = GDClassifier(hidden_layer_sizes=(6, 5), activation=["tanh", "leaky_relu"],
                       solver="lbfgs", max_iter=10, random_state=0).fit(X, y)
    W1, W2, W3 = est.coefs_
    b1, b2, b3 = est.intercepts_
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    h = np.where(z > 0, z, 0.01 * z)
    logits = h @ W3 + b3
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(est.predict_proba(X), expected, rtol=1e-10)
    est.coefs_ = [np.zeros_like(W) for W in est.coefs_]
    est.intercepts_ = [np.zeros_like(b) for b in est.intercepts_]
    np.testing.assert_allclose(est.predict_proba(X), np.full((len(X), 3), 1 / 3))


def test_weight_init():
    X, y = _iris()
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=20, random_state=0)
    # all-zero weights keep every hidden unit identical: the init is really the network's
    same = GDClassifier(weight_init="zeros", **params).fit(X, y)
    np.testing.assert_allclose(same.coefs_[0], same.coefs_[0][:, :1].repeat(6, axis=1))
    he = GDClassifier(weight_init="kaiming_uniform", max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        he.fit(X, y)
    default = GDClassifier(max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        default.fit(X, y)
    assert _max_diff(he, default) > 0.05


def test_predictions_on_many_rows_are_chunked_exactly():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9000, 3))
    y = X @ np.array([1.0, -1.0, 2.0])
    est = GDRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5, random_state=0)
    est.fit(X[:500], y[:500])
    (W1, W2), (b1, b2) = est.coefs_, est.intercepts_
    expected = np.maximum(X @ W1 + b1, 0) @ W2 + b2
    np.testing.assert_allclose(est.predict(X), expected.ravel(), rtol=1e-12, atol=1e-12)


def test_per_layer_activations_as_one_name():
    X, y = _iris()
    params = dict(hidden_layer_sizes=(6, 5), solver="lbfgs", max_iter=10, random_state=0)
    a = GDClassifier(activation=["tanh", "tanh"], **params).fit(X, y)
    b = GDClassifier(activation="tanh", **params).fit(X, y)
    assert _max_diff(a, b) == 0
    with pytest.raises(ValueError, match="activation has 1 entries"):
        GDClassifier(activation=["tanh"], **params).fit(X, y)
    with pytest.raises(ValueError, match="'softplus'"):
        GDClassifier(activation=["tanh", "softplus"], **params).fit(X, y)


def test_clone_pipeline_grid_search_and_cross_val_score():
    X, y = datasets.load_wine(return_X_y=True)
    est = GDClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=50,
                       random_state=0)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "coefs_")
    pipe = make_pipeline(StandardScaler(), est)
    grid = GridSearchCV(pipe, {"gdclassifier__solver": ["sgd", "adam", "lbfgs", "rmsprop"]},
                        cv=3, error_score="raise")
    grid.fit(X, y)
    assert grid.best_score_ > 0.8
    assert set(grid.cv_results_["param_gdclassifier__solver"]) == {
        "sgd", "adam", "lbfgs", "rmsprop"}
    scores = cross_val_score(make_pipeline(StandardScaler(), clone(est)), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8


@pytest.mark.parametrize("solver", ["gd", "adagrad", "rmsprop", "adamw", "nadam", "radam",
                                    "adamax", "adadelta"])
def test_gdlab_solvers_learn(solver):
    X, y = _iris()
    lr = 1.0 if solver == "adadelta" else 0.05
    est = GDClassifier(hidden_layer_sizes=(16,), solver=solver, learning_rate_init=lr,
                       batch_size=32, max_iter=60, random_state=0, weight_decay=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.loss_curve_[-1] < 0.5 * est.loss_curve_[0]
    assert est.score(X, y) > 0.85


def _solver_optimizers():
    """solver -> (the optimizer class it must build, the arguments it must pass), written out
    here from the estimators' documented parameters, not read from gdlab's tables."""
    from gdlab import optim

    lr, wd, adam = 0.01, 1e-3, dict(betas=(0.8, 0.99), eps=1e-6)
    sgd = dict(lr=lr, weight_decay=wd, momentum=0.5, nesterov=True)
    return {"sgd": (optim.SGD, sgd), "gd": (optim.SGD, sgd),
            "adam": (optim.Adam, dict(lr=lr, weight_decay=wd, **adam)),
            "adamw": (optim.AdamW, dict(lr=lr, weight_decay=wd, **adam)),
            "nadam": (optim.NAdam, dict(lr=lr, weight_decay=wd, **adam)),
            "radam": (optim.RAdam, dict(lr=lr, weight_decay=wd, **adam)),
            "adamax": (optim.Adamax, dict(lr=lr, weight_decay=wd, **adam)),
            "adagrad": (optim.Adagrad, dict(lr=lr, weight_decay=wd)),
            "rmsprop": (optim.RMSprop, dict(lr=lr, weight_decay=wd)),
            "adadelta": (optim.Adadelta, dict(lr=lr, weight_decay=wd))}


def test_every_stochastic_solver_is_wired():
    from gdlab.estimators.params import SOLVERS

    assert set(_solver_optimizers()) == set(SOLVERS) - {"lbfgs"}


@pytest.mark.parametrize("solver", sorted(_solver_optimizers()))
def test_solver_builds_its_optimizer_and_an_epoch_equals_a_trainer_with_it(solver):
    """Each solver name builds its own optimizer class with the estimator's settings, and one
    epoch of the estimator is one epoch of a Trainer with that optimizer (from the same
    weights): a solver quietly mapped to another optimizer, or a dropped setting, fails."""
    from gdlab.nn.sequential import mlp
    from gdlab.training import Callback, Trainer

    class Seen(Callback):
        def on_train_begin(self, trainer, logs):
            self.optimizer = trainer.optimizer

    X, y = _iris()
    cls, kwargs = _solver_optimizers()[solver]
    seen = Seen()
    est = GDClassifier(hidden_layer_sizes=(6,), solver=solver, learning_rate_init=0.01,
                       weight_decay=1e-3, alpha=1e-3, beta_1=0.8, beta_2=0.99, epsilon=1e-6,
                       momentum=0.5, batch_size=32, shuffle=False, max_iter=1, warm_start=True,
                       random_state=0, dtype="float64", callbacks=[seen])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)  # one epoch from scikit-learn's initial weights
        start = [p.copy() for p in est.coefs_ + est.intercepts_]
        est.fit(X, y)  # warm start: one more epoch from there with a fresh optimizer
    opt = seen.optimizer
    assert type(opt) is cls, f"solver={solver!r} built {type(opt).__name__}, not {cls.__name__}"
    for name, value in kwargs.items():
        assert getattr(opt, name) == value, (solver, name, getattr(opt, name), value)

    net = mlp(4, [6], 3, activation="relu", dtype="float64")
    for array, value in zip(net.parameters(), [start[0], start[2], start[1], start[3]]):
        array[...] = value  # [W1, b1, W2, b2] from coefs_ and intercepts_
    Trainer(net, "cross_entropy", cls([net.flat_parameters], **kwargs), shuffle=False,
            batch_size="full" if solver == "gd" else 32,  # "gd" is full-batch "sgd"
            epochs=1, tol=None, alpha=1e-3).fit(X, y)
    got = est.coefs_ + est.intercepts_
    for name, array, want in zip(["W1", "b1", "W2", "b2"], net.parameters(),
                                 [got[0], got[2], got[1], got[3]]):
        np.testing.assert_allclose(want, array, rtol=1e-12, atol=1e-15, err_msg=name)
    assert not np.allclose(got[0], start[0], rtol=1e-6, atol=0)  # the epoch moved the weights


def test_partial_fit():
    X, y = _iris()
    est = GDClassifier(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert list(est.classes_) == [0, 1, 2] and est.n_outputs_ == 3
    for _ in range(30):
        est.partial_fit(X, y)
    assert est.n_iter_ == 1 and est.t_ == 50 * 2 + 30 * 150
    assert len(est.loss_curve_) == 31 and est.loss_curve_[-1] < est.loss_curve_[0]
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(X, y + 5)
    assert not hasattr(GDClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        GDRegressor(early_stopping=True).partial_fit(*_diabetes())


def test_convergence_warning_only_when_max_iter_is_reached():
    X, y = _iris()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\)"):
        GDClassifier(max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GDClassifier(max_iter=500, tol=0.5, random_state=0).fit(X, y)
        sk = MLPClassifier(max_iter=500, tol=0.5, random_state=0).fit(X, y)
    # no epoch after the first improves the loss by 0.5: n_iter_no_change + 2 epochs
    assert est.n_iter_ == sk.n_iter_ == 12


def test_multilabel():
    X, Y = datasets.make_multilabel_classification(n_samples=200, n_classes=4, random_state=0)
    est = GDClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0,
                       learning_rate_init=0.01).fit(X, Y)
    assert est.out_activation_ == "logistic" and est.n_outputs_ == 4
    pred = est.predict(X)
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1}
    proba = est.predict_proba(X)
    assert proba.shape == Y.shape
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba), rtol=1e-6, atol=1e-9)
    assert est.score(X, Y) > 0.7


def test_class_weight_is_a_sample_weight():
    X, y = _iris()
    params = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, random_state=0)
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    a = GDClassifier(class_weight=weights, **params).fit(X, y)
    b = GDClassifier(**params).fit(X, y, sample_weight=np.vectorize(weights.get)(y))
    assert _max_diff(a, b) == 0
    c = GDClassifier(**params).fit(X, y)
    assert _max_diff(a, c) > 1e-3
    yb = (y == 0).astype(int)  # 50 vs 100 samples: "balanced" weighs class 1 by 0.75
    d = GDClassifier(class_weight="balanced", **params).fit(X, yb)
    e = GDClassifier(**params).fit(X, yb, sample_weight=np.where(yb == 1, 1.5, 0.75))
    assert _max_diff(d, e) == 0
    with pytest.raises(ValueError, match="balanced"):
        GDClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


def test_validation_loss_curve():
    X, y = _iris()
    yb = (y == 1).astype(int)
    est = GDClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=1,
                       validation_fraction=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, yb)
    # the split is MLPClassifier's: the random state first draws the initial weights
    rs = np.random.RandomState(0)
    for shape in [(4, 8), (8,), (8, 1), (1,)]:
        rs.uniform(-1, 1, shape)
    _, X_val, _, y_val = train_test_split(X, yb, random_state=rs, test_size=0.2, stratify=yb)
    assert est.validation_loss_curve_[0] == pytest.approx(
        log_loss(y_val, est.predict_proba(X_val)), rel=1e-9)
    assert est.validation_scores_[0] == pytest.approx(est.score(X_val, y_val))
    none = GDClassifier(max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        none.fit(X, y)
    assert none.validation_loss_curve_ is None and none.validation_scores_ is None
    long = GDRegressor(early_stopping=True, max_iter=30, random_state=0, n_iter_no_change=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        long.fit(*_diabetes())
    assert len(long.validation_loss_curve_) == len(long.loss_curve_) == long.n_iter_ == 30
    # the best epoch's weights are restored
    assert long.best_validation_score_ == max(long.validation_scores_)


@pytest.mark.parametrize("given, dtype_param, expected", [
    (np.float32, None, np.float32), (np.float64, None, np.float64), (np.int64, None, np.float64),
    (np.float64, "float32", np.float32), (np.float32, "float64", np.float64),
])
def test_dtype_follows_input(given, dtype_param, expected):
    X, y = _iris()
    X = (X * 10).astype(given)
    for est in (GDClassifier(max_iter=2, dtype=dtype_param, random_state=0),
                GDRegressor(max_iter=2, dtype=dtype_param, random_state=0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        assert all(W.dtype == expected for W in est.coefs_ + est.intercepts_)
        out = est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
        assert out.dtype == expected


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_robust_regression_losses_resist_outliers(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    y_dirty = y.copy()
    y_dirty[:15] += 50.0
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=0,
                  activation="identity")
    robust = GDRegressor(loss=loss, **params).fit(X, y_dirty)
    squared = GDRegressor(**params).fit(X, y_dirty)
    assert robust.score(X, y) > 0.95 > squared.score(X, y)


class _LrRecorder:
    """Records each epoch's learning rate; asks to stop after ``stop_after`` epochs."""

    def __init__(self, stop_after):
        self.stop_after, self.seen = stop_after, []

    def on_epoch_end(self, trainer, logs):
        self.seen.append(logs["lr"])
        return len(self.seen) == self.stop_after


def test_extras_batchnorm_schedule_clip_and_callbacks():
    X, y = _iris()
    est = GDClassifier(hidden_layer_sizes=(16,), batchnorm=True, dropout=0.2,
                       lr_schedule="step:step_size=2,gamma=0.5", clip_norm=1.0,
                       learning_rate_init=0.04, callbacks=[_LrRecorder(7)], random_state=0,
                       max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a callback stop is not max_iter
        est.fit(X, y)
    assert est.n_iter_ == 7
    seen = est.callbacks[0].seen
    np.testing.assert_allclose(seen, [0.04, 0.04, 0.02, 0.02, 0.01, 0.01, 0.005])
    assert all(np.all(b == 0) for b in est.intercepts_[:-1])  # BatchNorm's shift replaces them
    assert est.score(X, y) > 0.8
    b = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.predict_proba(X), b.predict_proba(X))


def test_errors_name_the_parameter():
    X, y = _iris()
    with pytest.raises(ValueError, match="'solver' parameter"):
        GDClassifier(solver="newton").fit(X, y)
    with pytest.raises(ValueError, match="'dropout' parameter"):
        GDClassifier(dropout=1.5).fit(X, y)
    with pytest.raises(ValueError, match="lr_schedule"):
        GDClassifier(solver="sgd", learning_rate="adaptive", lr_schedule="cosine").fit(X, y)
    with pytest.raises(ValueError, match="dropout"):
        GDClassifier(solver="lbfgs", dropout=0.1).fit(X, y)
    with pytest.raises(ValueError, match="negative"):
        GDRegressor(loss="poisson").fit(X, y - 1)


# ---- the compiled kernels' switch -------------------------------------------------------------

@pytest.mark.parametrize("solver", ["adam", "gd"])
def test_fast_switches_the_kernels_and_changes_only_rounding(solver, kernel_backend):
    X, y = datasets.make_regression(n_samples=300, n_features=50, random_state=0)
    X, y = StandardScaler().fit_transform(X), y / y.std()
    fits = {}
    for fast in (True, False):
        est = GDRegressor(hidden_layer_sizes=(1400,), solver=solver, max_iter=5, batch_size=100,
                          learning_rate_init=1e-3, random_state=0, dtype="float64", fast=fast)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[fast] = est.fit(X, y)
    assert fits[True]._optimizer.kernels is not None and fits[True]._net.fast is True
    assert fits[False]._optimizer.kernels is None and fits[False]._net.fast is False
    np.testing.assert_allclose(fits[True].predict(X), fits[False].predict(X), rtol=1e-9, atol=1e-9)
    again = pickle.loads(pickle.dumps(fits[False]))
    assert again._net.fast is False and again._optimizer.kernels is None


def test_fast_must_be_none_or_a_bool():
    with pytest.raises(ValueError, match="fast"):
        GDClassifier(fast="yes").fit([[0.0], [1.0]], [0, 1])
