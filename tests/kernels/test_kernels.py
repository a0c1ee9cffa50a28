"""gdlab's compiled kernels (the C build gdlab.kernels._ckernels and the numba build
gdlab.kernels.numba_kernels, each in turn) against the NumPy reference in gdlab.optim, and the
switch between them (gdlab.kernels).

The kernels perform the reference's floating-point operations in the same order (no
fastmath, no fused multiply-add), so the two paths must agree bit for bit, in float32 and
float64.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

from gdlab import optim
from gdlab.kernels import builds

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                 reason="numba is not installed")
needs_c = pytest.mark.skipif(importlib.util.find_spec("gdlab.kernels._ckernels") is None,
                             reason="gdlab's C kernels are not built")

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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_kernels_match_numpy_bit_for_bit(name, kwargs, dtype, kernel_backend):
    p_fast, o_fast = run(name, kwargs, dtype, fast=True)
    p_ref, o_ref = run(name, kwargs, dtype, fast=False)
    assert o_fast.kernels.__name__ == builds.BACKENDS[kernel_backend] and o_ref.kernels is None
    assert p_fast.dtype == dtype
    assert not np.array_equal(p_fast, np.random.default_rng(0).normal(size=N).astype(dtype))
    assert np.array_equal(p_fast, p_ref)
    fast_state, ref_state = o_fast.state_dict()["state"][0], o_ref.state_dict()["state"][0]
    assert fast_state.keys() == ref_state.keys()
    for key, a in fast_state.items():
        assert a.dtype == dtype and np.array_equal(a, ref_state[key])


@pytest.mark.parametrize(("name", "kwargs"), [CONFIGS[3], CONFIGS[8]], ids=[IDS[3], IDS[8]])
def test_resume_on_the_other_path(name, kwargs, kernel_backend):
    straight, _ = run(name, kwargs, np.float32, fast=False, steps=80)
    half, opt = run(name, kwargs, np.float32, fast=False, steps=40)
    resumed, _ = run(name, kwargs, np.float32, fast=True, steps=40, start=half,
                     opt_state=opt.state_dict())
    assert np.array_equal(straight, resumed)


def test_auto_selection_and_fallbacks(kernel_backend):
    flat = np.zeros(optim.FAST_MIN_SIZE, np.float32)
    assert optim.Adam([flat]).kernels is not None  # auto: on for one large flat vector
    assert optim.SGD([flat[:-1]]).kernels is None  # ... off for a small one
    assert optim.SGD([flat], momentum=0.9, fast=False).kernels is None
    assert optim.Adam([flat, flat.copy()]).kernels is None
    assert optim.SGD([np.zeros((2, 5))]).kernels is None
    assert optim.SGD([np.zeros(20)[::2]]).kernels is None
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


def test_gdlab_fast_0_turns_the_automatic_choice_off(kernel_backend, monkeypatch):
    flat = np.zeros(optim.FAST_MIN_SIZE, np.float32)
    monkeypatch.setenv("GDLAB_FAST", "0")
    assert optim.Adam([flat]).kernels is None
    assert optim.Adam([flat], fast=True).kernels is not None  # an explicit True still wins
    monkeypatch.setenv("GDLAB_FAST", "1")
    assert optim.Adam([flat]).kernels is not None


def test_gdlab_fast_0_keeps_numba_out_of_an_estimator_fit():
    code = ("import sys, numpy as np\nfrom gdlab.estimators import GDClassifier\n"
            "X = np.random.default_rng(0).normal(size=(300, 40))\n"
            "GDClassifier(hidden_layer_sizes=(2000,), max_iter=2, batch_size=300)"
            ".fit(X, np.arange(300) % 3)\n"
            "assert 'numba' not in sys.modules, 'numba imported'\n")
    env = {**os.environ, "GDLAB_FAST": "off"}
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True, env=env)


def test_the_c_kernels_are_built_where_a_c_compiler_is():
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) on this machine")
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        pytest.skip("no Python headers (Python.h) on this machine")
    assert importlib.util.find_spec("gdlab.kernels._ckernels") is not None, (
        "pip install . found a C compiler but did not build gdlab.kernels._ckernels")


@needs_c
def test_the_c_kernels_need_no_numba_and_are_the_first_choice():
    code = ("import sys, numpy as np\nfrom gdlab.kernels import builds\n"
            "from gdlab.estimators import GDClassifier\n"
            "X = np.random.default_rng(0).normal(size=(300, 40))\n"
            "est = GDClassifier(hidden_layer_sizes=(2000,), max_iter=2, batch_size=300)"
            ".fit(X, np.arange(300) % 3)\n"
            "assert est._optimizer.kernels.__name__ == 'gdlab.kernels._ckernels'\n"
            "assert builds.backend() == 'c'\n"
            "assert 'numba' not in sys.modules, 'numba imported'\n")
    env = {k: v for k, v in os.environ.items() if k != "GDLAB_FAST"}
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True, env=env)


@pytest.mark.parametrize("setting", ["c", "numba"])
def test_gdlab_fast_names_the_build(setting, monkeypatch):
    if builds.build(setting) is None:
        pytest.skip(f"the {setting} kernels are not installed")
    monkeypatch.setenv("GDLAB_FAST", setting)
    assert builds.backend() == setting
    assert builds.select(True, 1).__name__ == builds.BACKENDS[setting]


def test_a_bad_gdlab_fast_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GDLAB_FAST", "cuda")
    with pytest.raises(ValueError, match="GDLAB_FAST must be 0, 1, auto, c or numba, got 'cuda'"):
        optim.Adam([np.zeros(optim.FAST_MIN_SIZE)])


@needs_c
def test_the_c_kernels_reject_arrays_they_cannot_take():
    from gdlab.kernels import _ckernels as c

    f32, f64 = np.zeros(4, np.float32), np.zeros(4)
    empty = np.empty(0, np.float32)
    scalars = (1.0, 0.0, -0.1, 0.0, 1.0, True, False)
    with pytest.raises(TypeError, match="same dtype"):
        c.sgd_step(f32, f64, empty, *scalars)
    with pytest.raises(TypeError, match="float32 or float64"):
        c.sgd_step(np.zeros(4, np.int64), np.zeros(4, np.int64), np.empty(0, np.int64), *scalars)
    with pytest.raises(ValueError, match="g has 3 elements, expected 4"):
        c.sgd_step(f32, f32[:3].copy(), empty, *scalars)
    with pytest.raises(ValueError, match="p must be contiguous"):
        c.sgd_step(np.zeros(8, np.float32)[::2], f32, empty, *scalars)
    with pytest.raises(ValueError, match="p must be 1-D"):
        c.sgd_step(np.zeros((2, 2), np.float32), f32, empty, *scalars)
    read_only = np.zeros(4, np.float32)
    read_only.flags.writeable = False
    with pytest.raises((BufferError, ValueError)):
        c.sgd_step(read_only, f32, empty, *scalars)
    Y = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="Y must have contiguous rows"):
        c.bias_relu_(np.zeros((3, 8), np.float32)[:, ::2], f32)
    with pytest.raises(ValueError, match="db has 3 elements, expected 4"):
        c.relu_backward_bias_(Y, Y.copy(), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="o's columns has 2 elements, expected 1"):
        c.bias_relu_dot_(Y, f32, f32, 0.0, np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError):
        c.adam_step(f32, f32, f32, f32)


@needs_c
def test_the_c_kernels_take_strided_rows_and_release_nothing_twice():
    from gdlab.kernels import _ckernels as c

    rng = np.random.default_rng(0)
    big = rng.normal(size=(5, 9)).astype(np.float32)
    whole = big.copy()
    view, copy = big[:, 2:7], big[:, 2:7].copy()  # rows 9 apart, 5 wide
    b = rng.normal(size=5).astype(np.float32)
    c.bias_relu_(view, b)
    np.testing.assert_array_equal(view, np.maximum(copy + b, 0))
    # the guard columns on either side of the view (0-1 and 7-8) are untouched
    guard = [0, 1, 7, 8]
    np.testing.assert_array_equal(big[:, guard], whole[:, guard])
    before = sys.getrefcount(view)
    for _ in range(100):
        c.bias_relu_(view, b)
        with pytest.raises(ValueError):
            c.bias_relu_(view, b[:4])
    assert sys.getrefcount(view) == before
    np.testing.assert_array_equal(big[:, guard], whole[:, guard])


NO_OPENMP_CC = """#!/bin/sh
# a C compiler without OpenMP: refuses -fopenmp, compiles everything else
for arg in "$@"; do
    [ "$arg" = "-fopenmp" ] && { echo "no OpenMP here" >&2; exit 1; }
