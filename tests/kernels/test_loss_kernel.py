"""The compiled softmax cross-entropy of a training step (``softmax_xent_`` in
gdlab.kernels._ckernels and gdlab.kernels.numba_kernels, each in turn) against
CrossEntropyLoss's NumPy code, metrics.correct and PyTorch."""

import pickle
import warnings

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import given
from sklearn.exceptions import ConvergenceWarning

from gdlab.estimators import GDClassifier
from gdlab.kernels import builds
from gdlab.nn.losses import CrossEntropyLoss
from gdlab.nn.sequential import mlp
from gdlab.optim import Adam
from gdlab.training import Trainer, metrics

# a few units in the last place: the kernel calls the C library's exp and log where NumPy has
# its own vectorised ones, and sums the per-row losses in float64
RTOL = {np.float32: 1e-5, np.float64: 1e-13}


@pytest.fixture
def kernels(kernel_backend):
    return builds.select(True, 0)


def _numpy(z, y):
    value, g = CrossEntropyLoss().compute(z, y, None, True)
    return value, np.array(g), metrics.correct(z, y, None)


def _scale(z):
    return z.dtype.type(1.0 / z.shape[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_gradient_and_hits_match_the_numpy_loss(dtype, kernels, rng):
    z = (rng.normal(size=(200, 7)) * 4).astype(dtype)
    y = rng.integers(0, 7, 200)
    value, g, hits = CrossEntropyLoss().compute_counting(z, y, kernels)
    want_value, want_g, want_hits = _numpy(z, y)
    assert g.dtype == dtype and g.shape == z.shape
    assert value == pytest.approx(want_value, rel=RTOL[dtype])
    np.testing.assert_allclose(g, want_g, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(want_g).max())
    assert hits == want_hits and 0 < hits < 200


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernel_matches_torch(dtype, kernels, rng):
    z = (rng.normal(size=(64, 10)) * 3).astype(dtype)
    y = rng.integers(0, 10, 64)
    value, g, hits = CrossEntropyLoss().compute_counting(z, y, kernels)
    zt = torch.from_numpy(z.copy()).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(zt, torch.from_numpy(y))
    loss.backward()
    assert value == pytest.approx(loss.item(), rel=RTOL[dtype])
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.abs(g).max())
    assert hits == int((zt.argmax(dim=1) == torch.from_numpy(y)).sum())


def test_ties_count_the_first_largest_logit_as_np_argmax_does(kernels):
    z = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, 5.0, 5.0]], np.float32)
    y = np.array([2, 0, 1])  # the first row's label is a tied, later maximum: not a hit
    _, _, hits = CrossEntropyLoss().compute_counting(z, y, kernels)
    assert hits == metrics.correct(z, y, None) == 2


def test_huge_logits_stay_finite_and_nan_propagates(kernels):
    z = np.array([[1e30, -1e30, 0.0], [50.0, 1e4, -1e4]], np.float32)
    y = np.array([1, 1])
    value, g, hits = CrossEntropyLoss().compute_counting(z, y, kernels)
    want_value, want_g, want_hits = _numpy(z, y)
    assert value == pytest.approx(want_value, rel=1e-6) and np.isfinite(value)
    np.testing.assert_allclose(g, want_g, rtol=1e-6, atol=1e-12)
    assert hits == want_hits == 1
    z[0, 2] = np.nan
    value, g, _ = CrossEntropyLoss().compute_counting(z, y, kernels)
    assert np.isnan(value) and np.isnan(g[0]).all() and np.isfinite(g[1]).all()


@given(rows=st.integers(1, 40), classes=st.integers(1, 12), seed=st.integers(0, 2**16),
       spread=st.sampled_from([0.1, 3.0, 40.0]))
