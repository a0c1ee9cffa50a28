"""Behaviours of MLPClassifier/MLPRegressor that users rely on, with scikit-learn run side by
side: divergence under early stopping, multilabel log-probabilities, the stratified split and
its error, the learning rate across warm starts, dtypes and messages."""

import contextlib
import io
import pickle
import warnings

import numpy as np
import pytest
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from gdlab.errors import DivergenceError
from gdlab.estimators import GDClassifier, GDRegressor


def _iris():
    X, y = datasets.load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _quiet(method, *args):
    """``method(*args)`` without ConvergenceWarnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return method(*args)


# ---- divergence with early stopping ---------------------------------------------------------

_DIVERGING = dict(hidden_layer_sizes=100, activation="identity", solver="sgd",
                  learning_rate_init=1, max_iter=20, n_iter_no_change=10, random_state=0)


def test_divergence_with_early_stopping_keeps_the_best_weights_as_sklearn():
    X, y = datasets.load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match=r"diverged at epoch 5.*best validation score"):
        ours = GDRegressor(early_stopping=True, **_DIVERGING).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its overflow RuntimeWarnings and ConvergenceWarning
        theirs = MLPRegressor(early_stopping=True, **_DIVERGING).fit(X, y)
    last = ours.validation_scores_[-1]
    assert isinstance(last, float) and np.isnan(last) and np.isnan(theirs.validation_scores_[-1])
    assert np.isnan(ours.loss_) and np.isnan(theirs.loss_)
    # the scores before the divergence, and the best weights kept, are scikit-learn's
    n = len(ours.validation_scores_) - 1
    np.testing.assert_allclose(ours.validation_scores_[:n], theirs.validation_scores_[:n],
                               rtol=1e-9)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
    assert ours.n_iter_ == len(ours.loss_curve_) == n + 1


def test_divergence_without_early_stopping_is_still_an_error():
    X, y = datasets.load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="non-finite parameter weights") as ours:
        GDRegressor(**_DIVERGING).fit(X, y)
    assert isinstance(ours.value.__cause__, DivergenceError)
    with warnings.catch_warnings(), pytest.raises(ValueError) as theirs:
        warnings.simplefilter("ignore")
        MLPRegressor(**_DIVERGING).fit(X, y)
    assert str(ours.value) == str(theirs.value)


# ---- multilabel probabilities and their logarithms ----------------------------------------

@pytest.mark.parametrize("target", ["multilabel", "binary", "multiclass"])
def test_log_proba_is_the_log_of_proba_as_sklearn(target):
    X, Y = datasets.make_multilabel_classification(n_samples=50, random_state=0,
                                                   return_indicator=True)
    Y = {"multilabel": Y, "binary": Y[:, 0], "multiclass": Y.argmax(axis=1)}[target]
    for cls in (GDClassifier, MLPClassifier):
        clf = _quiet(cls(solver="lbfgs", hidden_layer_sizes=30, random_state=0).fit, X, Y)
        proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
        np.testing.assert_array_equal(log_proba, np.log(proba))
        np.testing.assert_array_equal(log_proba.argmax(axis=1), proba.argmax(axis=1))
        if target == "multilabel":  # the rows whose probabilities tie at 1.0
            assert (proba == 1.0).sum(axis=1).max() > 1


# ---- the stratified early-stopping split ----------------------------------------------------

def test_early_stopping_split_is_stratified_on_the_binarized_target():
    X, y = [[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1]
    messages = []
    for cls in (GDClassifier, MLPClassifier):
        with pytest.raises(ValueError, match=r"too few members are: \['True'\]") as err:
            cls(early_stopping=True).fit(X, y)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_early_stopping_split_of_string_labels_is_sklearns():
    X, y = _iris()
    y = np.array(["no", "yes"])[(y == 2).astype(int)]  # 100 against 50: stratification shows
    params = dict(hidden_layer_sizes=(6,), solver="sgd", shuffle=False, max_iter=6,
                  early_stopping=True, validation_fraction=0.3, random_state=1)
    ours = _quiet(GDClassifier(**params).fit, X, y)
    theirs = _quiet(MLPClassifier(**params).fit, X, y)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


# ---- the learning rate across warm starts ---------------------------------------------------

@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
def test_learning_rate_across_warm_starts_is_sklearns(learning_rate):
    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    params = dict(solver="sgd", hidden_layer_sizes=4, learning_rate=learning_rate,
                  max_iter=3, power_t=0.25, warm_start=True, random_state=0,
                  tol=10.0, n_iter_no_change=1)
    ours, theirs = GDClassifier(**params), MLPClassifier(**params)
    seen = {id(ours): [], id(theirs): []}
    for est, rate in ((ours, lambda e: e.learning_rate_),
                      (theirs, lambda e: e._optimizer.learning_rate)):
        for step in ("fit", "fit", "partial_fit", "partial_fit", "fit"):
            _quiet(getattr(est, step), X, y)
            seen[id(est)].append(rate(est))
    np.testing.assert_allclose(seen[id(ours)], seen[id(theirs)], rtol=1e-12)
    if learning_rate == "invscaling":  # two one-epoch fits on 4 samples: t = 8
        est = GDClassifier(**dict(params, max_iter=1))
        _quiet(est.fit, X, y)
        _quiet(est.fit, X, y)
        assert est.learning_rate_ == 0.001 / 9 ** 0.25


# ---- the rest of MLPClassifier's documented behaviour ------------------------------------------

def test_predictions_take_the_wider_dtype_as_sklearn():
    X, y = _iris()
    for gd, sk, target in ((GDClassifier, MLPClassifier, y), (GDRegressor, MLPRegressor, X[:, 0])):
        outs = []
        for cls in (gd, sk):
            est = _quiet(cls(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit,
                         X.astype(np.float32), target)
            predict = est.predict_proba if hasattr(est, "predict_proba") else est.predict
            outs.append((predict(X).dtype, predict(X.astype(np.float32)).dtype))
        assert outs[0] == outs[1] == (np.float64, np.float32)
    # gdlab's dtype parameter, when set, is the dtype of predictions too
    est = _quiet(GDRegressor(max_iter=2, dtype="float32").fit, X, y)
    assert est.predict(X).dtype == np.float32


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_gets_sklearns_message(bad):
    X, y = _iris()
    Xbad = X.copy()
    Xbad[7, 2] = bad
    for gd, sk in ((GDClassifier, MLPClassifier), (GDRegressor, MLPRegressor)):
        with pytest.raises(ValueError) as ours:
            gd().fit(Xbad, y)
        with pytest.raises(ValueError) as theirs:
            sk().fit(Xbad, y)
        first = str(theirs.value).splitlines()[0]
        assert str(ours.value).startswith(first)
        assert "row 7, column 2" in str(ours.value)
        fitted = _quiet(gd(max_iter=2).fit, X, y)
        with pytest.raises(ValueError, match=first.replace("(", r"\(").replace(")", r"\)")):
            fitted.predict(Xbad)


def _verbose_run(cls, **params):
    X, y = _iris()
    out = io.StringIO()
    est = cls(hidden_layer_sizes=(5,), max_iter=30, verbose=True, random_state=0, shuffle=False,
              solver="sgd", **params)
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if params.get("early_stopping"):  # partial_fit refuses it, in both
            est.fit(X, y)
        else:
            est.partial_fit(X, y, classes=[0, 1, 2])
            est.partial_fit(X, y)
        est.set_params(warm_start=True).fit(X, y)
    return out.getvalue()


@pytest.mark.parametrize("params", [dict(tol=0.5), dict(early_stopping=True, tol=0.5),
                                    dict(learning_rate="adaptive", momentum=0.0, tol=0.5)])
def test_verbose_output_is_sklearns(params):
    ours, theirs = _verbose_run(GDClassifier, **params), _verbose_run(MLPClassifier, **params)
    assert "did not improve" in ours and ours == theirs


@pytest.mark.parametrize("kind", ["str", "object", "category", "Int64", "boolean"])
def test_string_and_pandas_labels_are_sklearns(kind):
    pd = pytest.importorskip("pandas")
    X, y = _iris()
    names = np.array(["setosa", "versicolor", "virginica"])
    labels = {"str": names[y], "object": names[y].astype(object),
              "category": pd.Series(names[y], dtype="category"),
              "Int64": pd.Series(y, dtype="Int64"), "boolean": pd.Series(y == 1, dtype="boolean")}
    params = dict(hidden_layer_sizes=(5,), solver="sgd", shuffle=False, max_iter=4,
                  early_stopping=True, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    ours = _quiet(GDClassifier(**params).fit, frame, labels[kind])
    theirs = _quiet(MLPClassifier(**params).fit, frame, labels[kind])
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert ours.predict(frame).dtype == theirs.predict(frame).dtype
    np.testing.assert_array_equal(ours.predict(frame), theirs.predict(frame))
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
    assert list(ours.feature_names_in_) == list(theirs.feature_names_in_)


def test_pickle_mid_partial_fit_continues_exactly_with_dropout():
    X, y = _iris()
    a = GDClassifier(hidden_layer_sizes=(8,), dropout=0.3, batchnorm=True, random_state=0,
                     batch_size=30)
    a.partial_fit(X, y, classes=[0, 1, 2])
    b = pickle.loads(pickle.dumps(a))
    assert b.coefs_[0] is not a.coefs_[0]
    for est in (a, b):
        est.partial_fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    for sa, sb in zip(a.batchnorm_, b.batchnorm_):
        for key in sa:
            np.testing.assert_array_equal(sa[key], sb[key])
