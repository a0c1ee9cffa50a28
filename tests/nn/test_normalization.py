"""BatchNorm and Dropout: PyTorch as the oracle for numbers, finite differences for gradients."""

import numpy as np
import pytest
import torch

from gdlab import gradcheck
from gdlab.nn.dropout import Dropout
from gdlab.nn.layers import Dense, ReLU, Tanh
from gdlab.nn.losses import CrossEntropyLoss, MSELoss
from gdlab.nn.normalization import BatchNorm
from gdlab.nn.sequential import Sequential, mlp
from gdlab.optim import SGD

TOL = {"float64": 1e-9, "float32": 1e-5}
TORCH_DTYPE = {"float64": torch.float64, "float32": torch.float32}


def assert_close(actual, expected, rtol, what=""):
    """Worst absolute difference relative to the scale of the expected array."""
    actual = np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert actual.shape == expected.shape, what
    scale = np.max(np.abs(expected))
    err = np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)))
    assert err <= rtol * scale, f"{what}: max error {err:.3e} vs scale {scale:.3e}"


# ---- BatchNorm against torch.nn.BatchNorm1d ------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.3, 1e-3)])
def test_batchnorm_matches_torch_train_and_eval(dtype, momentum, eps):
    rng = np.random.default_rng(0)
    F = 5
    net = Sequential([BatchNorm(F, momentum=momentum, eps=eps)], dtype=dtype)
    bn = net.layers[0]
    ref = torch.nn.BatchNorm1d(F, momentum=momentum, eps=eps, dtype=TORCH_DTYPE[dtype])
    gamma, beta = rng.normal(size=F), rng.normal(size=F)
    bn.gamma[...] = gamma
    bn.beta[...] = beta
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(gamma))
        ref.bias.copy_(torch.tensor(beta))
    tol = TOL[dtype]

    # a batch of 2 makes dX pure cancellation (x_hat = +-1): only float64 resolves it
    sizes = [8, 3, 16, 2] if dtype == "float64" else [8, 3, 16, 4]
    for step, n in enumerate(sizes):
        # shifted, scaled data so that the running statistics move away from 0 and 1
        X = (rng.normal(size=(n, F)) * rng.uniform(0.5, 3.0, size=F) + 2.0).astype(dtype)
        G = rng.normal(size=(n, F)).astype(dtype)
        out = net.forward(X, training=True)
        dX = net.backward(G)
        assert out.dtype == dX.dtype == bn.running_mean.dtype == np.dtype(dtype)

        ref.train()
        Xt = torch.tensor(X, requires_grad=True)
        ref.zero_grad()
        out_t = ref(Xt)
        out_t.backward(torch.tensor(G))
        assert_close(out, out_t, tol, f"train output, step {step}")
        assert_close(dX, Xt.grad, tol, f"train dX, step {step}")
        assert_close(bn.dgamma, ref.weight.grad, tol, f"dgamma, step {step}")
        assert_close(bn.dbeta, ref.bias.grad, tol, f"dbeta, step {step}")
        assert_close(bn.running_mean, ref.running_mean, tol, f"running_mean, step {step}")
        assert_close(bn.running_var, ref.running_var, tol, f"running_var, step {step}")

    # evaluation mode: running statistics, which must not move
    X = (rng.normal(size=(6, F)) + 1.0).astype(dtype)
    G = rng.normal(size=(6, F)).astype(dtype)
    before = {k: v.copy() for k, v in net.buffers().items()}
    out = net.forward(X, training=False)
    dX = net.backward(G)
    ref.eval()
    Xt = torch.tensor(X, requires_grad=True)
    ref.zero_grad()
    out_t = ref(Xt)
    out_t.backward(torch.tensor(G))
    assert_close(out, out_t, tol, "eval output")
    assert_close(dX, Xt.grad, tol, "eval dX")
    assert_close(bn.dgamma, ref.weight.grad, tol, "eval dgamma")
    assert_close(bn.dbeta, ref.bias.grad, tol, "eval dbeta")
    for k, v in net.buffers().items():
        np.testing.assert_array_equal(v, before[k])


