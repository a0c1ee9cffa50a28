"""The kernels on several threads (gdlab.kernels.threads): the same bits at 1 and 2 threads,
kernel by kernel and in both builds; the thread count follows the BLAS's setting, which
threadpoolctl controls; several Python threads may call the kernels at once; a forked child
runs them on one thread."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from gdlab.kernels import builds, threads

BUILDS = ["c", "numba"]


def _build(name):
    module = builds.build(name)
    if module is None:
        pytest.skip(f"the {name} kernels are not installed")
    if name == "numba":
        import numba

        if numba.config.NUMBA_NUM_THREADS < 2:
            pytest.skip("numba has one thread here")
    return module


def _inputs(rng, dtype):
    """Arrays large enough that every kernel splits its work between 2 threads (more than 2
    GRAIN elements) over several blocks of rows and columns."""
    n, rows, cols = 300_001, 1_003, 150
    return {
        "p": rng.normal(size=n).astype(dtype), "g": rng.normal(size=n).astype(dtype),
        "Y": rng.normal(size=(rows, cols)).astype(dtype),
        "b": rng.normal(size=cols).astype(dtype), "w": rng.normal(size=cols).astype(dtype),
        "G": rng.normal(size=(rows, cols)).astype(dtype),
        "d": rng.normal(size=(rows, 1)).astype(dtype),
        "Z": (rng.normal(size=(7_001, 10)) * 3).astype(dtype), "y": rng.integers(0, 10, 7_001),
    }


def _sgd(k, a):
    p, buf = a["p"].copy(), np.zeros_like(a["p"])
    for first in (True, False):
        k.sgd_step(p, a["g"], buf, 1.0, 0.01, -0.1, 0.9, 1.0, first, True)
    return p, buf


def _adam(k, a, amsgrad):
    p, m, v = a["p"].copy(), np.zeros_like(a["p"]), np.zeros_like(a["p"])
    vmax = np.zeros_like(p) if amsgrad else np.empty(0, p.dtype)
    for _ in range(2):
        k.adam_step(p, a["g"], m, v, vmax, 1.0, 0.01, 1.0, 0.1, 0.999, 0.001, 1e-8, -1e-3)
    return p, m, v, vmax


def _relu_backward(k, a):
    out, db = np.maximum(a["Y"], 0), np.empty_like(a["b"])
    k.relu_backward_bias_(a["G"], out, db)
    return out, db


def _bias_relu_dot(k, a):
    Y, o = a["Y"].copy(), np.empty((a["Y"].shape[0], 1), a["Y"].dtype)
    k.bias_relu_dot_(Y, a["b"], a["w"], 0.25, o)
    return Y, o


def _outer(k, a):
    out = np.maximum(a["Y"], 0)
    db, dw, dc = np.empty_like(a["b"]), np.empty_like(a["b"]), np.empty(1, a["b"].dtype)
    k.outer_relu_backward_bias_(a["d"], a["w"], out, db, dw, dc)
    return out, db, dw, dc


def _xent(k, a):
    g = np.empty_like(a["Z"])
    total, hits = k.softmax_xent_(a["Z"], a["y"], g, a["Z"].dtype.type(1 / 7_001))
    return g, np.array([total, hits])


def _bias_relu(k, a):
    Y = a["Y"].copy()
    k.bias_relu_(Y, a["b"])
    return (Y,)


def _take_rows(k, a):
    X = a["Y"]
    idx = np.random.default_rng(3).integers(0, X.shape[0], 2 * X.shape[0])
    out = np.empty((idx.shape[0], X.shape[1]), X.dtype)
    k.take_rows_(X, idx, out)
    np.testing.assert_array_equal(out, X[idx])
    return (out,)


KERNELS = {
    "sgd_step": _sgd,
    "adam_step": lambda k, a: _adam(k, a, False),
    "adam_step-amsgrad": lambda k, a: _adam(k, a, True),
    "sum_squares": lambda k, a: (np.array([k.sum_squares(a["g"])]),),
    "bias_relu_": _bias_relu,
    "relu_backward_bias_": _relu_backward,
    "bias_relu_dot_": _bias_relu_dot,
    "outer_relu_backward_bias_": _outer,
    "softmax_xent_": _xent,
    "take_rows_": _take_rows,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("build", BUILDS)
def test_each_kernel_gives_the_same_bits_at_1_and_2_threads(build, kernel, dtype):
    k = _build(build)
    a = _inputs(np.random.default_rng(7), dtype)
    results = {}
    for n in (1, 2):
        with threadpool_limits(limits=n):
            results[n] = KERNELS[kernel](k, a)
            assert k.threads_used() == n  # the work really was split at 2 threads
    for one, two in zip(results[1], results[2], strict=True):
        assert one.dtype == two.dtype
        np.testing.assert_array_equal(one.view(np.uint8), two.view(np.uint8))


def test_the_reductions_agree_with_numpy(rng):
    """Partial sums per fixed block (float64) are the exact sums to float64 rounding."""
    for build in BUILDS:
        k = builds.build(build)
        if k is None:
            continue
        a = _inputs(rng, np.float32)
        with threadpool_limits(limits=2):
            total = k.sum_squares(a["g"])
            out, db = _relu_backward(k, a)
        g64 = a["g"].astype(np.float64)
        assert total == pytest.approx(float(g64 @ g64), rel=1e-12)
        np.testing.assert_allclose(db, out.astype(np.float64).sum(axis=0), rtol=1e-6, atol=1e-5)


BLOCK_ROWS = 256  # the blocks of rows of a column sum, as both builds document them (ROWS)


def _in_order(parts):
    """float64 sums of the rows of ``parts`` (float32 or float64 terms), row after row in
    order: np.cumsum adds sequentially (np.sum pairs the terms, another order)."""
    return np.cumsum(parts.astype(np.float64), axis=0)[-1]


def _blocks_in_order(terms, rows):
    """The kernels' documented order: each block of ``rows`` rows summed in order in float64,
    then the blocks' sums in order, rounded once to the terms' type."""
    blocks = np.stack([_in_order(terms[s:s + rows]) for s in range(0, len(terms), rows)])
    return _in_order(blocks).astype(terms.dtype)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("build", BUILDS)
def test_the_fused_head_backward_sums_each_block_of_rows_in_order(build, dtype, n_threads, rng):
    """outer_relu_backward_bias_'s three sums are the bits of the order its docstring states
    (float64, rows in order within a block of ROWS rows, blocks in order), whatever the loop
    order inside a block: 70 columns (two groups of 32 and a remainder), 1,003 rows (a last
    block of 235)."""
    k = _build(build)
    rows, cols = 1_003, 70
    d = rng.normal(size=(rows, 1)).astype(dtype)
    w = rng.normal(size=cols).astype(dtype)
    h = rng.normal(size=(rows, cols)).astype(dtype)
    out, db, dw, dc = h.copy(), np.empty(cols, dtype), np.empty(cols, dtype), np.empty(1, dtype)
    with threadpool_limits(limits=n_threads):
        k.outer_relu_backward_bias_(d, w, out, db, dw, dc)
    grad = (d * w) * (h > 0).astype(dtype)
    np.testing.assert_array_equal(out, grad)
    np.testing.assert_array_equal(db, _blocks_in_order(grad, BLOCK_ROWS))
    np.testing.assert_array_equal(dw, _blocks_in_order(h * d, BLOCK_ROWS))
    np.testing.assert_array_equal(dc, _blocks_in_order(d, BLOCK_ROWS))


@pytest.mark.parametrize("build", BUILDS)
def test_the_thread_count_follows_threadpoolctl(build):
    k = _build(build)
    for n in (1, 2):
        with threadpool_limits(limits=n):
            assert threads.current() == n
            if build == "c" and k.OPENMP:
                assert k.threads() == n
            p = np.zeros(4 * threads.GRAIN, np.float32)
            k.sgd_step(p, np.ones_like(p), np.empty(0, np.float32), 1.0, 0.0, -0.1, 0.0, 1.0,
                       True, False)
            assert k.threads_used() == n
    with threadpool_limits(limits=2):  # small work stays on one thread
        p = np.zeros(threads.GRAIN, np.float32)
        k.sgd_step(p, p.copy(), np.empty(0, np.float32), 1.0, 0.0, -0.1, 0.0, 1.0, True, False)
        assert k.threads_used() == 1
    assert threads.team_for(10 * threads.GRAIN) == min(threads.current(), 10)


def test_limit_sets_the_blas_and_restores_it():
    with threadpool_limits(limits=1):
        with threads.limit(2):
            assert threads.current() == 2
        assert threads.current() == 1
        with threads.limit(None):
            assert threads.current() == 1
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises((TypeError, ValueError), match="threads"):
            with threads.limit(bad):
                pass


def test_default_threads_follows_the_environment(monkeypatch):
    for name in threads.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert threads.default_threads() == threads.cores_per_rank(1)
    monkeypatch.setenv("MKL_NUM_THREADS", "5")
    assert threads.default_threads() == 5
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert threads.default_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # OpenMP's nested list: the outer level
    assert threads.default_threads() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "many")  # not a number: the next variable
    assert threads.default_threads() == 3
    assert threads.cores_per_rank(4, cores=16) == max(1, 16 // 4) or os.cpu_count() > 16
    assert threads.cores_per_rank(64, cores=os.cpu_count()) == 1


def _script(build, body, timeout=300, **env):
    env = {**os.environ, "GDLAB_FAST": build, **env}
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(body), build],
                              capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the script hung for {timeout} s (a thread pool waiting for threads that "
                    "are not there?)")


CONCURRENT = """
import sys, threading
import numpy as np
from threadpoolctl import threadpool_limits
from gdlab.kernels import builds
k = builds.build(sys.argv[1])
rng = np.random.default_rng(0)
Z = rng.normal(size=(20_000, 10)).astype(np.float32)
y = rng.integers(0, 10, 20_000)
Y = rng.normal(size=(2_000, 100)).astype(np.float32)
b = rng.normal(size=100).astype(np.float32)

