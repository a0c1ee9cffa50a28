"""Layers against PyTorch (forward and backward) and against finite differences."""

import numpy as np
import pytest
import torch
from helpers import TOL, rel_err, to_torch, torch_linear_from_dense

import gdlab
from gdlab.nn.gradcheck import gradcheck_network
from gdlab.nn.layers import ACTIVATIONS, get_activation

TORCH_ACTIVATIONS = {
    "identity": lambda x: x,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": torch.nn.functional.leaky_relu,
    "elu": torch.nn.functional.elu,
    "softmax": lambda x: torch.softmax(x, dim=1),
}

SHAPES = [(1, 1), (3, 7), (17, 5), (64, 33)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(TORCH_ACTIVATIONS))
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_matches_torch(name, shape, dtype, rng):
    # float64 also covers the saturated tails; in float32, 1 - tanh(x)^2 near saturation has
    # cancellation error of 1e-4 in any implementation, so draw typical pre-activations there
    scale = 3.0 if dtype == np.float64 else 1.0
    x = (rng.normal(size=shape) * scale).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    layer = get_activation(name)
    out = layer.forward(x.copy())
    dx = layer.backward(g.copy())
    assert out.dtype == dtype and dx.dtype == dtype

    tx = to_torch(x, requires_grad=True)
    tout = TORCH_ACTIVATIONS[name](tx)
    tout.backward(to_torch(g))
    assert rel_err(out, tout.detach().numpy()) <= TOL[dtype]
    assert rel_err(dx, tx.grad.numpy()) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
# (1, 6, 4), (7, 1, 5) and (7, 5, 1) make one of the three products an outer product, which
# Dense computes by broadcasting instead of matmul (by einsum from 4,096 elements: the last two)
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 3, 4), (32, 20, 9), (1, 6, 4), (7, 1, 5),
                                   (7, 5, 1), (300, 1, 20), (300, 20, 1)])
def test_dense_matches_torch_linear(shape, dtype, rng):
    n, fin, fout = shape
    net = gdlab.Sequential([gdlab.Dense(fin, fout, init="torch")], dtype=dtype, seed=3)
    net.parameters()[1][...] = rng.normal(size=fout)  # a non-zero bias exercises db
    dense = net.layers[0]
    x = rng.normal(size=(n, fin)).astype(dtype)
    g = rng.normal(size=(n, fout)).astype(dtype)
    out = net.forward(x)
    dx = net.backward(g)

    lin = torch_linear_from_dense(dense)
    tx = to_torch(x, requires_grad=True)
    tout = lin(tx)
    tout.backward(to_torch(g))
    assert rel_err(out, tout.detach().numpy()) <= TOL[dtype]
    assert rel_err(dx, tx.grad.numpy()) <= TOL[dtype]
    assert rel_err(dense.dW, lin.weight.grad.numpy().T) <= TOL[dtype]
    assert rel_err(dense.db, lin.bias.grad.numpy()) <= TOL[dtype]
    assert dense.dW.dtype == dtype and dense.db.dtype == dtype


def test_leaky_relu_default_slope_is_torchs():
    assert gdlab.LeakyReLU().negative_slope == 0.01


# parameters away from their defaults (1 for alpha, 0.01 for the slope), where a formula that
# used the default instead of the parameter would still agree with torch at the defaults
ACTIVATION_PARAMETERS = {
    "ELU(alpha=0.5)": (lambda: gdlab.ELU(alpha=0.5),
                       lambda x: torch.nn.functional.elu(x, alpha=0.5)),
    "ELU(alpha=2.0)": (lambda: gdlab.ELU(alpha=2.0),
                       lambda x: torch.nn.functional.elu(x, alpha=2.0)),
    "LeakyReLU(0.2)": (lambda: gdlab.LeakyReLU(0.2),
                       lambda x: torch.nn.functional.leaky_relu(x, negative_slope=0.2)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(ACTIVATION_PARAMETERS))
@pytest.mark.parametrize("shape", [(1, 1), (17, 5)])
def test_activation_parameters_match_torch(name, shape, dtype, rng):
    make, torch_fn = ACTIVATION_PARAMETERS[name]
    x = (rng.normal(size=shape) * 2.0).astype(dtype)
    x.flat[0] = -1.5  # at least one negative input, where the parameter acts
    g = rng.normal(size=shape).astype(dtype)
    layer = make()
    out = layer.forward(x.copy())
    dx = layer.backward(g.copy())
    assert out.dtype == dtype and dx.dtype == dtype
    tx = to_torch(x, requires_grad=True)
    tout = torch_fn(tx)
    tout.backward(to_torch(g))
    assert rel_err(out, tout.detach().numpy()) <= TOL[dtype]
    assert rel_err(dx, tx.grad.numpy()) <= TOL[dtype]


def test_sigmoid_is_accurate_in_the_tails():
    x = np.array([[-700.0, -40.0, 0.0, 40.0, 745.0]])
    out = gdlab.Sigmoid().forward(x)
    expected = torch.sigmoid(torch.from_numpy(x)).numpy()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "identity"])
