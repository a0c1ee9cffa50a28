"""Fused Dense + ReLU kernels (gdlab.nn.fused; gdlab.kernels._ckernels and
gdlab.kernels.numba_kernels, each in turn)
against the NumPy path, finite differences and PyTorch."""

import os
import pickle
import subprocess
import sys

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from helpers import TOL, rel_err, to_torch, torch_linear_from_dense
from hypothesis import given, settings

import gdlab
from gdlab.nn import fused as fusion
from gdlab.nn.gradcheck import gradcheck
from gdlab.nn.losses import CrossEntropyLoss, MSELoss
from gdlab.nn.sequential import mlp
from gdlab.optim import SGD, Adam
from gdlab.training import Trainer

pytestmark = pytest.mark.usefixtures("kernel_backend")

# (hidden layers, outputs): one output takes the outer-product kernel, more the general one
SHAPES = [((16,), 1), ((16, 9), 3), ((7, 5, 6), 1), ((4, 1, 3), 2)]


def _pass(net, X, g):
    out = net.forward(X, training=True).copy()
    dX = net.backward(g)
    return out, dX.copy(), [a.copy() for a in net.gradients()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("hidden", "n_out"), SHAPES)
def test_fused_pass_equals_the_numpy_path(hidden, n_out, dtype, rng):
    X = rng.normal(size=(37, 6)).astype(dtype)
    g = rng.normal(size=(37, n_out)).astype(dtype)
    fused, plain = mlp(6, hidden, n_out, dtype=dtype, seed=3), mlp(6, hidden, n_out, dtype=dtype, seed=3)
    fused.fast, plain.fast = True, False
    for b in fused.parameters()[1::2]:  # non-zero biases, and the same in both
        b[...] = rng.normal(size=b.shape)
    plain.flat_parameters[...] = fused.flat_parameters
    out_f, dX_f, grads_f = _pass(fused, X, g)
    out_p, dX_p, grads_p = _pass(plain, X, g)
    assert fused.fused_plan.used and plain.fused_plan is None  # the fused path really ran
    # the same float operations in the same order give the same bits; sums the kernels form
    # in another order than BLAS (the bias gradients of the fused pairs and, with one output,
    # the output and the head's gradients) agree to rounding
    head = f"{len(hidden) + 1}"
    summed = {f"b{k + 1}" for k in range(len(hidden))} | ({"W" + head, "b" + head} if n_out == 1 else set())
    eps = np.finfo(dtype).eps
    if n_out == 1:
        np.testing.assert_allclose(out_f, out_p, rtol=0, atol=hidden[-1] * eps * np.abs(out_p).max())
    else:
        np.testing.assert_array_equal(out_f, out_p)
    np.testing.assert_array_equal(dX_f, dX_p)
    for name, a, b in zip(fused.parameter_names(), grads_f, grads_p, strict=True):
        assert a.dtype == dtype
        if name in summed:
            # a sum of n = 37 rows: n eps bounds the rounding of either order
            np.testing.assert_allclose(a, b, rtol=0, atol=37 * eps * np.abs(b).max())
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("hidden", "n_out"), SHAPES)
def test_fused_pass_matches_torch(hidden, n_out, dtype, rng):
    net = mlp(5, hidden, n_out, dtype=dtype, seed=1, fast=True)
    for b in net.parameters()[1::2]:
        b[...] = rng.normal(size=b.shape)
    X = rng.normal(size=(23, 5)).astype(dtype)
    g = rng.normal(size=(23, n_out)).astype(dtype)
    out, dX, grads = _pass(net, X, g)
    tnet = torch.nn.Sequential(*[torch_linear_from_dense(layer) if isinstance(layer, gdlab.Dense)
                                 else torch.nn.ReLU() for layer in net.layers])
    tX = to_torch(X, requires_grad=True)
    tout = tnet(tX)
    tout.backward(to_torch(g))
    assert rel_err(out, tout.detach().numpy()) <= TOL[dtype]
    assert rel_err(dX, tX.grad.numpy()) <= TOL[dtype]
    tgrads = [a for m in tnet if isinstance(m, torch.nn.Linear)
              for a in (m.weight.grad.numpy().T, m.bias.grad.numpy())]
    for ours, theirs in zip(grads, tgrads, strict=True):
        assert rel_err(ours, theirs) <= TOL[dtype]