def test_batchnorm_without_affine_matches_torch():
    rng = np.random.default_rng(1)
    net = Sequential([BatchNorm(4, affine=False)], dtype="float64")
    assert net.n_parameters == 0 and net.parameters() == []
    ref = torch.nn.BatchNorm1d(4, affine=False, dtype=torch.float64)
    X = rng.normal(size=(7, 4)) * 3 - 1
    G = rng.normal(size=(7, 4))
    out = net.forward(X, training=True)
    dX = net.backward(G)
    Xt = torch.tensor(X, requires_grad=True)
    out_t = ref(Xt)
    out_t.backward(torch.tensor(G))
    assert_close(out, out_t, 1e-9, "output")
    assert_close(dX, Xt.grad, 1e-9, "dX")
    assert_close(net.buffers()["0.running_var"], ref.running_var, 1e-9, "running_var")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sequential_with_batchnorm_matches_torch_model(dtype):
    rng = np.random.default_rng(2)
    net = Sequential([Dense(4, 6), BatchNorm(6), ReLU(), Dense(6, 3)], dtype=dtype, seed=3)
    assert net.parameter_names() == ["W1", "b1", "gamma1", "beta1", "W2", "b2"]
    ref = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 3)
    ).to(TORCH_DTYPE[dtype])
    bn = net.layers[1]
    bn.gamma[...] = rng.uniform(0.5, 1.5, size=6)
    bn.beta[...] = rng.normal(size=6)
    ref_params = [ref[0].weight, ref[0].bias, ref[1].weight, ref[1].bias, ref[3].weight,
                  ref[3].bias]
    # our W is (in, out): torch's weight transposed
    transposed = [True, False, False, False, True, False]
    with torch.no_grad():
        for p, t, tr in zip(net.parameters(), ref_params, transposed):
            t.copy_(torch.tensor(p.T if tr else p))
    tol = TOL[dtype]
    lr = 0.05
    for step in range(4):
        X = (rng.normal(size=(10, 4)) * 2 + 0.5).astype(dtype)
        G = rng.normal(size=(10, 3)).astype(dtype)
        out = net.forward(X, training=True)
        dX = net.backward(G)
        ref.train()
        ref.zero_grad()
        Xt = torch.tensor(X, requires_grad=True)
        out_t = ref(Xt)
        out_t.backward(torch.tensor(G))
        assert_close(out, out_t, tol, f"output, step {step}")
        assert_close(dX, Xt.grad, tol, f"dX, step {step}")
        grad_scale = np.max(np.abs(net.flat_gradients))
        for name, g, t, tr in zip(net.parameter_names(), net.gradients(), ref_params, transposed):
            assert g.dtype == np.dtype(dtype)
            if name == "b1":
                # BatchNorm removes the mean of its input: the bias before it has no effect,
                # its exact gradient is 0 and both frameworks only return rounding noise
                assert np.max(np.abs(g)) <= tol * grad_scale
                assert np.max(np.abs(t.grad.numpy())) <= tol * grad_scale
                continue
            assert_close(g, t.grad.T if tr else t.grad, tol, f"grad {name}, step {step}")
        assert_close(bn.running_mean, ref[1].running_mean, tol, f"running_mean, step {step}")
        assert_close(bn.running_var, ref[1].running_var, tol, f"running_var, step {step}")
        # one plain gradient step on both, so later steps see different weights
        net.flat_parameters[...] -= lr * net.flat_gradients
        with torch.no_grad():
            for t in ref_params:
                t -= lr * t.grad
    X = rng.normal(size=(5, 4)).astype(dtype)
    ref.eval()
    assert_close(net.predict(X), ref(torch.tensor(X)), tol, "eval output")


# ---- gradients by finite differences -------------------------------------------------------
def test_gradcheck_batchnorm_training_mode():
    rng = np.random.default_rng(4)
    # no bias before BatchNorm: its exact gradient is 0, which a relative check cannot rate
    net = Sequential([Dense(4, 5, bias=False), BatchNorm(5), Tanh(), Dense(5, 3)],
                     dtype="float64", seed=1)
    net.layers[1].gamma[...] = rng.uniform(0.5, 2.0, size=5)
    net.layers[1].beta[...] = rng.normal(size=5)
    X = rng.normal(size=(8, 4))
    y = rng.integers(0, 3, size=8)
    report = gradcheck(net, CrossEntropyLoss(), X, y, check_input=True)
    assert report.passed, str(report)
    assert {e.name for e in report.entries} >= {"gamma1", "beta1", "X"}


def test_gradcheck_batchnorm_first_layer_and_eval_mode():
    rng = np.random.default_rng(5)
    net = Sequential([BatchNorm(3), Dense(3, 2)], dtype="float64", seed=2)
    X = rng.normal(size=(6, 3)) * 2 + 1
    y = rng.normal(size=(6, 2))
    assert gradcheck(net, MSELoss(), X, y, check_input=True).passed
    net.forward(X, training=True)  # running statistics away from their initial values
    report = gradcheck(net, MSELoss(), X, y, check_input=True, training=False)
    assert report.passed, str(report)