@pytest.mark.parametrize("task", ["classification", "binary", "regression"])
def test_three_hidden_layers_pass_gradcheck(activation, task):
    report = gradcheck_network((6, 5, 4), activation, task=task, n_inputs=4, n_outputs=3,
                               n_samples=7, seed=1)
    assert len(report.entries) == 8  # W and b of 4 Dense layers
    assert report.max_rel_error <= 1e-6, str(report)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_activation_parameters_pass_gradcheck(loss, rng):
    net = gdlab.Sequential([gdlab.Dense(4, 6), gdlab.ELU(alpha=0.5), gdlab.Dense(6, 5),
                            gdlab.LeakyReLU(0.2), gdlab.Dense(5, 4), gdlab.ELU(alpha=2.0),
                            gdlab.Dense(4, 3)], dtype="float64", seed=2)
    X = rng.normal(size=(7, 4)) * 2.0
    y = rng.integers(0, 3, size=7) if loss == "cross_entropy" else rng.normal(size=(7, 3))
    loss_fn = gdlab.CrossEntropyLoss() if loss == "cross_entropy" else gdlab.MSELoss()
    report = gdlab.gradcheck(net, loss_fn, X, y, check_input=True)
    assert report.max_rel_error <= 1e-6, str(report)


def test_softmax_output_with_mse_passes_gradcheck(rng):
    net = gdlab.Sequential(
        [gdlab.Dense(3, 4), gdlab.Tanh(), gdlab.Dense(4, 3), gdlab.Softmax()], dtype="float64"
    )
    X = rng.normal(size=(6, 3))
    y = rng.random(size=(6, 3))
    report = gdlab.gradcheck(net, gdlab.MSELoss(), X, y, check_input=True)
    assert report.max_rel_error <= 1e-6, str(report)


def test_every_activation_name_builds_a_layer():
    for name in ACTIVATIONS:
        assert isinstance(get_activation(name), gdlab.Layer)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        get_activation("swishy")
    with pytest.raises(ValueError, match="unknown activation"):
        gdlab.nn.sequential.mlp(4, [3], 2, activation="nope")


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4"])
def test_dense_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        gdlab.Dense(bad, 3)


@pytest.mark.parametrize("sizes", [(8, 3, 8), (3, 8, 1)])
def test_work_arrays_follow_the_batch_size(sizes, rng):
    """Training-mode forward/backward reuse arrays across steps; a batch of another size (the
    short last batch of an epoch, then a full one again) must still give torch's numbers."""
    net = gdlab.Sequential([gdlab.Dense(4, 6, init="torch"), gdlab.ReLU(),
                            gdlab.Dense(6, 2, init="torch")], dtype="float64", seed=1)
    lin1, lin2 = (torch_linear_from_dense(layer) for layer in net.layers[::2])
    for n in sizes:
        x = rng.normal(size=(n, 4))
        g = rng.normal(size=(n, 2))
        out = net.forward(x, training=True)
        dx = net.backward(g)
        tx = to_torch(x, requires_grad=True)
        for lin in (lin1, lin2):
            lin.zero_grad()
        tout = lin2(torch.relu(lin1(tx)))
        tout.backward(to_torch(g))
        assert out.shape == (n, 2) and dx.shape == (n, 4)
        assert rel_err(out, tout.detach().numpy()) <= TOL[np.float64]
        assert rel_err(dx, tx.grad.numpy()) <= TOL[np.float64]
        assert rel_err(net.layers[0].dW, lin1.weight.grad.numpy().T) <= TOL[np.float64]
