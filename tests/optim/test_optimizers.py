"""gdlab.optim against torch.optim: same trajectories, state round trips, validation."""

import json

import numpy as np
import pytest
import torch

from gdlab import optim
from gdlab.optim import OPTIMIZERS, make_optimizer

SHAPES = [(7,), (3, 4), (2, 3, 2)]
STEPS = 200

# (gdlab class name, torch class, hyper-parameters): defaults first, then non-default grids
CASES = [
    ("SGD", torch.optim.SGD, {}),
    ("SGD", torch.optim.SGD, {"lr": 0.05}),
    ("SGD", torch.optim.SGD, {"lr": 0.02, "momentum": 0.9}),
    ("SGD", torch.optim.SGD, {"lr": 0.02, "momentum": 0.9, "nesterov": True}),
    ("SGD", torch.optim.SGD, {"lr": 0.03, "momentum": 0.8, "dampening": 0.3,
                              "weight_decay": 0.1}),
    ("SGD", torch.optim.SGD, {"lr": 0.02, "momentum": 0.9, "nesterov": True,
                              "weight_decay": 0.05, "maximize": True}),
    ("SGD", torch.optim.SGD, {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("Adagrad", torch.optim.Adagrad, {}),
    ("Adagrad", torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                                      "initial_accumulator_value": 0.5}),
    ("Adagrad", torch.optim.Adagrad, {"lr": 0.05, "eps": 1e-3, "maximize": True}),
    ("RMSprop", torch.optim.RMSprop, {}),
    ("RMSprop", torch.optim.RMSprop, {"centered": True}),
    ("RMSprop", torch.optim.RMSprop, {"lr": 0.003, "centered": True, "momentum": 0.9,
                                      "weight_decay": 0.1}),
    ("RMSprop", torch.optim.RMSprop, {"momentum": 0.5, "alpha": 0.9, "eps": 1e-4,
                                      "maximize": True}),
    ("Adadelta", torch.optim.Adadelta, {}),
    ("Adadelta", torch.optim.Adadelta, {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1}),
    ("Adadelta", torch.optim.Adadelta, {"eps": 1e-4, "maximize": True}),
    ("Adamax", torch.optim.Adamax, {}),
    ("Adamax", torch.optim.Adamax, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-3,
                                    "weight_decay": 0.1}),
    ("Adamax", torch.optim.Adamax, {"maximize": True}),
    ("Adam", torch.optim.Adam, {}),
    ("Adam", torch.optim.Adam, {"amsgrad": True}),
    ("Adam", torch.optim.Adam, {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-6}),
    ("Adam", torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True,
                                "maximize": True}),
    ("Adam", torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1,
                                "decoupled_weight_decay": True}),
    ("AdamW", torch.optim.AdamW, {}),
    ("AdamW", torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", torch.optim.AdamW, {"lr": 0.01, "maximize": True}),
    ("NAdam", torch.optim.NAdam, {}),
    ("NAdam", torch.optim.NAdam, {"lr": 0.01, "weight_decay": 0.1}),
    ("NAdam", torch.optim.NAdam, {"lr": 0.01, "weight_decay": 0.1,
                                  "decoupled_weight_decay": True}),
    ("NAdam", torch.optim.NAdam, {"momentum_decay": 0.01, "betas": (0.8, 0.99),
                                  "maximize": True}),
    ("RAdam", torch.optim.RAdam, {}),
    ("RAdam", torch.optim.RAdam, {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", torch.optim.RAdam, {"lr": 0.01, "weight_decay": 0.1,
                                  "decoupled_weight_decay": True}),
    ("RAdam", torch.optim.RAdam, {"betas": (0.9, 0.9), "eps": 1e-6, "maximize": True}),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
            for name, _, kw in CASES]
TOL = {np.float64: 1e-9, np.float32: 1e-5}


def initial(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s).astype(dtype) for s in SHAPES]


# far from the start, so that no run reaches the optimum and oscillates around it: near an
# optimum sign-like steps (RMSprop, Adam) turn rounding differences into chaos
TARGETS = [np.random.default_rng(1).normal(size=s) + 6.0 for s in SHAPES]
CURV = [0.5, 2.0, 1.0]  # a different curvature per array


def gradient(params, t, sign=1.0):
    """A quadratic bowl plus a deterministic, parameter-dependent wobble (``sign=-1``: a hill)."""
    out = []
    for p, target, h in zip(params, TARGETS, CURV):
        g = h * (p - target.astype(p.dtype)) + 0.1 * np.sin(3.0 * p + 0.1 * t)
        out.append((sign * g).astype(p.dtype))
    return out