def work():
    g = np.empty_like(Z)
    loss = k.softmax_xent_(Z, y, g, np.float32(1 / 20_000))
    out, db = np.maximum(Y + b, 0), np.empty_like(b)
    k.relu_backward_bias_(Y, out, db)
    return loss, g, out, db

with threadpool_limits(limits=2):
    reference = work()
    failures = []

    def run():
        for _ in range(25):
            got = work()
            same = got[0] == reference[0] and all(
                np.array_equal(a, r) for a, r in zip(got[1:], reference[1:]))
            if not same:
                failures.append(got[0])

    workers = [threading.Thread(target=run) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
print("FAILURES", len(failures))
assert not failures
"""


@pytest.mark.parametrize(("build", "layer"), [("c", None), ("numba", None),
                                              ("numba", "workqueue")])
def test_several_python_threads_may_run_the_kernels_at_once(build, layer):
    """A server may train several networks in threads: with numba, a threading layer that
    takes launches from several threads, or a lock around them where numba has only
    workqueue (which aborts the process on concurrent launches); the same results as one at
    a time."""
    _build(build)
    out = _script(build, CONCURRENT, **({"NUMBA_THREADING_LAYER": layer} if layer else {}))
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "FAILURES 0" in out.stdout


FORK = """
import os, sys
import numpy as np
from threadpoolctl import threadpool_limits
from gdlab.kernels import builds
k = builds.build(sys.argv[1])
p = np.zeros(1_000_000, np.float32)
g = np.ones_like(p)
with threadpool_limits(limits=2):
    k.sgd_step(p, g, np.empty(0, np.float32), 1.0, 0.0, -0.1, 0.0, 1.0, True, False)
    assert k.threads_used() == 2
    pid = os.fork()
    if pid == 0:  # GNU OpenMP's pool did not survive the fork: one thread here
        k.sgd_step(p, g, np.empty(0, np.float32), 1.0, 0.0, -0.1, 0.0, 1.0, True, False)
        os._exit(0 if p[0] == np.float32(-0.2) else 3)
    _, status = os.waitpid(pid, 0)
print("CHILD", os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
@pytest.mark.parametrize("build", BUILDS)
def test_a_forked_child_runs_the_kernels(build):
    _build(build)
    out = _script(build, FORK, timeout=120)  # a second or two; a hung child never ends
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "CHILD 0" in out.stdout


def _without_spin_settings():
    """This process's environment without the variables that decide OpenMP's spin."""
    return {k: v for k, v in os.environ.items()
            if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", threads.SHARE_ENV)}


SPIN = """
import os, sys
from gdlab.kernels import builds
builds.build(sys.argv[1])
print("SPIN", os.environ.get("GOMP_SPINCOUNT"))
"""


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("env", [{}, {threads.SHARE_ENV: "0"}, {"OMP_WAIT_POLICY": "passive"},
                                 {"GOMP_SPINCOUNT": "7"}])
def test_openmp_threads_give_their_cores_back_quickly_unless_the_user_chose(env, build):
    """GNU OpenMP's idle threads spin for milliseconds by default: on the cores that the BLAS's
    own threads need between the kernels (a step 8 times longer on 2 cores), they give them back
    quickly; where the BLAS runs on the kernels' threads (one pool), they stay awake for the
    step's next product, but for less than GNU OpenMP's default."""
    _build(build)
    out = subprocess.run([sys.executable, "-c", SPIN, build], capture_output=True, text=True,
                         env={**_without_spin_settings(), **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    one_pool = (build == "c" and threads.callback_setter() is not None
                and env.get(threads.SHARE_ENV) != "0")
    want = env.get("GOMP_SPINCOUNT", None if "OMP_WAIT_POLICY" in env else
                   threads.SHARED_SPINCOUNT if one_pool else threads.SPINCOUNT)
    assert out.stdout.split() == ["SPIN", str(want)]
    if want is not None:
        assert int(want) < 300_000  # GNU OpenMP's default


NO_C_BUILD = """
import os, sys
sys.modules["gdlab.kernels._ckernels"] = None  # as where no C compiler was found
from gdlab.kernels import builds
assert builds.build("c") is None
builds.build("numba")
print("SPIN", os.environ.get("GOMP_SPINCOUNT"))
"""


def test_a_missing_c_build_leaves_numbas_threads_the_short_spin():
    """The C build's longer spin is for one shared pool; numba's threads, beside OpenBLAS's own,
    must give the cores back (a B1 epoch at 2 threads took 2.3 s instead of 0.65 s)."""
    _build("numba")
    out = subprocess.run([sys.executable, "-c", NO_C_BUILD], capture_output=True, text=True,
                         env=_without_spin_settings(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["SPIN", threads.SPINCOUNT]
