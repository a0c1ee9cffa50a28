"""Sequential: the flat buffers, the public contract, torch equivalence, seeds and bad input."""

import copy
import pickle

import numpy as np
import pytest
import torch
from helpers import TOL, rel_err, to_torch, torch_linear_from_dense

import gdlab
from gdlab.nn.sequential import mlp

TORCH_ACT = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
             "leaky_relu": torch.nn.LeakyReLU, "elu": torch.nn.ELU}


def small_net(dtype="float32", seed=0):
    return gdlab.Sequential(
        [gdlab.Dense(4, 5), gdlab.ReLU(), gdlab.Dense(5, 3), gdlab.Tanh(), gdlab.Dense(3, 2)],
        dtype=dtype, seed=seed,
    )


def test_parameters_are_views_into_one_flat_buffer_in_public_order():
    net = small_net()
    params, grads = net.parameters(), net.gradients()
    assert [p.shape for p in params] == [(4, 5), (5,), (5, 3), (3,), (3, 2), (2,)]
    assert net.parameter_names() == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [g.shape for g in grads] == [p.shape for p in params]
    for p in params:
        assert np.shares_memory(p, net.flat_parameters)
    for g in grads:
        assert np.shares_memory(g, net.flat_gradients)
    params[2][1, 1] = 42.0  # writing through a view changes the flat buffer
    assert 42.0 in net.flat_parameters
    assert net.n_parameters == 4 * 5 + 5 + 5 * 3 + 3 + 3 * 2 + 2


def test_weights_random_biases_zero_by_default():
    net = small_net()
    W1, b1 = net.parameters()[:2]
    assert np.all(b1 == 0)
    assert np.unique(W1).size == W1.size


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", sorted(TORCH_ACT))
def test_stack_matches_torch_sequential(act, dtype, rng):
    net = mlp(6, [7, 5, 4], 3, act, dtype=dtype, seed=4)
    for b in net.parameters()[1::2]:
        b[...] = rng.normal(size=b.shape)
    X = rng.normal(size=(11, 6)).astype(dtype)
    g = rng.normal(size=(11, 3)).astype(dtype)
    out = net.forward(X)
    dX = net.backward(g)

    modules = []
    for layer in net.layers:
        modules.append(torch_linear_from_dense(layer) if isinstance(layer, gdlab.Dense)
                       else TORCH_ACT[act]())
    tnet = torch.nn.Sequential(*modules)
    tX = to_torch(X, requires_grad=True)
    tout = tnet(tX)
    tout.backward(to_torch(g))
    assert out.dtype == dtype and dX.dtype == dtype
    assert rel_err(out, tout.detach().numpy()) <= TOL[dtype]
    assert rel_err(dX, tX.grad.numpy()) <= TOL[dtype]
    tgrads = []
    for m in tnet:
        if isinstance(m, torch.nn.Linear):
            tgrads += [m.weight.grad.numpy().T, m.bias.grad.numpy()]
    for ours, theirs in zip(net.gradients(), tgrads, strict=True):
        assert ours.dtype == dtype
        assert rel_err(ours, theirs) <= TOL[dtype]


def test_backward_can_skip_the_input_gradient(rng):
    net = small_net("float64")
    X = rng.normal(size=(8, 4))
    g = rng.normal(size=(8, 2))
    net.forward(X)
    assert net.backward(g).shape == X.shape
    full = net.flat_gradients.copy()
    net.flat_gradients[...] = np.nan
    net.forward(X)
    assert net.backward(g, input_grad=False) is None
    np.testing.assert_array_equal(net.flat_gradients, full)


def test_backward_writes_rather_than_accumulates(rng):
    net = small_net("float64")
    X, g = rng.normal(size=(8, 4)), rng.normal(size=(8, 2))
    net.forward(X)
    net.backward(g)
    once = net.flat_gradients.copy()
    net.forward(X)
    net.backward(g)
    np.testing.assert_array_equal(net.flat_gradients, once)


def test_float32_is_kept_everywhere(rng):
    net = small_net("float32")
    assert net.flat_parameters.dtype == np.float32 and net.flat_gradients.dtype == np.float32
    out = net.forward(rng.normal(size=(3, 4)).astype(np.float32))
    assert out.dtype == np.float32
    dX = net.backward(np.ones((3, 2), dtype=np.float32))
    assert dX.dtype == np.float32
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_float64_on_request():
    net = small_net("float64")
    assert net.forward(np.ones((2, 4))).dtype == np.float64
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        small_net("float16")