@pytest.mark.parametrize("n_out", [1, 3])
def test_fused_gradients_pass_the_gradient_check(n_out, rng):
    net = mlp(4, (6, 5), n_out, seed=2, fast=True)
    for b in net.parameters()[1::2]:
        b[...] = rng.normal(size=b.shape)
    X = rng.normal(size=(9, 4))
    if n_out == 1:
        report = gradcheck(net, MSELoss(), X, rng.normal(size=(9, 1)), check_input=True)
    else:
        report = gradcheck(net, CrossEntropyLoss(), X, rng.integers(0, n_out, 9), check_input=True)
    assert report.passed, report
    assert report.max_rel_error <= 1e-6


def test_non_finite_gradients_propagate_through_dead_units_as_in_numpy(rng):
    X = rng.normal(size=(12, 3))
    g = rng.normal(size=(12, 1))
    g[4, 0] = np.nan
    g[7, 0] = np.inf
    nets = [mlp(3, (8,), 1, dtype="float64", seed=0, fast=fast) for fast in (True, False)]
    with np.errstate(invalid="ignore"):  # inf * 0, as the training loop allows it
        results = [_pass(net, X, g) for net in nets]
    for a, b in zip(results[0][2], results[1][2], strict=True):
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
    assert not np.isfinite(results[0][2][0]).all()


@pytest.mark.parametrize("n_out", [1, 2])
def test_every_relu_of_a_deep_network_runs_fused(n_out, rng, monkeypatch):
    net = mlp(6, (8, 7, 6), n_out, seed=0, fast=True)

    def unfused(*args, **kwargs):
        raise AssertionError("a ReLU ran its NumPy code on the fused path")
    monkeypatch.setattr(gdlab.nn.layers.ReLU, "forward", unfused)
    monkeypatch.setattr(gdlab.nn.layers.ReLU, "backward", unfused)
    net.forward(rng.normal(size=(5, 6)), training=True)
    net.backward(rng.normal(size=(5, n_out)))


def test_second_backward_after_a_fused_forward_is_an_error(rng):
    net = mlp(3, (4,), 2, seed=0, fast=True)
    X, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    net.forward(X, training=True)
    net.backward(g)
    with pytest.raises(RuntimeError, match="already called after this forward"):
        net.backward(g)
    net.forward(X, training=True)  # a new forward makes backward valid again
    net.backward(g)


def test_only_training_mode_and_dense_relu_dense_runs_are_fused(rng):
    layers = [gdlab.Dense(3, 4), gdlab.ReLU(), gdlab.Dense(4, 4), gdlab.ReLU(),
              gdlab.Dropout(0.5), gdlab.Dense(4, 2), gdlab.ReLU()]
    assert fusion.fusable_pairs(layers) == [0]  # not before Dropout, nor the output ReLU
    assert fusion.fusable_pairs([gdlab.Dense(3, 4, bias=False), gdlab.ReLU(), gdlab.Dense(4, 1)]) == []
    net = mlp(3, (4,), 2, seed=0, fast=True)
    net.forward(rng.normal(size=(5, 3)), training=False)
    assert net.fused_plan is None


def test_the_build_under_test_is_the_one_that_runs(kernel_backend):
    layers = mlp(10, (64,), 1).layers
    kernels = fusion.kernels_for(True, layers, fusion.fusable_pairs(layers), 1, 1)
    assert kernels.__name__ == gdlab.kernels.BACKENDS[kernel_backend]