def rel_err(a, b):
    """max |a - b| / max |b|: relative error on the scale of the array."""
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))
                 / np.max(np.abs(b.astype(np.float64))))


@pytest.fixture
def torch_dtype():
    """Set torch's default dtype for the test: its scalar state (step, NAdam's mu product)
    uses it, so float64 runs need float64 there."""
    saved = torch.get_default_dtype()
    yield lambda dtype: torch.set_default_dtype(
        torch.float64 if dtype == np.float64 else torch.float32)
    torch.set_default_dtype(saved)


def run_both(name, torch_cls, kwargs, dtype, steps=STEPS, lr_factor=None):
    """Run gdlab and torch side by side, each on its own trajectory; return both param lists."""
    ours = initial(dtype)
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in initial(dtype)]
    opt = getattr(optim, name)(ours, **kwargs)
    topt = torch_cls(theirs, **kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    for t in range(steps):
        if lr_factor is not None:
            opt.lr = opt.lr * lr_factor
            for group in topt.param_groups:
                group["lr"] = group["lr"] * lr_factor
        opt.step(gradient(ours, t, sign))
        tg = gradient([p.detach().numpy() for p in theirs], t, sign)
        for p, g in zip(theirs, tg):
            p.grad = torch.from_numpy(g)
        topt.step()
    return ours, [p.detach().numpy() for p in theirs]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "torch_cls", "kwargs"), CASES, ids=CASE_IDS)
def test_matches_torch(name, torch_cls, kwargs, dtype, torch_dtype):
    torch_dtype(dtype)
    ours, theirs = run_both(name, torch_cls, kwargs, dtype)
    start = initial(dtype)
    for p, q, p0 in zip(ours, theirs, start):
        assert p.dtype == dtype
        assert not np.array_equal(p, p0)  # it moved
        assert rel_err(p, q) <= TOL[dtype]


LR_CASES = [(c, i) for c, i in zip(CASES, CASE_IDS) if len(c[2]) <= 1 or c[2].get("momentum")]


@pytest.mark.parametrize(("name", "torch_cls", "kwargs"), [c for c, _ in LR_CASES],
                         ids=[i for _, i in LR_CASES])
def test_changing_lr_matches_torch(name, torch_cls, kwargs, torch_dtype):
    torch_dtype(np.float64)
    ours, theirs = run_both(name, torch_cls, kwargs, np.float64, lr_factor=1.01)
    for p, q in zip(ours, theirs):
        assert rel_err(p, q) <= 1e-9


# one configuration per optimizer that allocates every kind of state it has
FULL_STATE = [
    ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("RMSprop", {"centered": True, "momentum": 0.9}),
    ("Adadelta", {}),
    ("Adamax", {}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.01}),
    ("AdamW", {"amsgrad": True}),
    ("NAdam", {"decoupled_weight_decay": True, "weight_decay": 0.01}),
    ("RAdam", {}),
]


def split_json(d):
    """Round-trip the non-array part of a state dict through JSON, as a checkpoint does."""
    arrays = []

    def strip(x):
        if isinstance(x, np.ndarray):
            arrays.append(x)
            return {"__array__": len(arrays) - 1}
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()}
        if isinstance(x, list):
            return [strip(v) for v in x]
        assert x is None or isinstance(x, (bool, int, float, str)), type(x)
        return x

    def put(x):
        if isinstance(x, dict):
            return arrays[x["__array__"]] if "__array__" in x else {k: put(v) for k, v in x.items()}
        if isinstance(x, list):
            return [put(v) for v in x]
        return x

    return put(json.loads(json.dumps(strip(d))))


@pytest.mark.parametrize("via_json", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), FULL_STATE, ids=[c[0] for c in FULL_STATE])
def test_state_dict_resumes_bit_for_bit(name, kwargs, dtype, via_json):
    cls = getattr(optim, name)
    straight = initial(dtype)
    opt = cls(straight, **kwargs)
    for t in range(100):
        opt.step(gradient(straight, t))

    first = initial(dtype)
    opt1 = cls(first, **kwargs)
    for t in range(50):
        opt1.step(gradient(first, t))
    d = opt1.state_dict()
    resumed = [p.copy() for p in first]
    for t in range(50, 60):  # the state dict is a snapshot, not a view
        opt1.step(gradient(first, t))
    if via_json:
        d = split_json(d)
    opt2 = cls(resumed)  # default hyper-parameters: load_state_dict must restore them
    opt2.load_state_dict(d)
    for t in range(50, 100):
        opt2.step(gradient(resumed, t))
    for p, q in zip(straight, resumed):
        assert p.dtype == q.dtype == dtype
        assert np.array_equal(p, q)


