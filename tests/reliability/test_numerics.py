"""Reliability under numerical faults: a NaN or inf in the loss, in a gradient or in a batch
stops training with DivergenceError at that very step, the parameters are the last good ones
and the last checkpoint stays loadable; exploding but finite gradients are tamed by clipping.

Faults are injected from outside the training code: a loss subclass that corrupts the value or
the gradient of its k-th training call, a callback that writes NaN into the training data, and
targets so large that the gradients explode. The "last good state" is checked against a clean
run of the same seed stopped just before the fault (never against numbers from the faulty run).
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gdlab.errors import DivergenceError
from gdlab.nn.losses import CrossEntropyLoss
from gdlab.nn.sequential import mlp
from gdlab.optim import SGD, Adam
from gdlab.training import Trainer
from gdlab.training.checkpoint import load_checkpoint

N, D, C = 60, 4, 3


def blobs(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(N) % C
    X = rng.normal(size=(N, D)) + 2.0 * np.eye(C, D)[y]
    return np.ascontiguousarray(X, dtype=dtype), y


class FaultyLoss(CrossEntropyLoss):
    """Cross-entropy whose ``at``-th training call (value and gradient) is corrupted."""

    def __init__(self, at, kind):
        super().__init__()
        self.at, self.kind, self.calls = at, kind, 0

    def compute(self, output, y, sample_weight=None, need_grad=True):
        value, grad = super().compute(output, y, sample_weight, need_grad)
        if need_grad:
            self.calls += 1
            if self.calls == self.at:
                bad = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[self.kind.split("_")[0]]
                if self.kind.endswith("loss"):
                    value = bad
                else:
                    grad = grad.copy()
                    grad[0, 0] = bad
        return value, grad


def trainer(loss, *, batchnorm=False, opt="adam", batch_size=8, dtype="float64", **kw):
    net = mlp(D, [6], C, "tanh", batchnorm=batchnorm, dtype=dtype, seed=1)
    optimizer = (Adam if opt == "adam" else SGD)([net.flat_parameters], lr=0.01)
    return Trainer(net, loss, optimizer, batch_size=batch_size, epochs=50, tol=None, seed=2, **kw)


STEPS_PER_EPOCH = N // 8 + 1  # 8 batches of 8 samples (the last one of 4)


@pytest.mark.parametrize("kind", ["nan_loss", "inf_loss", "-inf_loss", "nan_grad", "inf_grad"])
@pytest.mark.parametrize("at", [1, 5, 2 * STEPS_PER_EPOCH + 3])
def test_a_non_finite_loss_or_gradient_stops_at_that_step_with_the_last_good_state(
        kind, at, tmp_path):
    X, y = blobs()
    ckpt = tmp_path / "ckpt.npz"
    t = trainer(FaultyLoss(at, kind), checkpoint_path=ckpt, checkpoint_every=1)
    with pytest.raises(DivergenceError) as info:
        t.fit(X, y)
    err = info.value
    assert err.step == at  # the step that was not applied
    assert err.epoch == (at - 1) // STEPS_PER_EPOCH + 1
    assert "diverged" in str(err) and f"step {at}" in str(err)
    assert t.step == at - 1
    # the parameters are those of a clean run stopped before the faulty step
    clean = trainer(CrossEntropyLoss())
    if at > 1:
        clean.fit(X, y, max_steps=at - 1)
    np.testing.assert_array_equal(t.net.flat_parameters, clean.net.flat_parameters)
    # the optimizer never saw the bad gradient: one more clean step gives the clean result
    np.testing.assert_array_equal(t.optimizer.state_dict()["state"][0]["exp_avg"],
                                  clean.optimizer.state_dict()["state"][0]["exp_avg"])
    # the last periodic checkpoint is the last whole epoch, finite and loadable
    done = (at - 1) // STEPS_PER_EPOCH
    if done == 0:
        assert not ckpt.exists()
    else:
        state, _ = load_checkpoint(ckpt)
        assert state["epoch"] == done and state["step"] == done * STEPS_PER_EPOCH
        assert np.isfinite(state["net"]["params"]).all()
        ref = trainer(CrossEntropyLoss())
        ref.fit(X, y, epochs=done)
        np.testing.assert_array_equal(state["net"]["params"], ref.net.flat_parameters)
    # the trainer can save its good state and it resumes
    t.save(tmp_path / "after.npz")
    again = trainer(CrossEntropyLoss())
    again.load(tmp_path / "after.npz")
    assert again.step == at - 1
    np.testing.assert_array_equal(again.net.flat_parameters, clean.net.flat_parameters)


def test_error_attributes_name_the_learning_rate():
    X, y = blobs()
    t = trainer(FaultyLoss(3, "nan_loss"), opt="sgd")
    with pytest.raises(DivergenceError) as info:
        t.fit(X, y)
    assert info.value.lr == pytest.approx(0.01) and "learning rate 0.01" in str(info.value)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_appearing_in_a_batch_stops_at_that_step(dtype, value):
    # The data is checked once at fit; here a value goes bad afterwards (as memory-mapped or
    # shared data can), in the array that fit trains on (float, C-contiguous: used as given).
    X, y = blobs(np.dtype(dtype))
    at = 4

    class Corrupt:
        def on_step_end(self, trainer, logs):
            if logs["step"] == at - 1:
                X[7, 2] = value

    t = trainer("cross_entropy", batch_size="full", dtype=dtype, callbacks=[Corrupt()])
    with pytest.raises(DivergenceError) as info:
        t.fit(X, y)
    assert info.value.step == at and t.step == at - 1
    X2, _ = blobs(np.dtype(dtype))
    clean = trainer("cross_entropy", batch_size="full", dtype=dtype)
    clean.fit(X2, y, max_steps=at - 1)
    np.testing.assert_array_equal(t.net.flat_parameters, clean.net.flat_parameters)


def test_nan_in_a_batch_with_batchnorm_restores_parameters_and_statistics(tmp_path):
    # BatchNorm updates its running statistics during the forward pass that meets the NaN:
    # the whole network goes back to the start of the epoch, which is the last checkpoint.
    X, y = blobs()
    at = 2 * STEPS_PER_EPOCH + 3

    class Corrupt:
        def on_step_end(self, trainer, logs):
            if logs["step"] == at - 1:
                X[:, 1] = np.nan  # every batch of the epoch meets it

    ckpt = tmp_path / "bn.npz"
    t = trainer("cross_entropy", batchnorm=True, callbacks=[Corrupt()], checkpoint_path=ckpt)
    with pytest.raises(DivergenceError) as info:
        t.fit(X, y)
    assert info.value.step == at and "restored" in str(info.value)
    state, _ = load_checkpoint(ckpt)
    assert state["epoch"] == 2
    np.testing.assert_array_equal(t.net.flat_parameters, state["net"]["params"])
    for key, array in t.net.buffers().items():
        assert np.isfinite(array).all()
        np.testing.assert_array_equal(array, state["net"]["buffers"][key])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused_before_any_step(bad):
    X, y = blobs()
    X[5, 1] = bad
    t = trainer("cross_entropy")
    before = t.net.flat_parameters.copy()
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first at row 5, column 1"):
        t.fit(X, y)
    assert t.step == 0
    np.testing.assert_array_equal(t.net.flat_parameters, before)


def exploding_regression():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(64, D))
    y = 1e4 * (X @ rng.normal(size=(D, 1)) + 1.0)  # targets far out of scale: huge gradients
    return X, y


def regression_trainer(**kw):
    net = mlp(D, [8], 1, "identity", dtype="float64", seed=4)
    return Trainer(net, "mse", SGD([net.flat_parameters], lr=0.05), batch_size=16, epochs=30,
                   tol=None, seed=5, **kw)


def test_exploding_gradients_diverge_without_clipping():
    X, y = exploding_regression()
    with pytest.raises(DivergenceError):
        regression_trainer().fit(X, y)


def test_clip_norm_bounds_every_update_and_training_proceeds():
    X, y = exploding_regression()
    lr, clip = 0.05, 1.0
    moves = []

    class Watch:
        def on_train_begin(self, trainer, logs):
            self.prev = trainer.net.flat_parameters.copy()

        def on_step_end(self, trainer, logs):
            p = trainer.net.flat_parameters
            moves.append(float(np.linalg.norm(p - self.prev)))
            self.prev = p.copy()

    t = regression_trainer(clip_norm=clip, callbacks=[Watch()])
    result = t.fit(X, y)
    h = result.history
    assert result.stopped_because == "max_epochs" and np.isfinite(t.net.flat_parameters).all()
    assert min(h["grad_norm"]) > 100 * clip  # the gradients really were exploding
    assert len(moves) == 30 * 4
    # plain SGD: the update is lr times the clipped gradient, whose norm is clip
    np.testing.assert_allclose(moves, lr * clip, rtol=1e-9)
    assert h["loss"][-1] < h["loss"][0]


def test_clip_value_also_keeps_training_finite():
    X, y = exploding_regression()
    t = regression_trainer(clip_value=0.1)
    result = t.fit(X, y)
    assert result.stopped_because == "max_epochs"
    assert result.history["loss"][-1] < result.history["loss"][0]


# ---- the command line: exit code 1, one error line, the checkpoint kept ----------------------

DRIVER = textwrap.dedent("""
    import sys
    import numpy as np
    import gdlab.nn.losses as L
    AT = int(sys.argv[1])
    calls = [0]
    original = L.CrossEntropyLoss.compute
    def faulty(self, output, y, w, need_grad):
        value, grad = original(self, output, y, w, need_grad)
        if need_grad:
            calls[0] += 1
            if calls[0] == AT:
                value = float("nan")
        return value, grad
    L.CrossEntropyLoss.compute = faulty
    from gdlab.cli import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.slow
def test_cli_nan_in_the_loss_exits_1_and_saves_the_last_good_state(tmp_path):
    # iris: 105 training samples, batch 16 -> 7 steps per epoch; the NaN comes at epoch 3,
    # before the first periodic checkpoint (epoch 5): the end of epoch 2 is saved
    out = tmp_path / "run"
    at = 2 * 7 + 4
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(at), "train", "--dataset", "iris", "--layers", "8",
         "--batch-size", "16", "--epochs", "10", "--tol", "none", "--checkpoint-every", "5",
         "--quiet", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONHASHSEED": "0"})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if "error:" in x]
    assert len(lines) == 1, proc.stderr
    assert "diverged" in lines[0] and f"step {at}" in lines[0] and "nan" in lines[0].lower()
    assert str(out / "checkpoint.npz") in lines[0]
    state, _ = load_checkpoint(out / "checkpoint.npz")
    assert state["epoch"] == 2 and state["step"] == 14
    assert np.isfinite(state["net"]["params"]).all()
    assert not (out / "metrics.json").exists()
