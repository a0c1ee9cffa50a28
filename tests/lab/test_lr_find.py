"""The learning-rate range test: its rates, smoothing and stop recomputed here with NumPy, the
suggestion rules on curves whose answer is known, the plot, and ``gdlab lr-find`` / ``gdlab
train --lr auto`` on digits as real subprocesses."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from gdlab.lab.lr_find import find_lr, lr_range_test, suggest
from gdlab.lab.runs import make_config


def gdlab_run(*args, cwd, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "gdlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc.stdout


def test_rates_grow_exponentially_and_the_loss_is_smoothed_as_fastai_does():
    found = find_lr(make_config(dataset="iris", layers=[8], batch_size=16), num_it=60)
    n = len(found.lrs)
    assert 3 <= n <= 60
    np.testing.assert_allclose(found.lrs, np.geomspace(1e-7, 10, 60)[:n], rtol=1e-9)
    beta, avg, expected = 0.98, 0.0, []
    for i, loss in enumerate(found.losses, start=1):
        avg = beta * avg + (1 - beta) * loss
        expected.append(avg / (1 - beta ** i))
    np.testing.assert_allclose(found.smoothed, expected, rtol=1e-12)
    smoothed = np.asarray(found.smoothed)
    best_before = np.minimum.accumulate(np.r_[np.inf, smoothed[:-1]])
    blew_up = np.flatnonzero(smoothed > 4 * best_before)
    # it stops at the first step over 4x the best so far (or before a non-finite loss)
    assert blew_up.tolist() in ([], [n - 1])
    assert (found.stopped_because == "end_lr") == (n == 60 and blew_up.size == 0)


def test_the_test_stops_once_the_loss_blows_up():
    found = find_lr(make_config(dataset="digits", layers=[32], optimizer="sgd"), end_lr=1e4,
                    num_it=100)
    assert found.stopped_because == "loss_blew_up" and len(found.lrs) < 100


def valley_curve():
    """Flat until 1e-4, falling linearly in log10(rate) until 1e-1, then rising fast."""
    lrs = np.geomspace(1e-7, 10, 100)
    x = np.log10(lrs)
    losses = np.where(x < -4, 2.0, np.where(x < -1, 2.0 - 0.5 * (x + 4), 0.5 + 3 * (x + 1)))
    return lrs, losses + 1e-6 * np.arange(100)[::-1]   # strictly falling on the flat part too


def test_minimum_rule_is_the_lowest_loss_over_ten():
    lrs, losses = valley_curve()
    assert suggest(lrs, losses, "minimum", 100) == pytest.approx(lrs[np.argmin(losses)] / 10)


def test_steep_rule_is_the_steepest_fall_per_decade():
    lrs = np.geomspace(1e-7, 10, 100)
    x = np.log10(lrs)
    losses = 2.0 - np.exp(-((x + 3) ** 2))           # steepest fall at x = -3 - 1/sqrt(2)
    found = suggest(lrs, losses, "steep", 100)
    assert np.log10(found) == pytest.approx(-3 - 1 / np.sqrt(2), abs=0.1)


def test_valley_rule_is_the_middle_of_the_longest_fall():
    lrs, losses = valley_curve()
    found = suggest(lrs, losses, "valley", 100)
    # the longest decreasing run starts where the steps are first counted (num_it // 10) and
    # ends at the bottom, 1e-1; fastai's rule takes its middle: with the run's last index
    # `end` and length `n` (counted from the first step kept), `end - n + n // 3 + n // 3 // 2`
    bottom = int(np.flatnonzero(np.log10(lrs) < -1)[-1])
    end, n = bottom - 10, bottom - 10 + 1
    index = 10 + end - n + int(n / 3) + int(n / 3 / 2)
    assert found == lrs[index]
    assert np.log10(found) == pytest.approx((np.log10(lrs[10]) - 1) / 2, abs=0.25)


def test_bad_settings_are_named():
    config = make_config(dataset="iris", layers=[4])
    with pytest.raises(ValueError, match="end_lr must be above start_lr"):
        find_lr(config, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="num_it must be at least 10"):
        find_lr(config, num_it=5)
    with pytest.raises(ValueError, match="suggestion rule"):
        find_lr(config, rule="middle")
    with pytest.raises(ValueError, match="lr must be a number > 0 or 'auto'"):
        make_config(lr="fast")


def test_plot_has_labelled_axes_and_a_log_rate_axis():
    from gdlab.report.run_figures import lr_find_figure

    found = find_lr(make_config(dataset="iris", layers=[8], batch_size=16), num_it=40)
    fig = lr_find_figure(found.lrs, found.smoothed, suggestion=found.suggestion,
                         rule=found.rule, loss_name=found.loss_name)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "learning rate" in ax.get_xlabel() and "loss" in ax.get_ylabel()
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), found.lrs)


def test_lr_range_test_works_on_any_network():
    from gdlab import mlp
    from gdlab.optim.registry import make_optimizer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)).reshape(-1, 1)
    net = mlp(3, [16], 1, "tanh", seed=0)
    found = lr_range_test(net, "mse", make_optimizer("sgd", net.parameters()), X, y,
                          num_it=80, batch_size=16)
    assert found.task == "regression" and found.stopped_because == "loss_blew_up"
    assert found.lrs[0] < found.suggestion < found.lrs[-1]


def test_cli_lr_find_then_train_lr_auto_reaches_the_default_accuracy_on_digits(tmp_path):
    import matplotlib.image as mpimg

    out = gdlab_run("lr-find", "--out", tmp_path / "find", cwd=tmp_path)
    match = re.search(r"suggested learning rate: ([0-9.e+-]+) \(valley rule", out)
    assert match, out
    suggested = float(match.group(1))
    image = mpimg.imread(tmp_path / "find" / "lr_find.png")
    assert image.shape[0] > 200 and image.shape[1] > 300 and image[..., :3].std() > 0.05
    rows = np.genfromtxt(tmp_path / "find" / "lr_find.csv", delimiter=",", names=True)
    assert np.all(np.diff(rows["lr"]) > 0)

    common = ("--epochs", "30", "--quiet")
    gdlab_run("train", *common, "--out", tmp_path / "default", cwd=tmp_path)
    auto = gdlab_run("train", *common[:-1], "--lr", "auto", "--out", tmp_path / "auto",
                     cwd=tmp_path)
    assert f"suggests {suggested:.4g}" in auto
    default = json.loads((tmp_path / "default" / "metrics.json").read_text())
    chosen = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert chosen["config"]["lr"] == pytest.approx(suggested, rel=1e-3)
    assert chosen["lr_find"]["rule"] == "valley"
    assert chosen["test_accuracy"] >= default["test_accuracy"] - 0.01, (chosen, default)
    assert (tmp_path / "auto" / "lr_find.png").is_file()
    assert "Learning rate" in (tmp_path / "auto" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("args, message", [
    (("lr-find", "--start-lr", "1", "--end-lr", "0.1"), "end_lr must be above start_lr"),
    (("lr-find", "--suggest", "middle"), "invalid choice: 'middle'"),
    (("lr-find", "--num-it", "5"), "num_it must be at least 10 steps"),
    (("train", "--lr", "fast"), "learning rate 'fast' is neither a number nor 'auto'"),
    (("train", "--lr", "-1"), "negative learning rate"),
])
def test_cli_bad_settings_exit_2_naming_the_problem(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "gdlab", *args, "--out", str(tmp_path / "o")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
