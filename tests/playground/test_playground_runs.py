"""A playground run as plain gdlab code in one thread, and runs in threads of their own that
other threads pause, step, resume and stop (no web server here)."""

import math
import threading
import time

import numpy as np
import pytest

from gdlab.playground.experiment import build_experiment, predict_grid, train
from gdlab.playground.runs import Run, RunManager, TooManyRuns

WAIT = 120  # seconds; generous for a busy machine


def _wait(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def _forward(net, X):
    """The MLP's logits by hand (float32, as the network computes): Dense, tanh, ..., Dense."""
    h = X.astype(np.float32)
    names = net.parameter_names()
    params = dict(zip(names, net.parameters()))
    n_dense = sum(name.startswith("W") for name in names)
    for i in range(1, n_dense + 1):
        h = h @ params[f"W{i}"] + params[f"b{i}"]
        if i < n_dense:
            h = np.tanh(h)
    return h


def test_the_history_records_step_0_every_k_steps_and_the_end():
    config = {"dataset": "moons", "max_steps": 95, "record_every": 10, "batch_size": 20}
    history = train(config)["history"]
    assert [e["step"] for e in history] == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    first, last = history[0], history[-1]
    assert first["grad_norms"] is None and first["batch_loss"] is None
    assert len(last["grad_norms"]) == 3          # two hidden layers and the output layer
    # 320 training points in batches of 20: 16 steps an epoch
    assert [e["epoch"] for e in history[:3]] == [0.0, 10 / 16, 20 / 16]
    assert all(e["lr"] == 0.03 for e in history)


def test_the_recorded_loss_accuracy_and_gradient_norms_match_a_computation_by_hand():
    config = {"dataset": "xor", "layers": [8, 6], "max_steps": 120, "record_every": 40}
    experiment = build_experiment(config)
    experiment.run()
    last = experiment.recorder.history[-1]
    data, net = experiment.data, experiment.net
    for X, y, acc, loss in ((data.X, data.y, "accuracy", "loss"),
                            (data.X_val, data.y_val, "val_accuracy", "val_loss")):
        logits = _forward(net, X).astype(np.float64)
        assert last[acc] == pytest.approx(np.mean(logits.argmax(axis=1) == y), abs=1.5 / len(y))
        shifted = logits - logits.max(axis=1, keepdims=True)
        nll = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(y)), y]
        assert last[loss] == pytest.approx(nll.mean(), rel=1e-5)
    grads = dict(zip(net.parameter_names(), net.gradients()))
    by_hand = [math.sqrt(float((grads[f"W{i}"].astype(np.float64) ** 2).sum()
                               + (grads[f"b{i}"].astype(np.float64) ** 2).sum()))
               for i in (1, 2, 3)]
    np.testing.assert_allclose(last["grad_norms"], by_hand, rtol=1e-6)


def test_a_schedule_shows_in_the_recorded_learning_rate():
    config = {"dataset": "circles", "optimizer": "sgd", "lr": 0.5, "schedule": "cosine",
              "max_steps": 200, "record_every": 50}
    history = train(config)["history"]
    for e in history:  # cosine annealing over max_steps steps, stepped after every step
        expected = 0.5 * (1 + math.cos(math.pi * e["step"] / 200)) / 2
        assert e["lr"] == pytest.approx(expected, abs=1e-12)


def test_runs_in_threads_give_the_history_of_one_thread_bit_for_bit():
    config = {"dataset": "spirals", "layers": [8, 8], "activation": ["relu", "tanh"],
              "batchnorm": True, "dropout": 0.1, "optimizer": "nesterov", "momentum": 0.8,
              "batch_size": 8, "alpha": 0.001, "max_steps": 400, "record_every": 20, "seed": 7}
    reference = train(config)
    results = [None, None]

    def worker(i):
        results[i] = train(config)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert results[0] == reference and results[1] == reference
    other_seed = train({**config, "seed": 8})
    assert other_seed["history"] != reference["history"]


def test_pause_holds_the_step_step_advances_one_resume_continues_stop_ends():
    run = Run({"dataset": "circles", "max_steps": 100_000, "record_every": 1000},
              paused=True).start()
    try:
        time.sleep(0.2)
        assert run.status == "paused" and run.experiment.trainer.step == 0
        assert run.control.step() and run.experiment.trainer.step == 1
        assert run.control.step() and run.experiment.trainer.step == 2
        run.control.resume()
        _wait(lambda: run.experiment.trainer.step > 50)
        assert run.status == "running"
        run.control.pause()
        held = run.experiment.trainer.step
        entries = len(run.experiment.recorder.history)
        time.sleep(0.3)
        assert run.status == "paused" and run.experiment.trainer.step == held
        assert len(run.experiment.recorder.history) == entries
        assert run.control.step() and run.experiment.trainer.step == held + 1
        assert not run.finished
    finally:
        run.stop()
    assert run.status == "stopped" and run.summary()["stopped_because"] == "requested"


