"""Losses against PyTorch: values, gradients, stability and the checks at the boundary."""

import numpy as np
import pytest
import torch
from helpers import TOL, rel_err, to_torch

import gdlab

DTYPES = [np.float64, np.float32]
SHAPES = [(1, 1), (4, 3), (33, 10)]


def torch_value_and_grad(fn, output, target):
    t = to_torch(output, requires_grad=True)
    value = fn(t, target)
    value.backward()
    return value.item(), t.grad.numpy()


def check(loss, torch_fn, output, y, torch_y, dtype):
    value, grad = loss.value_and_grad(output, y)
    tv, tg = torch_value_and_grad(torch_fn, output, torch_y)
    assert isinstance(value, float)
    assert grad.dtype == dtype and grad.shape == output.shape
    assert rel_err(value, tv) <= TOL[dtype]
    assert rel_err(grad, tg) <= TOL[dtype]
    assert loss(output, y) == value
    np.testing.assert_array_equal(loss.grad(output, y), grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_mse_matches_torch(shape, dtype, rng):
    out = rng.normal(size=shape).astype(dtype)
    y = rng.normal(size=shape).astype(dtype)
    check(gdlab.MSELoss(), torch.nn.MSELoss(), out, y, to_torch(y), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_l1_and_huber_match_torch(shape, dtype, rng):
    out = (rng.normal(size=shape) * 2).astype(dtype)
    y = rng.normal(size=shape).astype(dtype)
    check(gdlab.L1Loss(), torch.nn.L1Loss(), out, y, to_torch(y), dtype)
    check(gdlab.HuberLoss(0.7), torch.nn.HuberLoss(delta=0.7), out, y, to_torch(y), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (40, 10)])
def test_cross_entropy_matches_torch(shape, dtype, rng):
    out = (rng.normal(size=shape) * 4).astype(dtype)
    y = rng.integers(0, shape[1], size=shape[0])
    check(gdlab.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), out, y, torch.from_numpy(y), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_class_weights_match_torch(dtype, rng):
    out = rng.normal(size=(12, 4)).astype(dtype)
    y = rng.integers(0, 4, size=12)
    w = np.array([0.5, 2.0, 1.0, 3.0])
    check(gdlab.CrossEntropyLoss(weight=w), torch.nn.CrossEntropyLoss(weight=to_torch(w.astype(dtype))),
          out, y, torch.from_numpy(y), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_bce_with_logits_matches_torch(shape, dtype, rng):
    out = (rng.normal(size=shape) * 5).astype(dtype)
    y = rng.integers(0, 2, size=shape).astype(dtype)
    check(gdlab.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss(), out, y, to_torch(y), dtype)


def test_sample_weight_is_a_weighted_mean_of_torchs_per_sample_losses(rng):
    out = rng.normal(size=(9, 3))
    y = rng.integers(0, 3, size=9)
    sw = rng.random(9) * 2
    per_sample = torch.nn.CrossEntropyLoss(reduction="none")(to_torch(out), torch.from_numpy(y))
    expected = float((per_sample.numpy() * sw).sum() / sw.sum())
    assert rel_err(gdlab.CrossEntropyLoss()(out, y, sample_weight=sw), expected) <= 1e-12

    yr = rng.normal(size=(9, 3))
    per_elem = torch.nn.MSELoss(reduction="none")(to_torch(out), to_torch(yr)).numpy().mean(axis=1)
    expected = float((per_elem * sw).sum() / sw.sum())
    assert rel_err(gdlab.MSELoss()(out, yr, sample_weight=sw), expected) <= 1e-12


def test_weighted_losses_pass_gradcheck(rng):
    net = gdlab.nn.sequential.mlp(3, [4], 2, "tanh", dtype="float64", seed=2)
    X = rng.normal(size=(8, 3))
    sw = rng.random(8) + 0.1
    for loss, y in [(gdlab.CrossEntropyLoss(weight=[1.0, 3.0]), rng.integers(0, 2, size=8)),
                    (gdlab.MSELoss(), rng.normal(size=(8, 2))),
                    (gdlab.BCEWithLogitsLoss(), rng.integers(0, 2, size=(8, 2)).astype(float))]:
        report = gdlab.gradcheck(net, loss, X, y, sample_weight=sw)
        assert report.max_rel_error <= 1e-6, str(report)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    out = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4 - 3.0, 1e4], [5e3, 5e3, -1e4]], dtype=dtype)
    y = np.array([1, 1, 0])
    value, grad = gdlab.CrossEntropyLoss().value_and_grad(out, y)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    # the stable formula, written out independently in float64: log-sum-exp around the row max
    z = out.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    expected = -logp[np.arange(3), y].mean()
    assert abs(value - expected) <= 1e-6 * abs(expected)
    expected_grad = (np.exp(logp) - np.eye(3)[y]) / 3
    np.testing.assert_allclose(grad, expected_grad, rtol=0, atol=1e-7)
    t = torch.nn.CrossEntropyLoss()(torch.from_numpy(out.astype(np.float64)), torch.from_numpy(y))
    assert abs(value - t.item()) <= 1e-6 * abs(t.item())


@pytest.mark.parametrize("bad", [[0, 3], [-1, 0]])
def test_labels_outside_range_are_rejected(bad):
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        gdlab.CrossEntropyLoss()(np.zeros((2, 3)), np.array(bad))


def test_non_integer_labels_are_rejected():
    with pytest.raises(TypeError, match="integer class labels"):
        gdlab.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0.0, 1.0]))


@pytest.mark.parametrize("loss", [gdlab.MSELoss(), gdlab.CrossEntropyLoss(), gdlab.BCEWithLogitsLoss()])
def test_length_mismatch_is_rejected(loss):
    with pytest.raises(ValueError, match="lengths must match"):
        loss(np.zeros((3, 2)), np.zeros(4, dtype=int))


def test_nothing_is_silently_broadcast():
    with pytest.raises(ValueError, match=r"y has shape \(5,\) but output has shape \(5, 1\)"):
        gdlab.MSELoss()(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="must match"):
        gdlab.BCEWithLogitsLoss()(np.zeros((5, 2)), np.zeros((5, 1)))


def test_output_must_be_2d_float():
    with pytest.raises(ValueError, match="output must be 2-D"):
        gdlab.MSELoss()(np.zeros(5), np.zeros(5))
    with pytest.raises(TypeError, match="output must be a float array"):
        gdlab.MSELoss()(np.zeros((5, 1), dtype=int), np.zeros((5, 1)))
