"""gdlab.training: the loop against a PyTorch reference, exact resume, divergence, stopping
rules, schedules, validation, the distributed hook and input validation."""

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from gdlab import DivergenceError
from gdlab.distributed import Communicator
from gdlab.nn.layers import Dense
from gdlab.nn.losses import CrossEntropyLoss, MSELoss
from gdlab.nn.sequential import Sequential, mlp
from gdlab.optim import SGD, Adam
from gdlab.schedules import ExponentialLR, ReduceLROnPlateau, StepLR
from gdlab.training import Callback, Trainer, fit
from gdlab.training.prepared import split_validation
from gdlab.training.stopping import NoImprovement


def blobs(n=60, d=4, c=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    X = rng.normal(size=(n, d)) + 2.0 * np.eye(c, d)[y]
    return X, y


def regression(n=50, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ np.array([1.0, -2.0, 0.5])[:d] + 0.1 * rng.normal(size=n)
    return X, y


class Recorder(Callback):
    def __init__(self):
        self.batches = []

    def on_step_end(self, trainer, logs):
        self.batches.append(np.array(logs["indices"]))


# ---- PyTorch reference --------------------------------------------------------------------

def torch_twin(net):
    """A torch.nn.Sequential with the same layers and weights (Dense, Tanh, ReLU only)."""
    mods = []
    for layer in net.layers:
        if isinstance(layer, Dense):
            lin = torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.W.T.copy()))
                lin.bias.copy_(torch.from_numpy(layer.b.copy()))
            mods.append(lin)
        else:
            mods.append({"tanh": torch.nn.Tanh(), "relu": torch.nn.ReLU()}[layer.name])
    return torch.nn.Sequential(*mods)


def torch_train(model, X, y, batches, make_opt, alpha=0.0):
    """The same steps in torch; returns the per-step batch losses (penalty included)."""
    opt = make_opt(model.parameters())
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    losses = []
    for idx in batches:
        idx = torch.from_numpy(idx)
        out = model(Xt[idx])
        value = torch.nn.functional.cross_entropy(out, yt[idx])
        if alpha:
            value = value + alpha / (2 * len(idx)) * sum((w * w).sum() for w in weights)
        opt.zero_grad()
        value.backward()
        opt.step()
        losses.append(value.item())
    return losses


def flat_torch(model):
    out = []
    for m in model:
        if isinstance(m, torch.nn.Linear):
            out += [m.weight.detach().numpy().T.ravel(), m.bias.detach().numpy().ravel()]
    return np.concatenate(out)


@pytest.mark.parametrize("batch_size", ["full", 1, 7])
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_matches_torch_reference(batch_size, opt_name):
    X, y = blobs(n=45)
    net = mlp(4, [6], 3, "tanh", dtype="float64", seed=3)
    model = torch_twin(net)
    if opt_name == "sgd":
        opt = SGD([net.flat_parameters], lr=0.05, momentum=0.9)
        make = lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)  # noqa: E731
    else:
        opt = Adam([net.flat_parameters], lr=0.01)
        make = lambda p: torch.optim.Adam(p, lr=0.01)  # noqa: E731
    rec = Recorder()
    epochs = 4 if batch_size == 1 else 8
    result = Trainer(net, CrossEntropyLoss(), opt, batch_size=batch_size, epochs=epochs, tol=None,
                     alpha=1e-3, callbacks=[rec], seed=11, record_steps=True).fit(X, y)
    # the batch order is the documented one: default_rng(seed).permutation(n) per epoch
    rng = np.random.default_rng(11)
    k = 45 if batch_size == "full" else batch_size
    expected = []
    for _ in range(epochs):
        order = np.arange(45) if batch_size == "full" else rng.permutation(45)
        expected += [order[s:s + k] for s in range(0, 45, k)]
    assert len(rec.batches) == len(expected) == result.steps
    for got, want in zip(rec.batches, expected):
        np.testing.assert_array_equal(got, want)
    ref_losses = torch_train(model, X, y, rec.batches, make, alpha=1e-3)
    ref = flat_torch(model)
    assert np.max(np.abs(net.flat_parameters - ref)) / np.max(np.abs(ref)) < 1e-9
    np.testing.assert_allclose(result.history.step_loss, ref_losses, rtol=1e-9)
    # the epoch loss is the batch losses' mean weighted by batch size
    sizes = np.array([len(b) for b in rec.batches], dtype=float).reshape(epochs, -1)
    per_epoch = (np.array(ref_losses).reshape(epochs, -1) * sizes).sum(1) / sizes.sum(1)
    np.testing.assert_allclose(result.history["loss"], per_epoch, rtol=1e-9)