done
exec {cc} "$@"
"""


@pytest.mark.slow
@pytest.mark.parametrize("compiler", ["/bin/false", "no-openmp", None])
def test_the_install_builds_the_c_kernels_or_goes_on_without_them(compiler, tmp_path):
    """``pip wheel`` of a copy of the project: with the C compiler found (the kernels built,
    with OpenMP where the compiler takes it), with one that fails (no kernels), and with one
    that refuses -fopenmp (the kernels built single-threaded)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.exists(os.path.join(root, "setup.py")):
        pytest.skip("needs the project's source tree")
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("needs setuptools to build without network")
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if compiler != "/bin/false" and shutil.which(cc) is None:
        pytest.skip("no C compiler")
    tree = tmp_path / "project"
    shutil.copytree(os.path.join(root, "src"), tree / "src",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(root, name), tree / name)
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "GDLAB_OPENMP", "GDLAB_CFLAGS")}
    if compiler == "no-openmp":
        wrapper = tmp_path / "cc-no-openmp"
        wrapper.write_text(NO_OPENMP_CC.replace("{cc}", shutil.which(cc)))
        wrapper.chmod(0o755)
        env["CC"] = env["LDSHARED"] = str(wrapper)
        env["LDSHARED"] += " -shared"
    elif compiler is not None:
        env["CC"] = compiler
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path / "wheels"), str(tree)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    import zipfile

    (wheel,) = (tmp_path / "wheels").glob("gdlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    built = [n for n in names if n.startswith("gdlab/kernels/_ckernels") and n.endswith(".so")]
    assert "gdlab/kernels/numba_kernels.py" in names and "gdlab/kernels/contract.py" in names
    assert not [n for n in names if n.endswith(".c")]  # the source is compiled, not installed
    assert bool(built) == (compiler != "/bin/false"), built
    if not built:
        return
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import gdlab.kernels._ckernels as c; "
             "print('OPENMP', c.OPENMP)")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    got = subprocess.run([sys.executable, "-c", probe, str(unpacked)], capture_output=True,
                         text=True, env=clean, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    assert got.stdout.split() == ["OPENMP", "0" if compiler == "no-openmp" else "1"]
