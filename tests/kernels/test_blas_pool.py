"""One thread pool for a step: where NumPy's BLAS is OpenBLAS with a pool of its own, the C
build runs the BLAS's threaded parts on the kernels' OpenMP threads (gdlab.kernels.threads.attach).
The products must give the same bits as on OpenBLAS's own threads, in every way a product can
be called: from several Python threads at once, in a forked child, and where OpenMP cannot
give one thread per part."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gdlab.kernels import builds, threads

PRODUCTS = """
import hashlib, json, sys, threading
import numpy as np
from threadpoolctl import threadpool_limits
from gdlab.kernels import builds
k = builds.build("c")
rng = np.random.default_rng(0)
cases = {  # B1's products, a product of float64, a matrix-vector product, a transposed one
    "x_w1": (rng.normal(size=(128, 784)), rng.normal(size=(784, 256)), np.float32),
    "xt_d": (rng.normal(size=(784, 128)), rng.normal(size=(128, 256)), np.float32),
    "f64": (rng.normal(size=(301, 257)), rng.normal(size=(257, 199)), np.float64),
    "gemv": (rng.normal(size=(2000, 1500)), rng.normal(size=1500), np.float32),
    "t": (rng.normal(size=(600, 500)).T, rng.normal(size=(600, 300)), np.float32),
}
def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
def products():
    return {name: digest(a.astype(t) @ b.astype(t)) for name, (a, b, t) in cases.items()}
with threadpool_limits(limits=2):
    before = k.blas_calls_shared()
    out = {"products": products()}
    out["shared_calls"] = k.blas_calls_shared() - before
    if "threads" in sys.argv:  # four Python threads at once, each its products and a kernel
        got, errors = [], []
        def work():
            try:
                for _ in range(5):
                    got.append(products())
                    p = np.zeros(300_000, np.float32)
                    k.sgd_step(p, np.ones_like(p), np.empty(0, np.float32), 1.0, 0.0, -0.5,
                               0.0, 1.0, True, False)
                    assert (p == -0.5).all()
            except Exception as e:
                errors.append(repr(e))
        workers = [threading.Thread(target=work) for _ in range(4)]
        [w.start() for w in workers]
        [w.join() for w in workers]
        out["threads_agree"] = not errors and all(g == out["products"] for g in got)
        out["errors"] = errors
    if "fork" in sys.argv:
        import os
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # OpenMP's pool did not survive the fork: OpenBLAS's own threads here
            os.write(w, json.dumps(products()).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            out["child"] = json.loads(f.read())
        os.waitpid(pid, 0)
print(json.dumps(out))
"""


def _run(*args, timeout=300, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_DYNAMIC", "OMP_THREAD_LIMIT")}
    try:
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(PRODUCTS), *args],
                             capture_output=True, text=True, env={**clean, **env},
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung for {timeout} s: the parts of a product waiting for each other?")
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def own_pool():
    """The products on OpenBLAS's own threads: the reference."""
    if builds.build("c") is None or not builds.build("c").OPENMP:
        pytest.skip("the C kernels are not built with OpenMP here")
    if threads.callback_setter() is None:
        pytest.skip("NumPy's BLAS here is not OpenBLAS with a pool of its own")
    got = _run(**{threads.SHARE_ENV: "0"})
    assert got["shared_calls"] == 0
    return got["products"]


def test_the_products_run_on_the_kernels_threads_and_give_the_same_bits(own_pool):
    got = _run()
    assert got["shared_calls"] >= 4  # the threaded ones (OpenBLAS runs small ones on one)
    assert got["products"] == own_pool


def test_several_python_threads_may_multiply_at_once(own_pool):
    got = _run("threads")
    assert got["errors"] == [] and got["threads_agree"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
def test_a_forked_child_multiplies_on_openblass_own_threads(own_pool):
    got = _run("fork", timeout=120)
    assert got["child"] == own_pool


@pytest.mark.parametrize("env", [{"OMP_DYNAMIC": "true"}, {"OMP_THREAD_LIMIT": "1"}])
def test_where_openmp_cannot_give_a_thread_per_part_the_parts_get_threads_of_their_own(
        own_pool, env):
    got = _run(timeout=120, **env)
    assert got["shared_calls"] >= 4
    assert got["products"] == own_pool


def test_the_blas_gets_its_own_threads_back():
    k = builds.build("c")
    if k is None or threads.callback_setter() is None or not k.OPENMP:
        pytest.skip("no shared pool here")
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.ones((512, 512), np.float32)
    try:
        assert k.share_blas_threads(0) is False
        with threadpool_limits(limits=2):
            before = k.blas_calls_shared()
            a @ a
            assert k.blas_calls_shared() == before
    finally:
        if threads.will_share():
            assert k.share_blas_threads(threads.callback_setter()) is True
    with threadpool_limits(limits=2):
        before = k.blas_calls_shared()
        a @ a
        assert k.blas_calls_shared() == before + threads.will_share()