def test_gradcheck_dropout_fixed_mask():
    rng = np.random.default_rng(6)
    net = Sequential([Dense(4, 6), Tanh(), Dropout(0.5), Dense(6, 3)], dtype="float64", seed=3)
    X = rng.normal(size=(8, 4))
    y = rng.integers(0, 3, size=8)
    report = gradcheck(net, CrossEntropyLoss(), X, y, check_input=True)
    assert report.passed, str(report)
    # the mask really dropped something, so the check covered a non-trivial mask
    net.forward(X, training=True)
    assert 0 < np.count_nonzero(net.layers[2]._mask == 0) < net.layers[2]._mask.size


def test_mlp_with_batchnorm_and_dropout_passes_gradcheck():
    rng = np.random.default_rng(7)
    net = mlp(4, [6, 5], 3, "tanh", batchnorm=True, dropout=0.2, dtype="float64", seed=4)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds.count("BatchNorm") == 2 and kinds.count("Dropout") == 2
    assert "gamma2" in net.parameter_names() and len(net.buffers()) == 4
    X = rng.normal(size=(10, 4))
    y = rng.integers(0, 3, size=10)
    # a bias before BatchNorm would be dead weight (BatchNorm removes the mean): mlp leaves it out
    assert not net.layers[0].bias and net.layers[-1].bias
    report = gradcheck(net, CrossEntropyLoss(), X, y)
    assert report.passed, str(report)


# ---- buffers are not parameters --------------------------------------------------------------
def test_batchnorm_buffers_are_not_parameters():
    rng = np.random.default_rng(8)
    net = Sequential([Dense(3, 4), BatchNorm(4), ReLU(), Dense(4, 2)], dtype="float64")
    assert net.n_parameters == 3 * 4 + 4 + 4 + 4 + 4 * 2 + 2
    buffers = net.buffers()
    assert set(buffers) == {"1.running_mean", "1.running_var"}
    np.testing.assert_array_equal(buffers["1.running_mean"], np.zeros(4))
    np.testing.assert_array_equal(buffers["1.running_var"], np.ones(4))
    for b in buffers.values():
        assert not np.shares_memory(b, net.flat_parameters)
        assert not np.shares_memory(b, net.flat_gradients)
    assert "running_mean" not in " ".join(net.parameter_names())

    X = rng.normal(size=(6, 3)) + 3
    net.forward(X, training=True)
    net.backward(rng.normal(size=(6, 2)))
    stats = {k: v.copy() for k, v in net.buffers().items()}
    assert not np.allclose(stats["1.running_mean"], 0)  # the forward pass did update them
    params = net.flat_parameters.copy()
    opt = SGD([net.flat_parameters], lr=0.1, momentum=0.9, weight_decay=0.5)
    opt.step([net.flat_gradients])
    assert not np.array_equal(net.flat_parameters, params)
    for k, v in net.buffers().items():
        np.testing.assert_array_equal(v, stats[k])
    # evaluation does not touch them either; state_dict carries them
    net.predict(X)
    for k, v in net.buffers().items():
        np.testing.assert_array_equal(v, stats[k])
    np.testing.assert_array_equal(net.state_dict()["buffers"]["1.running_var"],
                                  stats["1.running_var"])


def test_batchnorm_keeps_dtype_and_clone_converts_buffers():
    rng = np.random.default_rng(9)
    net = Sequential([Dense(3, 4), BatchNorm(4), Dense(4, 1)], dtype="float32")
    X = rng.normal(size=(5, 3)).astype(np.float32)
    out = net.forward(X, training=True)
    assert out.dtype == np.float32
    assert net.backward(np.ones((5, 1), np.float32)).dtype == np.float32
    assert all(b.dtype == np.float32 for b in net.buffers().values())
    net64 = net.clone(dtype="float64")
    for k, b in net64.buffers().items():
        assert b.dtype == np.float64
        np.testing.assert_array_equal(b, net.buffers()[k].astype(np.float64))
    net64.forward(X.astype(np.float64), training=True)  # the clone's buffers are its own
    assert not np.array_equal(net64.buffers()["1.running_mean"],
                              net.buffers()["1.running_mean"])
    # build with another dtype converts the running statistics, keeping their values
    layer = net.layers[1]
    mean32 = layer.running_mean.copy()
    layer.build(np.float64)
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float64
    np.testing.assert_array_equal(layer.running_mean, mean32.astype(np.float64))


