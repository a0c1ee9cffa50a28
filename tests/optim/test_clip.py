"""gdlab.optim.clip against torch.nn.utils.clip_grad_norm_ / clip_grad_value_."""

import numpy as np
import pytest
import torch

from gdlab import optim
from gdlab.errors import DivergenceError
from gdlab.optim.clip import clip_grad_norm_, clip_grad_value_, global_norm

SHAPES = [(5,), (3, 4), (2, 2, 3)]
TOL = {np.float64: 1e-12, np.float32: 1e-6}


def grads(dtype, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [(scale * rng.normal(size=s)).astype(dtype) for s in SHAPES]


def torch_grads(arrays):
    ts = [torch.zeros(a.shape, dtype=torch.from_numpy(a).dtype, requires_grad=True)
          for a in arrays]
    for t, a in zip(ts, arrays):
        t.grad = torch.from_numpy(a.copy())
    return ts


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6, 0.0])
def test_clip_grad_norm_matches_torch(dtype, norm_type, max_norm):
    ours = grads(dtype)
    ts = torch_grads(ours)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=float(norm_type))
    assert isinstance(total, float)
    assert abs(total - expected.item()) <= TOL[dtype] * expected.item()
    for g, t in zip(ours, ts):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=TOL[dtype], atol=0)


def test_clip_grad_norm_bounds_the_norm_and_leaves_small_grads_unchanged():
    g = grads(np.float64, scale=10.0)
    before = global_norm(g)
    assert clip_grad_norm_(g, 1.0) == before
    assert abs(global_norm(g) - 1.0) < 1e-5
    small = grads(np.float64, scale=1e-3)
    kept = [a.copy() for a in small]
    clip_grad_norm_(small, 1.0)
    assert all(np.array_equal(a, b) for a, b in zip(small, kept))


def test_global_norm_matches_torch():
    g = grads(np.float64)
    expected = torch.linalg.vector_norm(torch.cat([torch.from_numpy(a).ravel() for a in g]))
    assert abs(global_norm(g) - expected.item()) <= 1e-12 * expected.item()
    assert global_norm(g[0]) == pytest.approx(float(np.linalg.norm(g[0])), rel=1e-12)
    assert global_norm([]) == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("clip_value", [0.3, 0.0, 10.0])
def test_clip_grad_value_matches_torch(dtype, clip_value):
    ours = grads(dtype)
    ts = torch_grads(ours)
    clip_grad_value_(ours, clip_value)
    torch.nn.utils.clip_grad_value_(ts, clip_value)
    for g, t in zip(ours, ts):
        assert g.dtype == dtype
        assert np.array_equal(g, t.grad.numpy())


def test_nonfinite_norm():
    g = grads(np.float64)
    g[1][0, 0] = np.inf
    with pytest.raises(DivergenceError):
        clip_grad_norm_(g, 1.0, error_if_nonfinite=True)
    ts = torch_grads(g)
    assert clip_grad_norm_(g, 1.0) == np.inf
    torch.nn.utils.clip_grad_norm_(ts, 1.0)
    for a, t in zip(g, ts):
        np.testing.assert_array_equal(a, t.grad.numpy())  # NaN where torch has NaN


@pytest.mark.parametrize(("call", "match"), [
    (lambda g: clip_grad_norm_(g, -1.0), "max_norm"),
    (lambda g: clip_grad_norm_(g, float("nan")), "max_norm"),
    (lambda g: clip_grad_norm_(g, 1.0, norm_type=0), "norm_type"),
    (lambda g: clip_grad_norm_(g, 1.0, norm_type="two"), "norm_type"),
    (lambda g: clip_grad_value_(g, -0.1), "clip_value"),
    (lambda g: global_norm(g, norm_type=-2), "norm_type"),
])
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call(grads(np.float64))


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_clipping_composes_with_every_optimizer(name):
    """clip, then step: the same as stepping with gradients clipped by torch beforehand."""
    g = grads(np.float64, scale=5.0)
    ts = torch_grads(g)
    torch.nn.utils.clip_grad_norm_(ts, 1.0)
    clipped_by_torch = [t.grad.numpy().copy() for t in ts]
    p1, p2 = grads(np.float64, seed=1), grads(np.float64, seed=1)
    o1, o2 = optim.make_optimizer(name, p1), optim.make_optimizer(name, p2)
    clip_grad_norm_(g, 1.0)
    o1.step(g)
    o2.step(clipped_by_torch)
    for a, b in zip(p1, p2):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