def test_auto_mode_fuses_large_networks_and_large_batches_only():
    layers = mlp(10, (64,), 1).layers
    pairs = fusion.fusable_pairs(layers)
    assert fusion.kernels_for(None, layers, pairs, 100, 769) is None
    assert fusion.kernels_for(None, layers, pairs, 1024, 769) is not None  # 1024 x 64 = 65536
    assert fusion.kernels_for(None, layers, pairs, 1, 65536) is not None
    assert fusion.kernels_for(False, layers, pairs, 10**6, 10**6) is None
    assert fusion.kernels_for(True, layers, pairs, 1, 1) is not None


@pytest.mark.parametrize("value", ["yes", 1, 0.5])
def test_fast_must_be_none_or_a_bool(value):
    with pytest.raises(ValueError, match="fast must be None, True or False"):
        mlp(2, (3,), 1, fast=value)
    net = mlp(2, (3,), 1)
    with pytest.raises(ValueError, match="fast must be None, True or False"):
        net.fast = value
    assert net.fast is None


@pytest.mark.parametrize(("setting", "message"), [
    ("", "fast=True needs gdlab's compiled kernels: the C build"),
    ("c", "fast=True needs gdlab's compiled kernels: gdlab.kernels._ckernels (GDLAB_FAST=c) could not be "
          "imported"),
])
def test_fast_true_without_kernels_is_a_clear_error(setting, message):
    code = ("import sys; sys.modules['numba'] = sys.modules['gdlab.kernels._ckernels'] = None\n"
            "import numpy as np\nfrom gdlab.nn.sequential import mlp\n"
            "net = mlp(2, (3,), 1, fast=True)\n"
            "try:\n    net.forward(np.ones((4, 2)), training=True)\n"
            "except ImportError as e:\n    print('ImportError:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "GDLAB_FAST": setting})
    assert "ImportError: " + message in out.stdout


@pytest.mark.parametrize("n_out", [1, 2])
def test_network_pickles_between_a_fused_forward_and_its_backward(n_out, rng):
    net = mlp(3, (4,), n_out, seed=0, fast=True)
    X, g = rng.normal(size=(5, 3)), rng.normal(size=(5, n_out))
    net.forward(X, training=True)
    copy = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(copy.flat_parameters, net.flat_parameters)
    assert copy.fast is True
    np.testing.assert_array_equal(copy.backward(g), net.backward(g))
    np.testing.assert_array_equal(copy.flat_gradients, net.flat_gradients)


@pytest.mark.parametrize(("opt", "batch"), [(SGD, "full"), (Adam, 16)])
def test_training_with_fused_kernels_follows_the_numpy_path(opt, batch, rng):
    X = rng.normal(size=(200, 5))
    y = np.sin(X @ rng.normal(size=(5, 1)))
    params = []
    for fast in (True, False):
        net = mlp(5, (32, 16), 1, dtype="float64", seed=4, fast=fast)
        Trainer(net, MSELoss(), opt([net.flat_parameters], lr=0.01), batch_size=batch,
                epochs=5, tol=None, seed=0).fit(X, y)
        params.append(net.flat_parameters)
    # the only difference is the order of the bias-gradient sums: float64 rounding
    np.testing.assert_allclose(params[0], params[1], rtol=1e-9, atol=1e-12)
    assert not np.array_equal(params[0], mlp(5, (32, 16), 1, dtype="float64", seed=4).flat_parameters)


@given(hidden=st.lists(st.integers(1, 12), min_size=1, max_size=3), n_out=st.integers(1, 3),
       rows=st.integers(1, 30), seed=st.integers(0, 2**16))
@settings(max_examples=40)
def test_any_shape_fused_equals_numpy_to_rounding(hidden, n_out, rows, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    g = rng.normal(size=(rows, n_out))
    results = []
    for fast in (True, False):
        net = mlp(3, hidden, n_out, dtype="float64", seed=seed % 1000, fast=fast)
        for b in net.parameters()[1::2]:
            b[...] = np.random.default_rng(seed + 1).normal(size=b.shape)
        results.append(_pass(net, X, g))
    (out_f, dX_f, grads_f), (out_p, dX_p, grads_p) = results
    np.testing.assert_allclose(out_f, out_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX_f, dX_p, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads_f, grads_p, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