def test_drop_last_and_no_shuffle():
    X, y = blobs(n=23)
    net = mlp(4, [5], 3, seed=0)
    rec = Recorder()
    Trainer(net, "cross_entropy", SGD([net.flat_parameters], lr=0.1), batch_size=5, epochs=2,
            shuffle=False, drop_last=True, tol=None, callbacks=[rec]).fit(X, y)
    assert len(rec.batches) == 8  # 4 full batches per epoch, the 3 leftover rows dropped
    np.testing.assert_array_equal(np.concatenate(rec.batches[:4]), np.arange(20))


def test_parameter_list_optimizer_gives_same_result_as_flat():
    X, y = blobs()
    nets = [mlp(4, [6], 3, dtype="float64", seed=1) for _ in range(2)]
    Trainer(nets[0], "cross_entropy", Adam([nets[0].flat_parameters], lr=0.01), epochs=3,
            tol=None).fit(X, y)
    Trainer(nets[1], "cross_entropy", Adam(nets[1].parameters(), lr=0.01), epochs=3,
            tol=None).fit(X, y)
    np.testing.assert_allclose(nets[0].flat_parameters, nets[1].flat_parameters, rtol=1e-12)


def test_alpha_penalises_weights_not_biases():
    X, y = regression()
    net = Sequential([Dense(3, 1)], dtype="float64")
    net.flat_parameters[...] = 0.0
    net.layers[0].b[...] = 5.0
    # with zero data gradient for W (W = 0 on targets = b) only the penalty would move W, and the
    # bias is not penalised: y == 5 everywhere makes everything a fixed point
    Trainer(net, "mse", SGD([net.flat_parameters], lr=0.1), batch_size="full", epochs=3,
            alpha=10.0, tol=None).fit(X, np.full(50, 5.0))
    np.testing.assert_array_equal(net.layers[0].b, [5.0])
    np.testing.assert_array_equal(net.layers[0].W, 0.0)


# ---- exact resume in a fresh process ------------------------------------------------------