# ---- Dropout ---------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_fraction_and_scale(p):
    net = Sequential([Dropout(p)], dtype="float32", seed=10)
    X = np.ones((1000, 1000), dtype=np.float32)
    out = net.forward(X, training=True)
    assert out.dtype == np.float32
    dropped = out == 0
    n = X.size
    # the dropped count is Binomial(n, p): 4 standard deviations (fails by chance ~ 6e-5)
    assert abs(dropped.mean() - p) <= 4 * np.sqrt(p * (1 - p) / n)
    kept = out[~dropped]
    np.testing.assert_allclose(kept, np.float32(1 / (1 - p)), rtol=1e-6)
    G = np.arange(X.size, dtype=np.float32).reshape(X.shape)
    dX = net.backward(G)
    assert dX.dtype == np.float32
    np.testing.assert_array_equal(dX == 0, dropped | (G == 0))
    np.testing.assert_allclose(dX[~dropped], G[~dropped] / (1 - p), rtol=1e-6)


def test_dropout_is_identity_in_eval_mode_and_when_p_is_zero():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(20, 7))
    net = Sequential([Dropout(0.5)], dtype="float64", seed=0)
    state = net.rng_state()
    np.testing.assert_array_equal(net.predict(X), X)
    np.testing.assert_array_equal(net.backward(X), X)
    assert net.rng_state() == state  # evaluation draws no random numbers
    zero = Sequential([Dropout(0.0)], dtype="float64")
    np.testing.assert_array_equal(zero.forward(X, training=True), X)
    np.testing.assert_array_equal(zero.backward(X), X)


def test_dropout_is_reproducible_with_a_seed():
    X = np.ones((50, 40))

    def masks(seed):
        net = Sequential([Dense(40, 40), Dropout(0.3)], dtype="float64", seed=seed)
        net.layers[0].W[...] = np.eye(40)
        return [net.forward(X, training=True) for _ in range(2)]

    a1, a2 = masks(0)
    b1, b2 = masks(0)
    c1, _ = masks(1)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)  # a new mask at each step
    assert not np.array_equal(a1, c1)  # another seed, another mask


def test_dropout_same_mask_for_float32_and_float64():
    X = np.ones((30, 20))
    out32 = Sequential([Dropout(0.4)], dtype="float32", seed=5).forward(X, training=True)
    out64 = Sequential([Dropout(0.4)], dtype="float64", seed=5).forward(X, training=True)
    np.testing.assert_array_equal(out32 == 0, out64 == 0)


def test_dropout_standalone_needs_a_generator():
    layer = Dropout(0.5)
    with pytest.raises(RuntimeError, match="random generator"):
        layer.forward(np.ones((2, 2)), training=True)
    layer.rng = np.random.default_rng(0)
    assert layer.forward(np.ones((2, 2)), training=True).shape == (2, 2)


# ---- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, -3, 2.5, True, "4", None])
def test_batchnorm_rejects_bad_num_features(value):
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm(value)


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_batchnorm_rejects_bad_momentum(value):
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=value)


@pytest.mark.parametrize("value", [0.0, -1e-5, float("inf")])
def test_batchnorm_rejects_bad_eps(value):
    with pytest.raises(ValueError, match="eps"):
        BatchNorm(3, eps=value)


def test_batchnorm_accepts_momentum_bounds():
    assert BatchNorm(3, momentum=0).momentum == 0.0
    assert BatchNorm(3, momentum=1).momentum == 1.0


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_rejects_bad_p(value):
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(value)


def test_bad_types_are_type_errors():
    with pytest.raises(TypeError, match="momentum"):
        BatchNorm(3, momentum="0.1")
    with pytest.raises(TypeError, match="p must be"):
        Dropout("0.5")


def test_batchnorm_batch_of_one_in_training():
    net = Sequential([Dense(3, 4), BatchNorm(4), Dense(4, 2)], dtype="float64")
    X = np.ones((1, 3))
    with pytest.raises(ValueError, match=r"BatchNorm\(4\).*batch of 1"):
        net.forward(X, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        torch.nn.BatchNorm1d(4)(torch.ones(1, 4))  # the behaviour we mirror
    assert net.predict(X).shape == (1, 2)  # evaluation mode is fine


def test_sequential_checks_batchnorm_size():
    with pytest.raises(ValueError, match="expects 5 input features"):
        Sequential([Dense(3, 4), BatchNorm(5)])
