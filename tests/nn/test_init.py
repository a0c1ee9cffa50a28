"""Initialisers: the scale of each scheme against its formula and PyTorch's, and reproducibility."""

import math

import numpy as np
import pytest
import torch

from gdlab.nn.init import INITIALIZERS, KaimingNormal, Normal, Uniform, get_initializer

FAN_IN, FAN_OUT = 400, 300


def draw(init, seed=0, dtype=np.float64):
    return get_initializer(init)(np.random.default_rng(seed), FAN_IN, FAN_OUT, dtype)


def torch_std(fn, **kw):
    w = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)
    torch.manual_seed(0)
    fn(w, **kw)
    return w.std().item()


@pytest.mark.parametrize("name, torch_fn, kw", [
    ("xavier_uniform", torch.nn.init.xavier_uniform_, {}),
    ("xavier_normal", torch.nn.init.xavier_normal_, {}),
    ("kaiming_uniform", torch.nn.init.kaiming_uniform_, {"nonlinearity": "relu"}),
    ("kaiming_normal", torch.nn.init.kaiming_normal_, {"nonlinearity": "relu"}),
])
def test_standard_deviation_matches_torch(name, torch_fn, kw):
    ours = draw(name).std()
    theirs = torch_std(torch_fn, **kw)
    # two independent samples of 120k draws: the sample std agrees within a few percent
    assert abs(ours - theirs) / theirs < 0.02


@pytest.mark.parametrize("name, std", [
    ("lecun_normal", 1 / math.sqrt(FAN_IN)),
    ("lecun_uniform", 1 / math.sqrt(FAN_IN)),
    ("torch", 1 / math.sqrt(3 * FAN_IN)),
])
def test_lecun_and_torch_default_scales(name, std):
    assert abs(draw(name).std() - std) / std < 0.02


def test_uniform_schemes_stay_within_their_bound():
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    w = draw("xavier_uniform")
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    w = get_initializer(Uniform(-0.2, 0.1))(np.random.default_rng(0), 50, 40, np.float64)
    assert w.min() >= -0.2 and w.max() < 0.1


def test_normal_with_given_scale():
    w = get_initializer(Normal(std=0.5))(np.random.default_rng(1), FAN_IN, FAN_OUT, np.float64)
    assert abs(w.std() - 0.5) < 0.01 and abs(w.mean()) < 0.01


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_same_seed_same_bits_and_dtype(name):
    a, b = draw(name, seed=5, dtype=np.float32), draw(name, seed=5, dtype=np.float32)
    assert a.dtype == np.float32 and a.shape == (FAN_IN, FAN_OUT)
    np.testing.assert_array_equal(a, b)


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown init 'glorious'"):
        get_initializer("glorious")
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        KaimingNormal("swish")
    with pytest.raises(TypeError, match="init must be a name or a callable"):
        get_initializer(3)