def test_same_seed_same_network_bit_for_bit(rng):
    X = rng.normal(size=(5, 4)).astype(np.float32)
    a, b = small_net(seed=7), small_net(seed=7)
    np.testing.assert_array_equal(a.flat_parameters, b.flat_parameters)
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
    c = small_net(seed=8)
    assert not np.array_equal(a.flat_parameters, c.flat_parameters)


def test_dropout_does_not_change_initial_weights():
    plain = mlp(4, [6], 2, seed=3)
    with_dropout = mlp(4, [6], 2, seed=3, dropout=0.5)
    np.testing.assert_array_equal(plain.flat_parameters, with_dropout.flat_parameters)


def test_wrong_number_of_features_is_rejected():
    with pytest.raises(ValueError, match="X has 3 features, but the network expects 4"):
        small_net().forward(np.zeros((2, 3)))


def test_1d_and_empty_input_are_rejected():
    with pytest.raises(ValueError, match="X must be 2-D"):
        small_net().forward(np.zeros(4))
    with pytest.raises(ValueError, match="X is empty"):
        small_net().forward(np.zeros((0, 4)))
    with pytest.raises(TypeError, match="X must be numeric"):
        small_net().forward(np.array([["a", "b", "c", "d"]]))


def test_layer_sizes_must_chain():
    with pytest.raises(ValueError, match="expects 6 input features but the layer before it gives 5"):
        gdlab.Sequential([gdlab.Dense(4, 5), gdlab.ReLU(), gdlab.Dense(6, 2)])


def test_non_layers_are_rejected():
    with pytest.raises(TypeError, match="not a gdlab Layer"):
        gdlab.Sequential([gdlab.Dense(2, 2), "relu"])
    with pytest.raises(ValueError, match="at least one layer"):
        gdlab.Sequential([])


def test_state_dict_round_trip_and_shape_checks(rng):
    a, b = small_net(seed=1), small_net(seed=2)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.flat_parameters, b.flat_parameters)
    bad = a.state_dict()
    bad["params"] = bad["params"][:-1]
    with pytest.raises(ValueError, match="params has shape"):
        b.load_state_dict(bad)


def test_clone_is_independent_and_converts_dtype(rng):
    net = small_net("float32")
    twin = net.clone("float64")
    assert twin.dtype == np.float64
    np.testing.assert_allclose(twin.flat_parameters, net.flat_parameters.astype(np.float64))
    X = rng.normal(size=(3, 4))
    np.testing.assert_allclose(net.forward(X), twin.forward(X), rtol=1e-5, atol=1e-6)
    twin.flat_parameters[...] = 0
    assert np.any(net.flat_parameters != 0)


def test_predict_runs_in_eval_mode_and_mode_switches(rng):
    net = small_net()
    assert net.training
    net.eval()
    assert not net.training
    net.train()
    assert net.training
    # predict on a network in training mode: Dropout is the identity, BatchNorm uses its
    # running statistics, and the network's mode stays as it was
    net = gdlab.Sequential([gdlab.Dense(4, 6), gdlab.BatchNorm(6), gdlab.ReLU(), gdlab.Dropout(0.5),
                            gdlab.Dense(6, 3)], dtype="float64", seed=0)
    X = rng.normal(size=(8, 4))
    for _ in range(3):
        net.forward(X * 2.0 + 1.0, training=True)  # running statistics away from (0, 1)
    dense, bn = net.layers[0], net.layers[1]
    h = (X @ dense.W + dense.b - bn.running_mean) / np.sqrt(bn.running_var + bn.eps)
    want = np.maximum(h * bn.gamma + bn.beta, 0) @ net.layers[4].W + net.layers[4].b
    stats = bn.running_mean.copy(), bn.running_var.copy()
    out = net.predict(X)
    assert net.training
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(out, net.forward(X, training=False))
    np.testing.assert_array_equal(net.predict(X), out)  # no random draws
    np.testing.assert_array_equal(bn.running_mean, stats[0])  # predict updates no statistics
    np.testing.assert_array_equal(bn.running_var, stats[1])
    net.eval()
    np.testing.assert_array_equal(net.predict(X), out)
    assert not np.allclose(net.forward(X, training=True), want)  # training mode would differ


def test_mlp_validates_its_arguments():
    with pytest.raises(ValueError, match="activation has 2 entries for 3 hidden layers"):
        mlp(4, [3, 3, 3], 2, ["relu", "tanh"])
    with pytest.raises(ValueError, match="hidden layer sizes must be positive"):
        mlp(4, [3, 0], 2)
    net = mlp(4, [3, 5], 2, ["relu", "tanh"])
    assert [type(x).__name__ for x in net.layers] == ["Dense", "ReLU", "Dense", "Tanh", "Dense"]