BUILD = """
import numpy as np
from gdlab.nn.sequential import mlp
from gdlab.optim import SGD, Adam
from gdlab.schedules import CosineAnnealingLR
from gdlab.training import Trainer

def build(kind, epochs):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(90, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    net = mlp(5, [12, 8], 3, batchnorm=True, dropout=0.2, seed=2)
    if kind == "sgd":
        opt = SGD([net.flat_parameters], lr=0.05, momentum=0.9)
        sched, interval = None, "epoch"
    else:
        opt = Adam([net.flat_parameters], lr=0.01)
        sched, interval = CosineAnnealingLR(opt, T_max=40), "step"
    trainer = Trainer(net, "cross_entropy", opt, batch_size=8, epochs=epochs, schedule=sched,
                      schedule_interval=interval, alpha=1e-3, record_steps=True,
                      n_iter_no_change=50, seed=7)
    return trainer, X, y
"""


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_exact_resume_in_fresh_process(kind, tmp_path):
    from gdlab.training.checkpoint import load_checkpoint

    scope = {}
    exec(BUILD, scope)
    whole, X, y = scope["build"](kind, 6)
    whole.fit(X, y, validation_fraction=0.2)
    first, X, y = scope["build"](kind, 3)
    first.fit(X, y, validation_fraction=0.2)
    ckpt, final = tmp_path / "half.ckpt", tmp_path / "final.ckpt"
    first.save(ckpt)
    code = BUILD + f"""
trainer, X, y = build({kind!r}, 3)
trainer.load({str(ckpt)!r})
trainer.fit(X, y, validation_fraction=0.2)
trainer.save({str(final)!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    state, _ = load_checkpoint(final)
    want = whole.state_dict()
    assert state["epoch"] == want["epoch"] == 6
    assert state["step"] == want["step"]
    assert np.array_equal(state["net"]["params"], want["net"]["params"])
    for key, buf in want["net"]["buffers"].items():
        assert np.array_equal(state["net"]["buffers"][key], buf)
    assert state["net"]["rng"] == json.loads(json.dumps(want["net"]["rng"]))
    for a, b in zip(state["optimizer"]["state"], want["optimizer"]["state"]):
        for name in b:
            assert np.array_equal(a[name], b[name])
    got_h, want_h = dict(state["history"]), dict(want["history"])
    assert got_h.pop("time") and want_h.pop("time")
    assert json.dumps(got_h, sort_keys=True) == json.dumps(want_h, sort_keys=True)  # bit for bit
    assert state["tracker"] == want["tracker"]


# ---- divergence ---------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("factor", [100.0, None])
def test_divergence_raises_and_leaves_finite_parameters(activation, factor):
    X, y = regression(n=40)
    net = mlp(3, [16, 16], 1, activation, seed=0)
    opt = SGD([net.flat_parameters], lr=1e3)
    trainer = Trainer(net, "mse", opt, batch_size="full", epochs=500, tol=None,
                      divergence_factor=factor)
    with pytest.raises(DivergenceError, match=r"step \d+.*learning rate 1000.*smaller") as info:
        trainer.fit(X, y)
    err = info.value
    assert err.step >= 1 and err.epoch >= 1 and err.lr == 1e3
    assert np.all(np.isfinite(net.flat_parameters))
    if factor is None:  # a non-finite loss or gradient is caught before its update
        assert err.step == trainer.step + 1
    else:  # a runaway epoch loss is caught at the end of its epoch
        assert err.step in (trainer.step, trainer.step + 1)


def test_initial_loss_on_large_data_comes_from_4096_evenly_spaced_rows():
    X, y = blobs(n=10_000, seed=3)
    order = np.argsort(y, kind="stable")  # sorted by class: a prefix would see one class only
    X, y = X[order], y[order]
    net = mlp(4, [8], 3, seed=0)
    rows = [i * 9999 // 4095 for i in range(4096)]  # 4096 evenly spaced rows, first and last
    logits = torch.from_numpy(net.predict(X[rows]).astype(np.float64))
    want = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[rows])))
    copy = net.clone()
    trainer = Trainer(copy, CrossEntropyLoss(), SGD([copy.flat_parameters], lr=0.01),
                      batch_size=500, epochs=1, tol=None)
    trainer.fit(X, y)
    assert trainer.initial_loss == pytest.approx(want, rel=1e-5)
    full = float(torch.nn.functional.cross_entropy(
        torch.from_numpy(net.predict(X).astype(np.float64)), torch.from_numpy(y)))
    assert trainer.initial_loss == pytest.approx(full, rel=0.05)  # a fair estimate


def test_divergence_on_large_data_is_still_caught():
    X, y = regression(n=20_000)
    net = mlp(3, [16], 1, "tanh", seed=0)
    trainer = Trainer(net, "mse", SGD([net.flat_parameters], lr=5.0), batch_size=1000,
                      epochs=50, tol=None)
    with pytest.raises(DivergenceError):
        trainer.fit(X, y)


def test_no_divergence_with_a_sane_learning_rate():
    X, y = regression(n=40)
    net = mlp(3, [16], 1, "tanh", seed=0)
    result = Trainer(net, "mse", SGD([net.flat_parameters], lr=0.05), batch_size="full",
                     epochs=30, tol=None).fit(X, y)
    assert result.stopped_because == "max_epochs"


# ---- stopping rules -----------------------------------------------------------------------

def test_no_improvement_counts_like_scikit_learn():
    # scikit-learn: count += 1 when loss > best - tol, best moves when loss < best
    t = NoImprovement("loss", tol=1e-4, n_iter_no_change=2)
    counts = []
    for e, v in enumerate([1.0, 0.99995, 0.9, 0.9, 0.89999, 0.95], 1):
        t.update(v, e)
        counts.append(t.count)
    assert counts == [0, 1, 0, 1, 2, 3]
    assert t.best_score == 0.89999 and t.best_epoch == 5 and t.exhausted
    s = NoImprovement("val_accuracy", tol=0.01, n_iter_no_change=1)
    counts = [(s.update(v, e), s.count)[1] for e, v in enumerate([0.5, 0.505, 0.6, np.nan], 1)]
    assert counts == [0, 1, 0, 1]
    assert s.best_score == 0.6


def _constant_problem():
    """Targets equal to the initial output: zero gradient, constant loss."""
    X, _ = regression()
    net = mlp(3, [4], 1, seed=0, dtype="float64")
    return net, X, net.predict(X).ravel()


def test_max_epochs_and_max_steps():
    X, y = blobs(n=40)
    net = mlp(4, [5], 3, seed=0)
    opt = SGD([net.flat_parameters], lr=0.1)
    r = Trainer(net, "cross_entropy", opt, batch_size=10, epochs=5, tol=None).fit(X, y)
    assert (r.stopped_because, r.epochs, r.steps, len(r.history)) == ("max_epochs", 5, 20, 5)
    net = mlp(4, [5], 3, seed=0)
    opt = SGD([net.flat_parameters], lr=0.1)
    r = Trainer(net, "cross_entropy", opt, batch_size=10, epochs=None, max_steps=10,
                tol=None).fit(X, y)
    assert (r.stopped_because, r.steps, r.epochs) == ("max_steps", 10, 3)


def test_tol_stops_after_patience_and_only_then():
    X, y = regression()
    net = mlp(3, [4], 1, seed=0, dtype="float64")
    # zero learning rate: the loss never improves; counts 0, 1, 2, 3, 4 > 3 at epoch 5
    r = Trainer(net, "mse", SGD([net.flat_parameters], lr=0.0), batch_size="full", epochs=100,
                tol=1e-4, n_iter_no_change=3).fit(X, y)
    assert (r.stopped_because, r.epochs) == ("tol", 5)
    # steadily improving by more than tol: runs to the end
    net = mlp(3, [4], 1, seed=0, dtype="float64")
    r = Trainer(net, "mse", SGD([net.flat_parameters], lr=0.01), batch_size="full", epochs=15,
                tol=1e-6, n_iter_no_change=1).fit(X, y)
    assert np.all(np.diff(r.history["loss"]) < -1e-6)
    assert r.stopped_because == "max_epochs"


def test_grad_tol():
    X, y = regression()
    net = Sequential([Dense(3, 1)], dtype="float64")
    r = Trainer(net, "mse", SGD([net.flat_parameters], lr=0.1), batch_size="full", epochs=500,
                tol=None, grad_tol=1e-3).fit(X, y)
    g = r.history["grad_norm"]
    assert r.stopped_because == "grad_tol"
    assert g[-1] <= 1e-3 and all(v > 1e-3 for v in g[:-1])


def test_target_on_loss_and_on_validation_accuracy():
    X, y = regression()
    net = Sequential([Dense(3, 1)], dtype="float64")
    r = Trainer(net, "mse", SGD([net.flat_parameters], lr=0.05), batch_size="full",
                epochs=500, tol=None, target={"loss": 0.5}).fit(X, y)
    loss = r.history["loss"]
    assert r.stopped_because == "target" and loss[-1] <= 0.5 and min(loss[:-1]) > 0.5
    X, y = blobs(n=90)
    net = mlp(4, [8], 3, seed=0)
    r = Trainer(net, "cross_entropy", Adam([net.flat_parameters], lr=0.01), epochs=200,
                tol=None, target={"val_accuracy": 0.9}).fit(X, y, validation_fraction=0.3)
    acc = r.history["val_accuracy"]
    assert r.stopped_because == "target" and acc[-1] >= 0.9 and max(acc[:-1]) < 0.9


def test_early_stopping_restores_best_weights():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 4)), rng.integers(0, 3, 80)
    Xv, yv = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)  # unrelated labels: overfitting
    net = mlp(4, [32], 3, seed=0, dtype="float64")
    r = Trainer(net, "cross_entropy", Adam([net.flat_parameters], lr=0.02), epochs=300,
                early_stopping=True, n_iter_no_change=5).fit(X, y, validation_data=(Xv, yv))
    val = r.history["val_loss"]
    assert r.stopped_because == "early_stopping" and r.epochs < 300
    assert r.best_epoch == int(np.argmin(val)) + 1 and r.best_score == min(val)
    restored = CrossEntropyLoss()(net.predict(Xv), yv)
    assert restored == pytest.approx(min(val), rel=1e-12)
    assert restored < val[-1]


def test_callback_can_stop_and_sees_logs():
    class StopAt2(Callback):
        def on_epoch_end(self, trainer, logs):
            self.keys = set(logs)
            return logs["epoch"] == 2

    X, y = blobs()
    net = mlp(4, [5], 3, seed=0)
    cb = StopAt2()
    r = Trainer(net, "cross_entropy", SGD([net.flat_parameters], lr=0.1), epochs=10,
                callbacks=[cb]).fit(X, y, validation_fraction=0.25)
    assert (r.stopped_because, r.epochs) == ("callback", 2)
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "grad_norm", "time",
            "epoch", "step"} <= cb.keys


def test_fit_continues_and_partial_fit_is_one_epoch():
    X, y = blobs()
    net = mlp(4, [5], 3, seed=0)
    trainer = Trainer(net, "cross_entropy", SGD([net.flat_parameters], lr=0.1), epochs=2,
                      tol=None)
    trainer.fit(X, y)
    trainer.fit(X, y, epochs=1)
    r = trainer.partial_fit(X, y)
    assert (r.epochs, len(r.history)) == (4, 4)


# ---- schedules, history ---------------------------------------------------------------------

def test_schedule_per_epoch_and_per_step():
    X, y = blobs(n=40)
    net = mlp(4, [5], 3, seed=0)
    opt = SGD([net.flat_parameters], lr=0.1)
    r = Trainer(net, "cross_entropy", opt, batch_size=10, epochs=3, tol=None,
                schedule=StepLR(opt, step_size=1, gamma=0.5)).fit(X, y)
    np.testing.assert_allclose(r.history["lr"], [0.1, 0.05, 0.025])
    net = mlp(4, [5], 3, seed=0)
    opt = SGD([net.flat_parameters], lr=0.1)
    r = Trainer(net, "cross_entropy", opt, batch_size=10, epochs=3, tol=None,
                schedule=ExponentialLR(opt, gamma=0.9), schedule_interval="step").fit(X, y)
    np.testing.assert_allclose(r.history["lr"], [0.1, 0.1 * 0.9**4, 0.1 * 0.9**8])


def test_reduce_on_plateau_is_fed_the_monitored_value():
    net, X, y = _constant_problem()
    opt = SGD([net.flat_parameters], lr=1.0)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    r = Trainer(net, "mse", opt, batch_size="full", epochs=8, tol=None, schedule=sched).fit(X, y)
    # torch's scheduler fed the same metric values is the oracle
    p = torch.nn.Parameter(torch.zeros(1))
    topt = torch.optim.SGD([p], lr=1.0)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, factor=0.5, patience=1)
    want = []
    for value in r.history["loss"]:
        want.append(topt.param_groups[0]["lr"])
        tsched.step(value)
    np.testing.assert_allclose(r.history["lr"], want)
    assert want[-1] < 1.0


def test_history_metrics_for_regression_and_step_loss():
    X, y = regression()
    net = mlp(3, [8], 1, seed=0, dtype="float64")
    r = Trainer(net, "mse", Adam([net.flat_parameters], lr=0.01), batch_size="full", epochs=3,
                tol=None, record_steps=True).fit(X, y, validation_data=(X, y))
    h = r.history
    assert set(h.keys()) >= {"loss", "mse", "r2", "val_loss", "val_mse", "val_r2", "lr",
                             "grad_norm", "time"}
    from sklearn.metrics import mean_squared_error, r2_score
    pred = net.predict(X).ravel()
    assert h["val_mse"][-1] == pytest.approx(mean_squared_error(y, pred), rel=1e-12)
    assert h["val_r2"][-1] == pytest.approx(r2_score(y, pred), rel=1e-12)
    # full batch, no penalty: the training mse is the loss
    np.testing.assert_allclose(h["mse"], h["loss"], rtol=1e-12)
    assert len(h.step_loss) == 3
    from gdlab.training.history import History
    assert History.from_dict(h.as_dict()).as_dict() == h.as_dict()


# With lr=0 the network never changes, so an epoch's training metrics, summed batch by batch,
# must be scikit-learn's metric of the unchanged network on the whole training set.

@pytest.mark.parametrize("batch_size", ["full", 7])
@pytest.mark.parametrize("weighted", [False, True])
def test_epoch_r2_and_mse_are_sklearns_on_the_unchanged_network(batch_size, weighted):
    from sklearn.metrics import mean_squared_error, r2_score

    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3))
    Y = np.column_stack([X @ [1.0, -2.0, 0.5], np.sin(X[:, 0]) + 3.0]) + 0.1 * rng.normal(size=(40, 2))
    w = rng.uniform(0.2, 3.0, size=40) if weighted else None
    net = mlp(3, [6], 2, seed=1, dtype="float64")
    fit(net, "mse", Adam([net.flat_parameters], lr=0.05), X, Y, batch_size="full", epochs=50, tol=None)
    pred = net.predict(X)
    r = Trainer(net, "mse", SGD([net.flat_parameters], lr=0.0), batch_size=batch_size, epochs=2,
                tol=None).fit(X, Y, sample_weight=w, validation_data=(X, Y) + ((w,) if weighted else ()))
    np.testing.assert_array_equal(net.predict(X), pred)
    h = r.history
    want_r2, want_mse = r2_score(Y, pred, sample_weight=w), mean_squared_error(Y, pred, sample_weight=w)
    assert 0.2 < want_r2 < 0.95  # a network part-way trained: neither term of R^2 vanishes
    for key in ("r2", "val_r2"):
        np.testing.assert_allclose(h[key], want_r2, rtol=1e-12, err_msg=key)
    for key in ("mse", "val_mse"):
        np.testing.assert_allclose(h[key], want_mse, rtol=1e-12, err_msg=key)


@pytest.mark.parametrize("batch_size", ["full", 7])
@pytest.mark.parametrize("weighted", [False, True])
def test_epoch_multilabel_accuracy_is_sklearns_per_label_accuracy(batch_size, weighted):
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 4))
    Y = (X[:, :3] + 0.8 * rng.normal(size=(40, 3)) > 0).astype(np.float64)
    w = rng.uniform(0.2, 3.0, size=40) if weighted else None
    net = mlp(4, [6], 3, seed=2, dtype="float64")
    hits = (net.predict(X) > 0).astype(np.float64)
    r = Trainer(net, "bce_with_logits", SGD([net.flat_parameters], lr=0.0), batch_size=batch_size,
                epochs=2, tol=None, task="classification").fit(
        X, Y, sample_weight=w, validation_data=(X, Y) + ((w,) if weighted else ()))
    # gdlab's multilabel accuracy is the share of correct labels (1 - Hamming loss): scikit-learn's
    # accuracy over every (sample, label) pair, each weighted by its sample's weight
    want = accuracy_score(Y.ravel(), hits.ravel(), sample_weight=None if w is None else np.repeat(w, 3))
    assert 0.2 < want < 0.9 and want != accuracy_score(Y, hits, sample_weight=w)  # not subset accuracy
    for key in ("accuracy", "val_accuracy"):
        np.testing.assert_allclose(r.history[key], want, rtol=1e-12, err_msg=key)


@pytest.mark.parametrize("batch_size", ["full", 7])
def test_epoch_accuracy_of_labels_is_sklearns(batch_size):
    from sklearn.metrics import accuracy_score

    X, y = blobs(n=45, seed=3)
    net = mlp(4, [6], 3, seed=4, dtype="float64")
    want = accuracy_score(y, net.predict(X).argmax(axis=1))
    r = Trainer(net, "cross_entropy", SGD([net.flat_parameters], lr=0.0), batch_size=batch_size,
                epochs=2, tol=None).fit(X, y, validation_data=(X, y))
    assert 0.1 < want < 0.9
    for key in ("accuracy", "val_accuracy"):
        np.testing.assert_allclose(r.history[key], want, rtol=1e-12, err_msg=key)


def test_validation_split_is_stratified_and_seeded():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    train, val = split_validation(y, 0.2, "classification", seed=3)
    assert np.bincount(y[val]).tolist() == [10, 6, 4]
    assert np.intersect1d(train, val).size == 0 and train.size + val.size == 100
    again = split_validation(y, 0.2, "classification", seed=3)[1]
    np.testing.assert_array_equal(val, again)
    assert not np.array_equal(val, split_validation(y, 0.2, "classification", seed=4)[1])


def test_periodic_checkpoints(tmp_path):
    from gdlab.training.checkpoint import load_checkpoint

    X, y = blobs()
    net = mlp(4, [5], 3, seed=0)
    path = tmp_path / "run.ckpt"
    Trainer(net, "cross_entropy", SGD([net.flat_parameters], lr=0.1), epochs=5, tol=None,
            checkpoint_path=path, checkpoint_every=2).fit(X, y)
    state, _ = load_checkpoint(path)
    assert state["epoch"] == 4


def test_progress_bar_is_lazy_and_optional():
    code = """