def test_any_shape_matches_the_numpy_loss(kernel_backend, rows, classes, seed, spread):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, classes)) * spread
    y = rng.integers(0, classes, rows)
    value, g, hits = CrossEntropyLoss().compute_counting(z, y, builds.select(True, 0))
    want_value, want_g, want_hits = _numpy(z, y)
    assert value == pytest.approx(want_value, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(g, want_g, rtol=1e-12, atol=1e-15)
    assert hits == want_hits


def test_the_kernel_takes_strided_rows_and_keeps_its_gradient_array(kernels, rng):
    wide = rng.normal(size=(30, 9)).astype(np.float32)
    z = wide[:, :5]  # rows 9 apart in memory
    y = rng.integers(0, 5, 30)
    loss = CrossEntropyLoss()
    value, g, _ = loss.compute_counting(z, y, kernels)
    np.testing.assert_allclose(g, _numpy(np.ascontiguousarray(z), y)[1], rtol=1e-5, atol=1e-8)
    assert loss.compute_counting(z, y, kernels)[1] is g  # reused: no allocation per step
    assert "_work_grad" not in pickle.loads(pickle.dumps(loss)).__dict__


def test_the_kernel_rejects_labels_and_shapes_it_cannot_take(kernels):
    z = np.zeros((4, 3), np.float32)
    g = np.empty_like(z)
    s = np.float32(0.25)
    for labels in ([0, 1, 2, 3], [0, -1, 2, 2]):
        with pytest.raises(ValueError, match="outside"):
            kernels.softmax_xent_(z, np.array(labels), g, s)
    with pytest.raises(ValueError, match="4 labels|one label per row"):
        kernels.softmax_xent_(z, np.array([0, 1, 2]), g, s)
    with pytest.raises(ValueError, match="g's columns|the shape of z"):
        kernels.softmax_xent_(z, np.zeros(4, np.int64), np.empty((4, 2), np.float32), s)


def test_the_c_kernel_names_each_problem():
    c = builds.build("c")
    if c is None:
        pytest.skip("the C kernels are not installed")
    z = np.zeros((4, 3), np.float32)
    g = np.empty_like(z)
    y = np.zeros(4, np.int64)
    with pytest.raises(ValueError, match=r"label y\[3\] = 3 is outside \[0, 3\)"):
        c.softmax_xent_(z, np.array([0, 1, 2, 3]), g, 0.25)
    with pytest.raises(TypeError, match="int64 labels"):
        c.softmax_xent_(z, y.astype(np.int32), g, 0.25)
    with pytest.raises(ValueError, match="1-D with 4 labels"):
        c.softmax_xent_(z, y[:3], g, 0.25)
    with pytest.raises(ValueError, match="contiguous"):
        c.softmax_xent_(z, np.zeros(8, np.int64)[::2], g, 0.25)
    with pytest.raises(ValueError, match="g's columns"):
        c.softmax_xent_(z, y, np.empty((4, 2), np.float32), 0.25)
    with pytest.raises(TypeError, match="same dtype"):
        c.softmax_xent_(z, y, np.empty((4, 3)), 0.25)
    with pytest.raises(ValueError, match="at least one column"):
        c.softmax_xent_(np.zeros((4, 0), np.float32), y, np.empty((4, 0), np.float32), 0.25)


def _train(X, y, fast, **kw):
    net = mlp(X.shape[1], (24,), int(y.max()) + 1, dtype="float64", seed=3, fast=fast)
    trainer = Trainer(net, CrossEntropyLoss(**kw), Adam([net.flat_parameters], lr=0.01),
                      batch_size=32, epochs=4, tol=None, seed=0)
    trainer.fit(X, y)
    return trainer, net.flat_parameters


def test_training_takes_the_kernel_and_follows_the_numpy_path(kernel_backend, rng):
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    fused, p_fused = _train(X, y, True)
    plain, p_plain = _train(X, y, False)
    assert fused.loss_kernel is not None and plain.loss_kernel is None
    np.testing.assert_allclose(p_fused, p_plain, rtol=1e-9, atol=1e-12)
    assert fused.history["accuracy"] == plain.history["accuracy"]
    np.testing.assert_allclose(fused.history["loss"], plain.history["loss"], rtol=1e-11)
    assert not np.allclose(p_plain, mlp(6, (24,), 3, dtype="float64", seed=3).flat_parameters)


def test_class_weights_keep_the_numpy_loss(kernel_backend, rng):
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0).astype(int)
    trainer, _ = _train(X, y, True, weight=[1.0, 3.0])
    assert trainer.loss_kernel is None


def test_gdclassifier_fast_switch_changes_only_rounding(kernel_backend):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    fits = {}
    for fast in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[fast] = GDClassifier(hidden_layer_sizes=(32,), max_iter=3, random_state=0,
                                      dtype="float64", fast=fast).fit(X / 16, y)
    np.testing.assert_allclose(fits[True].predict_proba(X / 16), fits[False].predict_proba(X / 16),
                               rtol=1e-8, atol=1e-10)


def test_auto_mode_takes_the_kernel_for_large_networks_or_large_batches(kernel_backend, rng):
    from gdlab.kernels import FAST_MIN_SIZE

    X = rng.normal(size=(FAST_MIN_SIZE // 4, 3))
    y = (X[:, 0] > 0).astype(int) * 2 + (X[:, 1] > 0)  # 4 classes
    chosen = {}
    # (hidden width, rows, batch): small network and batch; a batch of FAST_MIN_SIZE logits;
    # a network of FAST_MIN_SIZE parameters and more
    for hidden, rows, batch in ((5, None, 64), (5, None, "full"), (FAST_MIN_SIZE // 8, 256, 64)):
        net = mlp(3, (hidden,), 4, seed=0)
        trainer = Trainer(net, CrossEntropyLoss(), Adam([net.flat_parameters]), batch_size=batch,
                          epochs=1, tol=None, seed=0)
        trainer.fit(X[:rows], y[:rows])
        chosen[hidden, batch] = trainer.loss_kernel
    kernels = builds.select(True, 0)
    assert chosen[5, 64] is None and chosen[5, "full"] is kernels
    assert chosen[FAST_MIN_SIZE // 8, 64] is kernels