@pytest.mark.parametrize("name", [c[0] for c in FULL_STATE])
def test_state_dict_has_only_json_types_and_arrays(name):
    params = initial(np.float32)
    opt = getattr(optim, name)(params)
    opt.step(gradient(params, 0))
    d = opt.state_dict()
    split_json(d)  # asserts the types
    for s in d["state"]:
        for a in s.values():
            assert a.dtype == np.float32
    assert d["hyper"]["lr"] == opt.lr


def test_load_state_dict_validates():
    opt = optim.Adam(initial(np.float64))
    opt.step(gradient(opt.params, 0))
    d = opt.state_dict()
    with pytest.raises(ValueError, match="shape"):
        optim.Adam([np.zeros(3), np.zeros((3, 4)), np.zeros((2, 3, 2))]).load_state_dict(d)
    with pytest.raises(ValueError, match="parameters"):
        optim.Adam(initial(np.float64)[:2]).load_state_dict(d)
    with pytest.raises(ValueError, match="Adam"):
        optim.SGD(initial(np.float64)).load_state_dict(d)
    bad = optim.Adam(initial(np.float64)).state_dict()
    bad["hyper"]["betas"] = [0.9, 1.5]
    target = optim.Adam(initial(np.float64), lr=0.5)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        target.load_state_dict(bad)
    assert target.lr == 0.5 and target.betas == (0.9, 0.999)  # unchanged on failure
    with pytest.raises(ValueError, match="momentum_decay"):
        optim.NAdam(initial(np.float64)).load_state_dict({**d, "optimizer": "NAdam", "mu_product": 1.0})
    with pytest.raises(ValueError, match="lacks"):
        optim.Adam(initial(np.float64)).load_state_dict({k: v for k, v in d.items() if k != "step"})
    amsgrad = optim.Adam(initial(np.float64), amsgrad=True).state_dict()
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        optim.Adam(initial(np.float64)).load_state_dict({**amsgrad, "state": d["state"]})


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_updates_in_place_and_leaves_grads_alone(name):
    flat = np.linspace(-1.0, 1.0, 10, dtype=np.float32)
    views = [flat[:4], flat[4:].reshape(2, 3)]
    before = flat.copy()
    opt = make_optimizer(name, views, lr=0.1, weight_decay=0.1, maximize=True)
    grads = [np.full(4, 0.5, np.float32), np.full((2, 3), -0.25, np.float32)]
    kept = [g.copy() for g in grads]
    for _ in range(3):
        opt.step(grads)
    assert not np.array_equal(flat, before)  # the caller's flat buffer moved
    assert opt.params[0] is views[0]
    for g, k in zip(grads, kept):
        assert np.array_equal(g, k)
    assert flat.dtype == np.float32


def test_name_table():
    assert set(OPTIMIZERS) == {"sgd", "gd", "momentum", "nesterov", "adagrad", "rmsprop",
                               "adam", "adamw", "nadam", "radam", "adamax", "adadelta"}
    p = [np.zeros(3)]
    assert make_optimizer("gd", p).momentum == 0.0
    m = make_optimizer("momentum", p)
    assert isinstance(m, optim.SGD) and m.momentum == 0.9 and not m.nesterov
    n = make_optimizer("Nesterov", p, lr=0.1)
    assert n.nesterov and n.momentum == 0.9 and n.lr == 0.1
    assert make_optimizer("momentum", p, momentum=0.5).momentum == 0.5
    assert isinstance(make_optimizer("adamw", p), optim.AdamW)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'.*adam"):
        make_optimizer("lbfgs", p)


