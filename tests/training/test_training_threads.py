"""Training on several threads: ``threads=`` on Trainer and the estimators and ``gdlab train
--threads`` set the BLAS and the kernels together while they train, then restore the process's
setting; the default follows OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS, else the
cores; training is bit-reproducible at a fixed thread count and agrees closely across counts
(the kernels are the same bits at any count; the BLAS's products are not always)."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from gdlab.estimators import GDClassifier, GDRegressor
from gdlab.kernels import builds, threads
from gdlab.nn.losses import CrossEntropyLoss, MSELoss
from gdlab.nn.sequential import mlp
from gdlab.optim import SGD, Adam
from gdlab.training import Callback, Trainer


def blas_threads():
    """The thread counts of every BLAS loaded (NumPy's and SciPy's may be two libraries)."""
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


class Watch(Callback):
    """Records the BLAS's and the kernels' thread counts during each epoch's end."""

    def __init__(self):
        self.seen = []

    def on_epoch_end(self, trainer, logs):
        self.seen.append((threads.current(), *sorted(blas_threads())))


def test_trainer_threads_sets_blas_and_kernels_while_it_fits(rng):
    X, y = rng.normal(size=(64, 5)), rng.integers(0, 3, 64)
    net = mlp(5, (8,), 3, seed=0)
    watch = Watch()
    trainer = Trainer(net, CrossEntropyLoss(), Adam([net.flat_parameters]), batch_size=16,
                      epochs=2, tol=None, callbacks=[watch], threads=1)
    with threadpool_limits(limits=2):
        trainer.fit(X, y)
        assert set(watch.seen) == {(1, 1)}
        assert threads.current() == 2 and blas_threads() == {2}  # restored
        Trainer(net, CrossEntropyLoss(), Adam([net.flat_parameters]), batch_size=16, epochs=1,
                tol=None, callbacks=[watch]).fit(X, y)
        assert watch.seen[-1] == (2, 2)  # threads=None: the process's setting
    for bad in (0, -2, 1.5, "4"):
        with pytest.raises((TypeError, ValueError), match="threads"):
            Trainer(net, CrossEntropyLoss(), Adam([net.flat_parameters]), threads=bad)


@pytest.mark.parametrize("cls", [GDClassifier, GDRegressor])
def test_the_estimators_take_threads(cls, rng):
    X, y = rng.normal(size=(60, 4)), rng.integers(0, 2, 60)
    watch = Watch()
    est = cls(hidden_layer_sizes=(6,), max_iter=2, threads=1, callbacks=[watch], random_state=0)
    with threadpool_limits(limits=2), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
        assert set(watch.seen) == {(1, 1)} and threads.current() == 2
    assert est.get_params()["threads"] == 1
    with pytest.raises(ValueError, match="threads"):
        cls(threads=0).fit(X, y)


SHOW = ("import json, numpy as np\nfrom gdlab.kernels import threads\n"
        "from gdlab.estimators import GDClassifier\nseen = []\n"
        "class W:\n    def on_epoch_end(self, trainer, logs):\n"
        "        seen.append(threads.current())\n"
        "X = np.random.default_rng(0).normal(size=(40, 3))\n"
        "GDClassifier(hidden_layer_sizes=(4,), max_iter=1, callbacks=[W()]).fit(X, np.arange(40) % 2)\n"
        "print(json.dumps({'fit': seen, 'default': threads.default_threads()}))\n")


@pytest.mark.parametrize(("env", "want"), [
    ({"OMP_NUM_THREADS": "1"}, 1), ({"OPENBLAS_NUM_THREADS": "1"}, 1),
    ({"MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}, 1), ({}, None)])
def test_the_default_follows_the_environment(env, want):
    clean = {k: v for k, v in os.environ.items() if k not in threads.ENV_VARS}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", SHOW], capture_output=True,
                         text=True, env={**clean, **env}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    want = threads.cores_per_rank(1) if want is None else want
    assert got == {"fit": [want], "default": want}


# ---- reproducibility -------------------------------------------------------------------------

def _classifier_epoch(n_threads, build, monkeypatch):
    """One epoch of an MLP whose steps split the kernels' work between threads (batch 512 x 256
    activations, 85,000 parameters): fused pairs, cross-entropy, Adam."""
    monkeypatch.setenv("GDLAB_FAST", build)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4096, 200)).astype(np.float32)
    y = rng.integers(0, 10, 4096)
    net = mlp(200, (256, 128), 10, seed=1, fast=True)
    Trainer(net, CrossEntropyLoss(), Adam([net.flat_parameters], lr=1e-3, fast=True),
            batch_size=512, epochs=1, tol=None, seed=2, threads=n_threads).fit(X, y)
    return net.flat_parameters.copy()


def _regressor_steps(n_threads, build, monkeypatch):
    """Full-batch steps of a 100-64-1 regression network on 20,000 rows (B3's shape): the fused
    pair with a one-output head, on every thread."""
    monkeypatch.setenv("GDLAB_FAST", build)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 100)).astype(np.float32)
    y = np.tanh(X[:, :1] - X[:, 1:2]).astype(np.float32)
    net = mlp(100, (64,), 1, seed=1, fast=True)
    Trainer(net, MSELoss(), SGD([net.flat_parameters], lr=0.05, fast=True), batch_size="full",
            epochs=5, tol=None, seed=2, threads=n_threads).fit(X, y)
    return net.flat_parameters.copy()


RUNS = {"classifier": _classifier_epoch, "regressor": _regressor_steps}


@pytest.mark.parametrize("run", sorted(RUNS))
@pytest.mark.parametrize("build", ["c", "numba"])
def test_training_is_bit_reproducible_at_2_threads_and_close_at_1(run, build, monkeypatch):
    if builds.build(build) is None:
        pytest.skip(f"the {build} kernels are not installed")
    two = RUNS[run](2, build, monkeypatch)
    again = RUNS[run](2, build, monkeypatch)
    one = RUNS[run](1, build, monkeypatch)
    np.testing.assert_array_equal(two, again)
    np.testing.assert_allclose(one, two, rtol=1e-4, atol=0)
    start = mlp(200, (256, 128), 10, seed=1) if run == "classifier" else mlp(100, (64,), 1, seed=1)
    assert not np.allclose(two, start.flat_parameters)  # it trained