def test_a_run_stopped_before_its_first_step_ends_cleanly():
    run = Run({"dataset": "moons"}, paused=True).start()
    time.sleep(0.1)
    run.stop()
    assert run.finished and run.status == "stopped" and run.experiment.trainer.step == 0
    assert not run.control.step()  # nothing to step any more


def test_a_paced_run_keeps_its_pace():
    run = Run({"dataset": "circles", "max_steps": 100_000}, paused=True).start()
    try:
        run.control.set_pace(40)
        run.control.resume()
        time.sleep(1.0)
        steps = run.experiment.trainer.step
    finally:
        run.stop()
    assert 0 < steps <= 40 * 1.0 + 10  # a busy machine may take fewer, never more


def test_a_diverging_run_says_where_and_keeps_its_history():
    config = {"dataset": "spirals", "optimizer": "sgd", "lr": 100}
    run = Run(config).start()
    run.join(WAIT)
    assert run.status == "diverged"
    assert run.diverged["lr"] == 100 and "learning rate 100" in run.diverged["message"]
    # the trainer checks an epoch's loss at its end: 320 points in batches of 16
    assert run.diverged["step"] % 20 == 0 and run.diverged["step"] <= config.get("max_steps", 5000)
    reference = train(config)
    assert reference["status"] == "diverged" and reference["diverged"] == run.diverged
    assert run.experiment.recorder.history == reference["history"]


def test_the_boundary_is_the_network_over_the_box_rows_from_the_top():
    run = Run({"dataset": "moons", "max_steps": 3000}, paused=True).start()
    try:
        time.sleep(0.1)
        grid = run.boundary()
        x0, x1, y0, y1 = grid["extent"]
        values = np.array(grid["values"])
        assert grid["step"] == 0 and values.shape == (64, 64)
        # by hand: the untrained network at the cell centres, top row first
        cx = x0 + (np.arange(64) + 0.5) * (x1 - x0) / 64
        cy = y1 - (np.arange(64) + 0.5) * (y1 - y0) / 64
        gx, gy = np.meshgrid(cx, cy)
        logits = _forward(run.experiment.net, np.column_stack([gx.ravel(), gy.ravel()]))
        p1 = 1 / (1 + np.exp(logits[:, 0].astype(np.float64) - logits[:, 1]))
        np.testing.assert_allclose(values.ravel(), p1, atol=1e-4)
        run.control.resume()
        run.join(WAIT)
        assert run.status == "done"
        grid = run.boundary()
        values = np.array(grid["values"])
        data = run.experiment.data
        col = ((data.X[:, 0] - x0) / (x1 - x0) * 64).astype(int)
        row = ((y1 - data.X[:, 1]) / (y1 - y0) * 64).astype(int)
        agree = np.mean((values[row, col] > 0.5) == (data.y == 1))
        assert agree >= 0.95 and grid["step"] == 3000
    finally:
        run.stop()


def test_the_regression_curve():
    experiment = build_experiment({"dataset": "curve"})
    curve = predict_grid(experiment.net, "regression", [-1, 1, -2, 2])
    assert len(curve["x"]) == len(curve["y"]) == 200
    assert curve["x"][0] == -1 and curve["x"][-1] == 1
    by_hand = _forward(experiment.net, np.array(curve["x"])[:, None])[:, 0]
    np.testing.assert_allclose(curve["y"], by_hand, rtol=1e-5, atol=1e-6)


def test_the_manager_bounds_active_runs_and_stops_idle_ones():
    manager = RunManager(max_active=2, idle_timeout=0.2)
    a = manager.create({"dataset": "xor"}, paused=True)
    manager.create({"dataset": "xor"}, paused=True)
    with pytest.raises(TooManyRuns, match="2 runs are active"):
        manager.create({"dataset": "xor"}, paused=True)
    time.sleep(0.4)
    assert sorted(manager.reap_idle()) == sorted(r.id for r in manager.runs())
    assert a.status == "stopped" and a.summary()["stopped_because"] == "idle"
    manager.create({"dataset": "xor"}, paused=True)  # the slots are free again
    manager.shutdown()
    assert all(r.finished for r in manager.runs())
