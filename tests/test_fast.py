"""The numba kernels of gdlab._fast against the NumPy reference in gdlab.optim.

The kernels perform the reference's floating-point operations in the same order (no
fastmath), so the two paths must agree bit for bit, in float32 and float64.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from gdlab import optim

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                 reason="numba is not installed")

CONFIGS = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("SGD", {"lr": 0.02, "momentum": 0.9}),
    ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.03, "momentum": 0.8, "dampening": 0.3, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-6, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
              "amsgrad": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "maximize": True, "amsgrad": True}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for n, kw in CONFIGS]
N = 1001  # odd: exercises the tail after any SIMD blocks


def gradient(p, t):
    wobble = np.sin(np.arange(p.size) * 0.37 + 0.1 * t).astype(p.dtype)
    return (np.linspace(0.5, 2.0, p.size, dtype=p.dtype) * (p - 3) + 0.1 * wobble).astype(p.dtype)


def run(name, kwargs, dtype, fast, steps=60, start=None, opt_state=None):
    p = np.random.default_rng(0).normal(size=N).astype(dtype) if start is None else start.copy()
    opt = getattr(optim, name)([p], **kwargs, fast=fast)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    for t in range(opt.step_count, opt.step_count + steps):
        opt.lr = opt.lr * 0.995  # as a schedule would
        opt.step([gradient(p, t)])
    return p, opt


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_kernels_match_numpy_bit_for_bit(name, kwargs, dtype):
    p_fast, o_fast = run(name, kwargs, dtype, fast=True)
    p_ref, o_ref = run(name, kwargs, dtype, fast=False)
    assert o_fast._kernels is not None and o_ref._kernels is None
    assert p_fast.dtype == dtype
    assert not np.array_equal(p_fast, np.random.default_rng(0).normal(size=N).astype(dtype))
    assert np.array_equal(p_fast, p_ref)
    fast_state, ref_state = o_fast.state_dict()["state"][0], o_ref.state_dict()["state"][0]
    assert fast_state.keys() == ref_state.keys()
    for key, a in fast_state.items():
        assert a.dtype == dtype and np.array_equal(a, ref_state[key])


@needs_numba
@pytest.mark.parametrize(("name", "kwargs"), [CONFIGS[3], CONFIGS[8]], ids=[IDS[3], IDS[8]])
def test_resume_on_the_other_path(name, kwargs):
    straight, _ = run(name, kwargs, np.float32, fast=False, steps=80)
    half, opt = run(name, kwargs, np.float32, fast=False, steps=40)
    resumed, _ = run(name, kwargs, np.float32, fast=True, steps=40, start=half,
                     opt_state=opt.state_dict())
    assert np.array_equal(straight, resumed)


@needs_numba
def test_auto_selection_and_fallbacks():
    flat = np.zeros(optim.FAST_MIN_SIZE, np.float32)
    assert optim.Adam([flat])._kernels is not None  # auto: on for one large flat vector
    assert optim.SGD([flat[:-1]])._kernels is None  # ... off for a small one
    assert optim.SGD([flat], momentum=0.9, fast=False)._kernels is None
    assert optim.Adam([flat, flat.copy()])._kernels is None
    assert optim.SGD([np.zeros((2, 5))])._kernels is None
    assert optim.SGD([np.zeros(20)[::2]])._kernels is None
    with pytest.raises(ValueError, match="fast=True"):
        optim.Adam([np.zeros((2, 5))], fast=True)
    with pytest.raises(ValueError, match="fast"):
        optim.AdamW([flat], fast="yes")
    # a non-contiguous gradient takes the NumPy path, with the same result
    p1, p2 = np.ones(5), np.ones(5)
    g = np.arange(10.0)[::2]
    o1, o2 = optim.Adam([p1], fast=True), optim.Adam([p2], fast=False)
    o1.step([g])
    o2.step([np.ascontiguousarray(g)])
    assert np.array_equal(p1, p2)


def test_numba_is_not_imported_by_gdlab():
    code = ("import sys, numpy as np, gdlab, gdlab.optim as o; "
            "o.Adam([np.zeros((2, 2))]).step([np.ones((2, 2))]); "
            "o.SGD([np.zeros(3)], momentum=0.9).step([np.ones(3)]); "
            "o.SGD([np.zeros(o.FAST_MIN_SIZE)], fast=False).step([np.ones(o.FAST_MIN_SIZE)]); "
            "assert 'numba' not in sys.modules, 'numba imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_numba
def test_gdlab_fast_0_turns_the_automatic_choice_off(monkeypatch):
    flat = np.zeros(optim.FAST_MIN_SIZE, np.float32)
    monkeypatch.setenv("GDLAB_FAST", "0")
    assert optim.Adam([flat])._kernels is None
    assert optim.Adam([flat], fast=True)._kernels is not None  # an explicit True still wins
    monkeypatch.setenv("GDLAB_FAST", "1")
    assert optim.Adam([flat])._kernels is not None


def test_gdlab_fast_0_keeps_numba_out_of_an_estimator_fit():
    code = ("import sys, numpy as np\nfrom gdlab.estimators import GDClassifier\n"
            "X = np.random.default_rng(0).normal(size=(300, 40))\n"
            "GDClassifier(hidden_layer_sizes=(2000,), max_iter=2, batch_size=300)"
            ".fit(X, np.arange(300) % 3)\n"
            "assert 'numba' not in sys.modules, 'numba imported'\n")
    env = {**os.environ, "GDLAB_FAST": "off"}
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True, env=env)