def test_evaluation_outputs_are_fresh_and_training_outputs_last_until_the_next_forward(rng):
    net = mlp(4, [5], 3, seed=0)
    X1 = rng.normal(size=(6, 4)).astype(np.float32)
    X2 = rng.normal(size=(6, 4)).astype(np.float32)
    kept = net.forward(X1, training=False)
    expected = kept.copy()
    net.forward(X2, training=False)
    net.forward(X2, training=True)
    np.testing.assert_array_equal(kept, expected)  # predictions are the caller's to keep
    out = net.forward(X1, training=True)
    np.testing.assert_array_equal(out, expected)  # same numbers in both modes (no dropout)
    again = net.forward(X2, training=True)
    np.testing.assert_array_equal(again, net.forward(X2, training=False))


@pytest.mark.parametrize("fast", [False, True])
def test_backward_casts_the_gradient_to_the_network_dtype(fast, rng):
    net = mlp(6, (8, 7), 1, seed=0, fast=fast)  # float32
    X, g = rng.normal(size=(5, 6)), rng.normal(size=(5, 1))
    net.forward(X, training=True)
    dX = net.backward(g)
    grads = [a.copy() for a in net.gradients()]
    net.forward(X, training=True)
    dX32 = net.backward(g.astype(np.float32))
    assert dX.dtype == np.float32
    np.testing.assert_array_equal(dX, dX32)
    for a, b in zip(grads, net.gradients()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("duplicate", [lambda n: pickle.loads(pickle.dumps(n)), copy.deepcopy],
                         ids=["pickle", "deepcopy"])
def test_a_copied_network_trains_like_the_original(duplicate, rng):
    from gdlab.nn.losses import MSELoss
    from gdlab.optim import SGD
    from gdlab.training import Trainer

    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    net = mlp(3, (5,), 1, seed=0)
    twin = duplicate(net)
    for p, q in zip(twin.parameters(), twin.gradients(), strict=True):
        assert np.shares_memory(p, twin.flat_parameters) and np.shares_memory(q, twin.flat_gradients)
    assert not np.shares_memory(twin.flat_parameters, net.flat_parameters)
    for n in (net, twin):
        Trainer(n, MSELoss(), SGD([n.flat_parameters], lr=0.1), batch_size=8, epochs=2,
                tol=None, seed=0).fit(X, y)
    np.testing.assert_array_equal(twin.predict(X), net.predict(X))
    assert not np.array_equal(net.predict(X), mlp(3, (5,), 1, seed=0).predict(X))


def test_a_layer_listed_twice_is_rejected():
    """One Dense at two places would share its caches: the fused head wrote over the ReLU's
    activation and the gradients differed from fast=False."""
    dense = gdlab.Dense(4, 4)
    with pytest.raises(ValueError, match=r"layer 2 is the same object as layer 0 \(Dense"):
        gdlab.Sequential([dense, gdlab.ReLU(), dense, gdlab.ReLU(), gdlab.Dense(4, 1)])
    relu = gdlab.ReLU()
    with pytest.raises(ValueError, match="layer 3 is the same object as layer 1"):
        gdlab.Sequential([gdlab.Dense(4, 4), relu, gdlab.Dense(4, 4), relu])
    net = gdlab.Sequential([copy.deepcopy(dense), gdlab.ReLU(), copy.deepcopy(dense)])
    assert len(net.parameters()) == 4


@pytest.mark.parametrize("fast", [False, True])
def test_backward_names_a_gradient_that_does_not_fit_the_last_forward(fast, rng):
    from gdlab.kernels import builds

    if fast and builds.backend() is None:
        pytest.skip("no compiled kernels")
    net = mlp(3, (16,), 1, fast=fast)
    with pytest.raises(RuntimeError, match="backward needs a forward first"):
        net.backward(np.ones((7, 1)))
    for bad in ((1, 1), (9, 1), (7, 2), (7,)):
        net.forward(rng.normal(size=(7, 3)), training=True)
        with pytest.raises(ValueError, match=rf"grad_out has shape \({bad[0]},.*the last "
                                             r"forward's output has shape \(7, 1\)"):
            net.backward(np.ones(bad))
    out = net.forward(rng.normal(size=(7, 3)), training=True)
    misaligned = np.frombuffer(bytearray(4 * 7 + 1), np.float32, offset=1, count=7).reshape(7, 1)
    misaligned[:] = 1.0
    dX = net.backward(misaligned)  # a copy where the kernels need one
    assert dX.shape == (7, 3) and out.shape == (7, 1)
