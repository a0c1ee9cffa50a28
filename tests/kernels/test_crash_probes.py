"""Inputs that crashed the process (SIGSEGV) or gave a wrong result without a word before the
kernels' contract (gdlab.kernels.contract), each run in a fresh process with GDLAB_FAST naming
one build: the process must now exit normally, having got a ValueError that names the
argument. A crash would kill pytest itself, hence the subprocesses."""

import os
import subprocess
import sys
import textwrap

import pytest

from gdlab.kernels import builds

PRELUDE = """
import sys, threading
import numpy as np
from gdlab.kernels import builds
k = builds.select(True, 0)
assert k.__name__ == builds.BACKENDS[sys.argv[1]], k.__name__
def expect(fn, *args):
    try:
        fn(*args)
    except (TypeError, ValueError) as exc:
        print(f"REJECTED {type(exc).__name__}: {exc}")
    else:
        print("ACCEPTED")
"""

ADAM = "1.0, 0.0, 1.0, 0.1, 0.999, 0.001, 1e-8, -1e-3"

# name -> (code, what stdout must hold)
PROBES = {
    # labels that share memory with the gradient output: read again after the check, then
    # out of bounds (SIGSEGV in both builds)
    "labels-in-the-gradient": ("""
        g = np.zeros((8, 8))
        y = g[0].view(np.int64)
        expect(k.softmax_xent_, np.random.default_rng(0).normal(size=(8, 8)), y, g, 0.125)
        """, "REJECTED ValueError: y and g overlap in memory"),
    # short optimizer state, straight into the kernel (SIGSEGV in the numba build)
    "short-adam-state": (f"""
        p = np.zeros(200_000, np.float32)
        expect(k.adam_step, p, np.ones_like(p), np.zeros(10, np.float32),
               np.zeros(10, np.float32), np.empty(0, np.float32), {ADAM})
        """, "REJECTED ValueError: m has 10 elements, expected 200000"),
    "short-sgd-buffer": ("""
        p = np.zeros(200_000, np.float32)
        expect(k.sgd_step, p, np.ones_like(p), np.zeros(10, np.float32), 1.0, 0.0, -0.1, 0.9,
               1.0, False, False)
        """, "REJECTED ValueError: buf has 10 elements, expected 200000"),
    # ... and through the public API: a state array replaced from outside
    "short-state-through-adam": ("""
        from gdlab.optim import Adam
        p = np.zeros(200_000, np.float32)
        opt = Adam([p], fast=True)
        opt.state[0]["exp_avg"] = np.zeros(10, np.float32)
        expect(opt.step, [np.ones_like(p)])
        """, "REJECTED ValueError: state[0]['exp_avg'] has shape (10,) but params[0] has shape "
             "(200000,)"),
    # outputs too short for what the numba loops wrote
    "short-bias-gradient": ("""
        out = np.ones((50_000, 16), np.float32)
        expect(k.relu_backward_bias_, out.copy(), out, np.zeros(2, np.float32))
        """, "REJECTED ValueError: db has 2 elements, expected 16"),
    "short-head-gradient": ("""
        out = np.ones((50_000, 16), np.float32)
        f = np.zeros(16, np.float32)
        expect(k.outer_relu_backward_bias_, np.ones((50_000, 1), np.float32), f, out, f.copy(),
               np.zeros(1, np.float32), np.zeros(1, np.float32))
        """, "REJECTED ValueError: dw has 1 elements, expected 16"),
    "short-head-output": ("""
        Y = np.ones((50_000, 16), np.float32)
        f = np.zeros(16, np.float32)
        expect(k.bias_relu_dot_, Y, f, f.copy(), 0.0, np.zeros((3, 1), np.float32))
        """, "REJECTED ValueError: o's rows has 3 elements, expected 50000"),
    # a gradient of the wrong shape after a forward (gradients of 1e+103 from the numba build)
    "backward-of-the-wrong-shape": ("""
        from gdlab.nn.sequential import mlp
        net = mlp(3, (16,), 1, fast=True)
        net.forward(np.ones((7, 3)), training=True)
        expect(net.backward, np.ones((1, 1)))
        net.forward(np.ones((7, 3)), training=True)
        expect(net.backward, np.ones((9, 1)))
        """, "REJECTED ValueError: grad_out has shape (9, 1), but the last forward's output has "
             "shape (7, 1)"),
    # a batch's row far outside the data (np.take with mode="clip" would have clipped it)
    "far-row-index": ("""
        X = np.ones((50_000, 16), np.float32)
        expect(k.take_rows_, X, np.array([0, 10**12, -10**12]), np.zeros((3, 16), np.float32))
        """, "REJECTED ValueError: index idx[1] = 1000000000000 is outside [0, 50000)"),
    # a buffer one byte off its float alignment
    "misaligned": ("""
        Y = np.frombuffer(bytearray(4 * 12 + 1), np.float32, offset=1, count=12).reshape(3, 4)
        expect(k.bias_relu_, Y, np.zeros(4, np.float32))
        """, "REJECTED ValueError: Y is not aligned to its item size (4 bytes)"),
}