@pytest.mark.parametrize(("cls", "kwargs", "match"), [
    (optim.SGD, {"lr": -0.1}, "lr"),
    (optim.SGD, {"lr": float("nan")}, "lr"),
    (optim.Adam, {"lr": float("inf")}, "lr"),
    (optim.SGD, {"lr": "fast"}, "lr"),
    (optim.SGD, {"momentum": -0.5}, "momentum"),
    (optim.SGD, {"nesterov": True}, "nesterov"),
    (optim.SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
    (optim.SGD, {"weight_decay": -1e-4}, "weight_decay"),
    (optim.Adam, {"betas": (1.0, 0.999)}, r"betas\[0\]"),
    (optim.Adam, {"betas": (0.9, -0.1)}, r"betas\[1\]"),
    (optim.NAdam, {"betas": (0.9,)}, "betas"),
    (optim.AdamW, {"eps": 0.0}, "eps"),
    (optim.Adagrad, {"eps": -1e-10}, "eps"),
    (optim.Adagrad, {"lr_decay": -0.1}, "lr_decay"),
    (optim.Adagrad, {"initial_accumulator_value": -1}, "initial_accumulator_value"),
    (optim.RMSprop, {"alpha": -0.1}, "alpha"),
    (optim.RMSprop, {"momentum": -0.1}, "momentum"),
    (optim.Adadelta, {"rho": 1.5}, "rho"),
    (optim.NAdam, {"momentum_decay": -1}, "momentum_decay"),
    (optim.RAdam, {"weight_decay": float("inf")}, "weight_decay"),
    (optim.Adamax, {"betas": (0.9, 1.0)}, r"betas\[1\]"),
])
def test_invalid_hyper_parameters(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([np.zeros(3)], **kwargs)


def test_invalid_lr_assignment_and_params():
    opt = optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0
    assert opt.lr == 0.1
    opt.lr = np.float32(0.5)
    assert type(opt.lr) is float  # a NumPy scalar would upcast float32 maths
    with pytest.raises(ValueError, match="params"):
        optim.Adam([])
    with pytest.raises(TypeError, match="params"):
        optim.Adam(np.zeros(3))
    with pytest.raises(TypeError, match=r"params\[1\]"):
        optim.Adam([np.zeros(3), np.zeros(3, dtype=int)])


def test_mismatched_grads():
    opt = optim.Adam([np.zeros(3), np.zeros((2, 2))])
    with pytest.raises(ValueError, match="grads: expected 2"):
        opt.step([np.zeros(3)])
    with pytest.raises(ValueError, match=r"grads\[1\] has shape \(4,\)"):
        opt.step([np.zeros(3), np.zeros(4)])
    with pytest.raises(TypeError, match=r"grads\[0\] has dtype float32"):
        opt.step([np.zeros(3, np.float32), np.zeros((2, 2))])
    with pytest.raises(TypeError, match="grads"):
        opt.step(np.zeros(3))
    assert opt.step_count == 0  # nothing happened
    assert not opt.state[0]["exp_avg"].any()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_state_array_replaced_from_outside_is_named_before_any_update(name):
    p = np.linspace(-1.0, 1.0, 12)
    opt = make_optimizer(name, [p])
    opt.step([np.ones(12)])  # some optimizers allocate state at the first step
    if not opt.state[0]:
        pytest.skip(f"{name} keeps no state arrays")
    key = sorted(opt.state[0])[0]
    good = opt.state[0][key]
    bad = {
        "short": (np.zeros(5), ValueError, rf"state\[0\]\['{key}'\] has shape \(5,\) but "
                                           r"params\[0\] has shape \(12,\)"),
        "float32": (np.zeros(12, np.float32), TypeError, rf"state\[0\]\['{key}'\] has dtype "
                                                         "float32"),
        "strided": (np.zeros(24)[::2], ValueError, "writable, aligned, contiguous"),
        "the parameters": (p, ValueError, "shares memory with params"),
        "a list": ([0.0] * 12, TypeError, "must be a NumPy array"),
    }
    for what, (array, exc, match) in bad.items():
        opt.state[0][key] = array
        before, count = p.copy(), opt.step_count
        with pytest.raises(exc, match=match):
            opt.step([np.ones(12)])
        np.testing.assert_array_equal(p, before)
        assert opt.step_count == count, what
    opt.state[0][key] = good
    opt.step([np.ones(12)])


@pytest.mark.parametrize("fast", [True, None])
def test_a_gradient_that_overlaps_the_parameters_gives_the_numpy_result(fast):
    """The kernels may not take a gradient that shares memory with the parameters (the
    optimizer then runs its NumPy code): fast=True gave up to 0.43 away from fast=False."""
    from gdlab.kernels import builds

    if builds.backend() is None:
        pytest.skip("no compiled kernels")
    results = []
    for f in (fast, False):
        base = np.linspace(-1.0, 1.0, optim.FAST_MIN_SIZE + 1, dtype=np.float32)
        opt = optim.Adam([base[1:]], lr=0.1, fast=f)
        assert (opt.kernels is not None) == (f is not False)
        for _ in range(3):
            opt.step([base[:-1]])
        results.append(base)
    np.testing.assert_array_equal(results[0], results[1])