import sys, numpy as np
from gdlab.nn.sequential import mlp
from gdlab.optim import SGD
from gdlab.training import fit
net = mlp(2, [3], 2)
fit(net, 'cross_entropy', SGD([net.flat_parameters], lr=0.1), np.eye(2).repeat(5, 0),
    np.arange(10) % 2, epochs=2, batch_size=5)
assert 'rich' not in sys.modules, 'rich imported without a progress bar'
fit(net, 'cross_entropy', SGD([net.flat_parameters], lr=0.1), np.eye(2).repeat(5, 0),
    np.arange(10) % 2, epochs=2, batch_size=5, progress=True)
assert 'rich' in sys.modules
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "2/2" in out.stdout + out.stderr


# ---- the distributed hook -----------------------------------------------------------------

class ThreadComm(Communicator):
    """Ranks as threads; allreduce sums in rank order, so every rank gets identical bits."""

    def __init__(self, rank, size, shared):
        self.rank, self.size, self.shared = rank, size, shared

    def allreduce_(self, array):
        bufs, barrier = self.shared
        bufs[self.rank] = array.copy()
        barrier.wait()
        total = bufs[0].copy()
        for b in bufs[1:]:
            total += b
        barrier.wait()
        array[...] = total


def test_sharded_training_equals_single_process():
    X, y = blobs(n=22)
    w = np.random.default_rng(1).uniform(0.5, 2.0, 22)

    def train(comm, results, rank):
        net = mlp(4, [6], 3, dtype="float64", seed=4)
        r = Trainer(net, "cross_entropy", Adam([net.flat_parameters], lr=0.01), batch_size=4,
                    epochs=5, tol=None, alpha=1e-3, comm=comm, record_steps=True).fit(
            X, y, sample_weight=w)
        results[rank] = (net.flat_parameters.copy(), r.history)

    single = {}
    train(None, single, 0)
    size = 3  # batches of 4 over 3 ranks: shards 2, 1, 1; the last batch (2 rows) leaves one empty
    shared = ([None] * size, threading.Barrier(size))
    results = {}
    threads = [threading.Thread(target=train, args=(ThreadComm(r, size, shared), results, r))
               for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == size
    for rank in range(1, size):
        assert np.array_equal(results[rank][0], results[0][0])
    np.testing.assert_allclose(results[0][0], single[0][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results[0][1].step_loss, single[0][1].step_loss, rtol=1e-10)
    np.testing.assert_allclose(results[0][1]["accuracy"], single[0][1]["accuracy"], rtol=1e-12)


# ---- digits -------------------------------------------------------------------------------

@pytest.mark.slow
def test_digits_reaches_97_percent():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    accs = []
    for seed in range(5):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y,
                                              random_state=seed)
        mu, sd = Xtr.mean(0), Xtr.std(0)
        sd[sd == 0] = 1.0
        Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
        net = mlp(64, [64], 10, "relu", seed=seed)
        fit(net, "cross_entropy", Adam([net.flat_parameters], lr=1e-3), Xtr, ytr,
            batch_size=32, epochs=200, alpha=1e-4, seed=seed)
        accs.append(np.mean(net.predict(Xte).argmax(1) == yte))
    assert np.mean(accs) >= 0.97, accs


# ---- input validation ---------------------------------------------------------------------

def _trainer(**kw):
    net = mlp(4, [5], 3, seed=0)
    return Trainer(net, "cross_entropy", SGD([net.flat_parameters], lr=0.1), **kw)


@pytest.mark.parametrize("X, y, match", [
    (np.zeros(4), [0], "2-D"),
    (np.zeros((0, 4)), [], "empty"),
    (np.array([["a"] * 4]), [0], "numeric"),
    (np.array([[0, np.nan, 0, 0.0]]), [0], r"NaN or infinity \(first at row 0, column 1\)"),
    (np.zeros((3, 4)), [0, 1], "y has 2 samples but X has 3"),
    (np.zeros((2, 4)), [0, 3], r"label 3 in y is outside \[0, 3\)"),
    (np.zeros((2, 4)), [0, -1], "label -1"),
    (np.zeros((2, 4)), [0, 1.5], "integer class labels"),
    (np.zeros((2, 5)), [0, 1], "X has 5 features, but the network expects 4"),
])
def test_bad_data_is_rejected(X, y, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _trainer(batch_size=1).fit(X, y)


def test_bad_batch_sizes_and_options():
    X, y = blobs(n=10)
    with pytest.raises(ValueError, match="batch_size=11 is larger than the 10 training"):
        _trainer(batch_size=11).fit(X, y)
    for bad, exc in ((0, ValueError), ("half", ValueError), (2.5, TypeError)):
        with pytest.raises(exc, match="batch_size"):
            _trainer(batch_size=bad)
    for kw, match in [({"epochs": 0}, "epochs"), ({"epochs": None}, "max_steps"),
                      ({"schedule_interval": "batch"}, "schedule_interval"),
                      ({"alpha": -1}, "alpha"), ({"tol": -1}, "tol"),
                      ({"divergence_factor": 0.5}, "divergence_factor"),
                      ({"task": "ranking"}, "task"), ({"seed": -1}, "seed"),
                      ({"checkpoint_every": 2}, "checkpoint_path")]:
        with pytest.raises(ValueError, match=match):
            _trainer(**kw)
    with pytest.raises(ValueError, match="target 'val_accuracy' is not recorded.*validation"):
        _trainer(batch_size=5, target={"val_accuracy": 0.9}).fit(X, y)
    with pytest.raises(ValueError, match="monitor 'r2' is not recorded"):
        _trainer(batch_size=5, monitor="r2").fit(X, y)
    with pytest.raises(ValueError, match="validation_fraction"):
        _trainer(batch_size=5).fit(X, y, validation_fraction=1.5)
    with pytest.raises(ValueError, match="y_val"):
        _trainer(batch_size=5).fit(X, y, validation_data=(X, y[:5]))
    other = mlp(4, [5], 3)
    with pytest.raises(ValueError, match="does not hold this network's parameters"):
        Trainer(mlp(4, [5], 3), "cross_entropy", SGD([other.flat_parameters], lr=0.1))


def test_batchnorm_with_a_one_sample_batch_is_rejected_up_front():
    X, y = blobs(n=21)
    net = mlp(4, [5], 3, batchnorm=True, seed=0)
    with pytest.raises(ValueError, match="a batch of 1 sample, which BatchNorm"):
        Trainer(net, "cross_entropy", SGD([net.flat_parameters], lr=0.1), batch_size=4).fit(X, y)
    r = Trainer(net, "cross_entropy", SGD([net.flat_parameters], lr=0.1), batch_size=4,
                drop_last=True, epochs=2).fit(X, y)
    assert r.steps == 10


def test_regression_targets_shape_checked_and_converted():
    X, y = regression()
    net = mlp(3, [4], 2, seed=0)
    with pytest.raises(ValueError, match=r"expected \(50, 2\)"):
        Trainer(net, MSELoss(), SGD([net.flat_parameters], lr=0.1)).fit(X, y)
    net = mlp(3, [4], 1, seed=0)
    r = Trainer(net, MSELoss(), SGD([net.flat_parameters], lr=0.01), epochs=2).fit(X, list(y))
    assert r.epochs == 2 and net.flat_parameters.dtype == np.float32