def _run(build, code, timeout=300):
    if builds.build(build) is None:
        pytest.skip(f"the {build} kernels are not installed")
    env = {**os.environ, "GDLAB_FAST": build}
    script = PRELUDE + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script, build], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.parametrize("build", ["c", "numba"])
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_each_probe_ends_in_a_clean_error_not_a_crash(probe, build):
    code, want = PROBES[probe]
    out = _run(build, code)
    assert out.returncode == 0, f"exit code {out.returncode}\n{out.stdout}\n{out.stderr[-3000:]}"
    assert want in out.stdout, out.stdout
    assert "ACCEPTED" not in out.stdout


RACE = """
done = False
def flip():  # a value that turns invalid and back while the kernel runs
    while not done:
        {array}[1234] = 10**12
        {array}[1234] = 1
sys.setswitchinterval(1e-6)
writer = threading.Thread(target=flip)
writer.start()
results = {{"same": 0, "rejected": 0, "other": 0}}
try:
    for _ in range(300):
        try:
            got = call()
        except ValueError as exc:
            assert str(exc) == {message!r}, str(exc)
            results["rejected"] += 1
        else:
            results["same" if same(got) else "other"] += 1
finally:
    done = True
    writer.join()
print("RESULTS", results)
assert not results["other"], results
"""

LABEL_RACE = """
rng = np.random.default_rng(0)
z = rng.normal(size=(3000, 10)).astype(np.float32)
y = rng.integers(0, 10, 3000)
y[1234] = 1
g = np.empty_like(z)
reference = k.softmax_xent_(z, y, g, np.float32(1 / 3000))
def call():
    return k.softmax_xent_(z, y, g, np.float32(1 / 3000))
def same(got):
    return got == reference
""" + RACE.format(array="y", message="label y[1234] = 1000000000000 is outside [0, 10)")


@pytest.mark.parametrize("build", ["c", "numba"])
def test_labels_changed_by_another_thread_never_read_out_of_bounds(build):
    """Each label is read once and checked where the loop uses it: a call sees the label valid
    (and returns the loss of valid labels, bit for bit) or invalid (a ValueError), never an
    out-of-bounds read (SIGSEGV, or a different loss without an error, before)."""
    out = _run(build, LABEL_RACE)
    assert out.returncode == 0, f"exit code {out.returncode}\n{out.stdout}\n{out.stderr[-3000:]}"
    assert "RESULTS" in out.stdout


INDEX_RACE = """
rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 64)).astype(np.float32)
idx = rng.integers(0, 3000, 3000)
idx[1234] = 1
out = np.empty((3000, 64), np.float32)
k.take_rows_(X, idx, out)
reference = out.copy()
def call():
    out[...] = 0
    k.take_rows_(X, idx, out)
    return out
def same(got):
    return np.array_equal(got, reference)
""" + RACE.format(array="idx", message="index idx[1234] = 1000000000000 is outside [0, 3000)")


@pytest.mark.parametrize("build", ["c", "numba"])
def test_indices_changed_by_another_thread_never_read_out_of_bounds(build):
    """The batch gather reads each index once and checks it where it copies the row: a call
    sees the index valid (the same rows) or invalid (a ValueError), never a row read from
    outside X."""
    out = _run(build, INDEX_RACE)
    assert out.returncode == 0, f"exit code {out.returncode}\n{out.stdout}\n{out.stderr[-3000:]}"
    assert "RESULTS" in out.stdout
