"""End-to-end tests of the ``gdlab`` command: real subprocesses, exit codes, messages, files.

Numbers are checked against independent computations (scikit-learn's split and scaler, a
torch forward pass, closed-form gradient descent), never against gdlab's own output.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gdlab
from gdlab.cli.argtypes import OPTIMIZER_NAMES

HEAVY = ("sklearn", "matplotlib", "rich", "torch", "scipy", "mpi4py", "pandas", "pyarrow")


def gdlab_run(*args, cwd, timeout=120, check_rc=None):
    proc = subprocess.run([sys.executable, "-m", "gdlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.stdout, proc.stderr)
    return proc


def read_png(path):
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    return img


def csv_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---- help, version, start-up ------------------------------------------------------------------

def test_help_and_version(tmp_path):
    out = gdlab_run("--help", cwd=tmp_path, check_rc=0).stdout
    for command in ("train", "compare", "landscape", "explain", "gdlab"):
        assert command in out
    out = gdlab_run("--version", cwd=tmp_path, check_rc=0).stdout
    assert out.strip() == f"gdlab {gdlab.__version__}"
    options = {
        "train": ["--dataset", "--target", "--data-dir", "--layers", "--activation",
                  "--optimizer", "--lr", "--momentum", "--weight-decay", "--alpha",
                  "--schedule", "--batch-size", "--epochs", "--tol", "--patience",
                  "--early-stopping", "--batchnorm", "--dropout", "--init", "--seed", "--dtype",
                  "--task", "--out", "--resume", "--checkpoint-every", "--workers", "--quiet",
                  "--debug", "--force"],
        "compare": ["--optimizers", "--batch-sizes", "--lrs", "--seeds", "--epochs", "--out",
                    "--dataset"],
        "landscape": ["--function", "--optimizers", "--lr", "--steps", "--start", "--maximize",
                      "--out"],
        "explain": ["--layers", "--lr", "--format", "--seed"],
        "gradcheck": ["--layers", "--activation", "--batchnorm"],
    }
    for command, flags in options.items():
        text = gdlab_run(command, "--help", cwd=tmp_path, check_rc=0).stdout
        for flag in flags:
            assert flag in text, (command, flag)


def test_startup_imports_nothing_heavy(tmp_path):
    code = ("import sys\nfrom gdlab.cli import main\n"
            "for argv in (['--help'], ['train', '--help'], ['compare', '--help'],\n"
            "             ['predict', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_optimizer_names_are_all_known_to_gdlab_optim():
    from gdlab.optim import OPTIMIZERS

    assert set(OPTIMIZER_NAMES) <= set(OPTIMIZERS)
    assert len(OPTIMIZER_NAMES) == 11



def test_names_come_from_the_registries_and_are_checked_while_parsing(tmp_path):
    from gdlab.data import DATASETS
    from gdlab.lab.functions import FUNCTIONS
    from gdlab.nn.layers import ACTIVATIONS

    text = gdlab_run("train", "--help", cwd=tmp_path, check_rc=0).stdout
    for name in (*DATASETS, *ACTIVATIONS, *OPTIMIZER_NAMES):
        assert name in text, name
    text = gdlab_run("landscape", "--help", cwd=tmp_path, check_rc=0).stdout
    for name in FUNCTIONS:
        assert name in text, name
    for args, hint in ((["train", "--activation", "rleu"], "did you mean 'relu'?"),
                       (["explain", "--activation", "tahn"], "did you mean 'tanh'?"),
                       (["landscape", "--function", "rosenbrok"], "did you mean 'rosenbrock'?")):
        proc = gdlab_run(*args, cwd=tmp_path, check_rc=2)
        lines = [x for x in proc.stderr.splitlines() if "error:" in x]
        assert len(lines) == 1 and hint in lines[0] and "Traceback" not in proc.stderr, args
    assert not (tmp_path / "runs").exists()  # rejected before anything ran


def test_argument_types_carry_the_boundary_checks_messages():
    import argparse

    from gdlab import _checks
    from gdlab.cli import argtypes

    cases = [(argtypes.positive_int, "0", _checks.integer, 0, {"low": 1}),
             (argtypes.non_negative_int, "-3", _checks.integer, -3, {"low": 0}),
             (argtypes.positive_float, "0", _checks.positive, 0.0, {}),
             (argtypes.non_negative_float, "-1e-3", _checks.non_negative, -1e-3, {}),
             (argtypes.probability, "1", _checks.fraction, 1.0, {})]
    for parse, text, check, value, kwargs in cases:
        with pytest.raises(ValueError) as expected:
            check(argtypes.VALUE, value, **kwargs)
        with pytest.raises(argparse.ArgumentTypeError) as got:
            parse(text)
        assert str(got.value) == str(expected.value)
    assert argtypes.activation_name("ReLU") == "relu"
    assert argtypes.optional_non_negative_float("none") is None
    assert argtypes.layer_sizes("64,32") == (64, 32) and argtypes.layer_sizes("none") == ()

# ---- train ------------------------------------------------------------------------------------

def _independent_iris_split(seed=0):
    """The split and scaling that gdlab train documents, rebuilt with scikit-learn directly."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, random_state=seed,
                                                      stratify=y)
    X_train, _, y_train, _ = train_test_split(X_rest, y_rest, test_size=0.1 / 0.8,
                                              random_state=seed, stratify=y_rest)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


def test_train_iris_end_to_end(tmp_path):
    torch = pytest.importorskip("torch")
    out = tmp_path / "run"
    proc = gdlab_run("train", "--dataset", "iris", "--layers", "8", "--epochs", "4",
                     "--lr", "0.05", "--dtype", "float64", "--out", out, cwd=tmp_path,
                     check_rc=0)
    assert "test accuracy" in proc.stdout
    assert 'target "target": classification (the dataset\'s own task)' in proc.stdout
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.json", "history.csv", "loss.png", "accuracy.png"} <= files
    assert any(name.startswith("checkpoint") for name in files)
    m = json.loads((out / "metrics.json").read_text())
    for key in ("dataset", "task", "test_accuracy", "final_loss", "epochs", "steps", "seconds",
                "workers", "stopped_because", "config"):
        assert key in m
    assert m["dataset"] == "iris" and m["task"] == "classification" and m["workers"] == 1
    assert m["epochs"] == 4 and m["stopped_because"] == "max_epochs"
    assert m["steps"] == 4 * int(np.ceil(105 / 32))
    assert m["config"]["optimizer"] == "adam" and m["config"]["lr"] == 0.05
    rows = csv_rows(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(rows[0])
    read_png(out / "loss.png")
    read_png(out / "accuracy.png")

    # final_loss and test_accuracy recomputed with torch from the saved parameters
    from gdlab.training.checkpoint import load_checkpoint

    ckpt = next(p for p in out.iterdir() if p.name.startswith("checkpoint"))
    state, _ = load_checkpoint(ckpt)
    flat = np.asarray(state["net"]["params"], dtype=np.float64)
    W1, b1 = flat[:32].reshape(4, 8), flat[32:40]
    W2, b2 = flat[40:64].reshape(8, 3), flat[64:67]
    assert flat.size == 67
    X_train, y_train, X_test, y_test = _independent_iris_split()

    def logits(X):
        h = torch.relu(torch.tensor(X) @ torch.tensor(W1) + torch.tensor(b1))
        return h @ torch.tensor(W2) + torch.tensor(b2)

    loss = torch.nn.functional.cross_entropy(logits(X_train), torch.tensor(y_train)).item()
    assert m["final_loss"] == pytest.approx(loss, rel=1e-9)
    acc = (logits(X_test).argmax(1).numpy() == y_test).mean()
    assert m["test_accuracy"] == pytest.approx(acc)


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_train_csv_regression_auto(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.normal(size=80)
    _write_csv(tmp_path / "reg.csv", ["a", "b", "c", "price"],
               [[*x, round(t, 4)] for x, t in zip(X, y)])
    out = tmp_path / "r"
    proc = gdlab_run("train", "--dataset", "reg.csv", "--target", "price", "--epochs", "3",
                     "--layers", "4", "--out", out, cwd=tmp_path, check_rc=0)
    assert 'target "price": regression (fractional values)' in proc.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["task"] == "regression"
    assert "test_r2" in m and "test_mse" in m and "test_accuracy" not in m
    assert m["test_mse"] > 0 and m["test_r2"] <= 1
    assert (out / "loss.png").exists() and not (out / "accuracy.png").exists()


def test_train_csv_string_labels_and_npz(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 2))
    labels = np.where(X[:, 0] > 0, "yes", "no")
    _write_csv(tmp_path / "c.csv", ["x1", "x2", "answer"],
               [[*x, lab] for x, lab in zip(X, labels)])
    proc = gdlab_run("train", "--dataset", "c.csv", "--target", "answer", "--epochs", "2",
                     "--layers", "4", "--out", tmp_path / "c", cwd=tmp_path, check_rc=0)
    assert 'target "answer": classification (2 text labels)' in proc.stdout
    m = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert m["classes"] == ["no", "yes"]
    np.savez(tmp_path / "d.npz", X=X, y=(X[:, 1] > 0).astype(np.int64))
    gdlab_run("train", "--dataset", "d.npz", "--epochs", "2", "--layers", "4", "--quiet",
              "--out", tmp_path / "d", cwd=tmp_path, check_rc=0)
    assert json.loads((tmp_path / "d" / "metrics.json").read_text())["task"] == "classification"


def test_train_without_out_uses_a_fresh_folder_under_runs(tmp_path):
    proc = gdlab_run("train", "--dataset", "iris", "--epochs", "1", "--layers", "4",
                     cwd=tmp_path, check_rc=0)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("run folder: "))
    folder = tmp_path / line.removeprefix("run folder: ")
    assert folder.parent == tmp_path / "runs" and (folder / "metrics.json").exists()


def test_out_refuses_a_different_run_unless_force(tmp_path):
    common = ("train", "--dataset", "iris", "--epochs", "1", "--layers", "4", "--quiet",
              "--out", tmp_path / "o")
    gdlab_run(*common, cwd=tmp_path, check_rc=0)
    proc = gdlab_run(*common, "--lr", "0.01", cwd=tmp_path, check_rc=2)
    assert "error:" in proc.stderr and "different run" in proc.stderr
    assert json.loads((tmp_path / "o" / "config.json").read_text())["lr"] == 0.001
    gdlab_run(*common, "--lr", "0.01", "--force", cwd=tmp_path, check_rc=0)
    assert json.loads((tmp_path / "o" / "config.json").read_text())["lr"] == 0.01


RESUME = ("--dataset", "iris", "--layers", "6", "--tol", "none", "--checkpoint-every", "1",
          "--quiet", "--batch-size", "16")


def _same_history(a, b):
    ra, rb = csv_rows(a / "history.csv"), csv_rows(b / "history.csv")
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        for key in ("loss", "val_loss", "accuracy", "val_accuracy", "lr"):
            assert x[key] == y[key], key


@pytest.mark.slow
def test_resume_with_more_epochs_equals_an_uninterrupted_run(tmp_path):
    gdlab_run("train", *RESUME, "--epochs", "6", "--out", tmp_path / "full", cwd=tmp_path,
              check_rc=0)
    gdlab_run("train", *RESUME, "--epochs", "3", "--out", tmp_path / "part", cwd=tmp_path,
              check_rc=0)
    proc = gdlab_run("train", "--resume", tmp_path / "part", "--epochs", "6", cwd=tmp_path,
                     check_rc=0)
    assert "resuming" in proc.stdout
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    part = json.loads((tmp_path / "part" / "metrics.json").read_text())
    assert part["epochs"] == 6 and part["steps"] == full["steps"] == 6 * 7
    assert part["final_loss"] == full["final_loss"]
    assert part["test_accuracy"] == full["test_accuracy"]
    _same_history(tmp_path / "full", tmp_path / "part")

    # resuming a finished run only rewrites its outputs
    (tmp_path / "part" / "metrics.json").unlink()
    (tmp_path / "part" / "loss.png").unlink()
    proc = gdlab_run("train", "--resume", tmp_path / "part", cwd=tmp_path, check_rc=0)
    again = json.loads((tmp_path / "part" / "metrics.json").read_text())
    assert again["final_loss"] == full["final_loss"] and again["epochs"] == 6
    read_png(tmp_path / "part" / "loss.png")


@pytest.mark.slow
def test_resume_before_the_first_checkpoint_restarts(tmp_path):
    gdlab_run("train", *RESUME, "--epochs", "2", "--out", tmp_path / "a", cwd=tmp_path,
              check_rc=0)
    gdlab_run("train", *RESUME, "--epochs", "2", "--out", tmp_path / "b", cwd=tmp_path,
              check_rc=0)
    # what a run killed before its first checkpoint leaves: the folder and config.json
    for p in (tmp_path / "b").iterdir():
        if p.name != "config.json":
            p.unlink()
    proc = gdlab_run("train", "--resume", tmp_path / "b", cwd=tmp_path, check_rc=0)
    assert "restarting the run from the beginning" in proc.stdout
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["final_loss"] == b["final_loss"] and b["epochs"] == 2


def test_resume_usage_errors(tmp_path):
    gdlab_run("train", *RESUME, "--epochs", "3", "--out", tmp_path / "r", cwd=tmp_path,
              check_rc=0)
    proc = gdlab_run("train", "--resume", tmp_path / "r", "--lr", "0.5", cwd=tmp_path,
                     check_rc=2)
    assert "error:" in proc.stderr and "--lr" in proc.stderr
    proc = gdlab_run("train", "--resume", tmp_path / "r", "--epochs", "2", cwd=tmp_path,
                     check_rc=2)
    assert "error:" in proc.stderr and "raised" in proc.stderr
    proc = gdlab_run("train", "--resume", tmp_path / "nothing", cwd=tmp_path, check_rc=2)
    assert "error:" in proc.stderr and "no run to resume" in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_writes_a_checkpoint_and_resume_equals_an_uninterrupted_run(tmp_path):
    args = ("train", "--dataset", "digits", "--layers", "16", "--batch-size", "1", "--epochs",
            "12", "--tol", "none", "--checkpoint-every", "1", "--quiet", "--seed", "3")
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "gdlab", *args, "--out", str(run_dir)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoint.npz").exists():  # the first epoch is done
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert f"gdlab train --resume {run_dir}" in err and "Traceback" not in err
    from gdlab.training.checkpoint import load_checkpoint

    state, _ = load_checkpoint(run_dir / "checkpoint.npz")
    assert 1 <= state["epoch"] < 12
    assert not (run_dir / "metrics.json").exists()
    gdlab_run("train", "--resume", run_dir, cwd=tmp_path, timeout=300, check_rc=0)
    gdlab_run(*args, "--out", tmp_path / "whole", cwd=tmp_path, timeout=300, check_rc=0)
    a = json.loads((run_dir / "metrics.json").read_text())
    b = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert a["epochs"] == b["epochs"] == 12 and a["steps"] == b["steps"]
    assert a["final_loss"] == b["final_loss"]
    _same_history(run_dir, tmp_path / "whole")


# ---- errors ------------------------------------------------------------------------------------

@pytest.fixture
def bad_files(tmp_path):
    _write_csv(tmp_path / "ok.csv", ["a", "b", "label"], [[i, i % 3, i % 2] for i in range(40)])
    _write_csv(tmp_path / "nan.csv", ["a", "x", "label"], [[1, "nan", 0], [2, 3, 1]])
    _write_csv(tmp_path / "inf.csv", ["a", "x", "label"], [[1, "inf", 0], [2, 3, 1]])
    _write_csv(tmp_path / "one.csv", ["a", "b", "label"], [[i, i, "cat"] for i in range(30)])
    _write_csv(tmp_path / "empty.csv", ["a", "b", "label"], [])
    return tmp_path


ERRORS = [
    (["--dataset", "missing.csv"], "no such file"),
    (["--dataset", "nosuchdata"], "unknown dataset"),
    (["--dataset", "ok.csv", "--target", "price"], 'target column "price"'),
    (["--dataset", "nan.csv", "--missing", "error"], 'missing value in column "x"'),
    (["--dataset", "inf.csv"], 'inf in column "x"'),
    (["--dataset", "ok.csv", "--features", "a,bb"], 'column "bb" is not a column'),
    (["--dataset", "ok.csv", "--missing", "fill"], "invalid choice: 'fill'"),
    (["--dataset", "ok.csv", "--test-size", "0.6", "--val-size", "0.5"],
     "test_size + val_size must be below 1"),
    (["--dataset", "one.csv"], "single class"),
    (["--dataset", "empty.csv"], "no data rows"),
    (["--lr", "-0.1"], "negative learning rate"),
    (["--batch-size", "0"], "batch size '0'"),
    (["--optimizer", "adamm"], "unknown optimizer 'adamm'"),
    (["--dataset", "iris", "--momentum", "0.9"], "--momentum does not apply"),
    (["--dataset", "iris", "--batch-size", "500"], "larger than"),
    (["--dataset", "iris", "--schedule", "bogus"], "unknown schedule"),
]


@pytest.mark.parametrize("args,message", ERRORS, ids=[m for _, m in ERRORS])
def test_bad_usage_and_bad_data_exit_2_with_one_error_line(bad_files, args, message):
    proc = gdlab_run("train", *args, "--epochs", "1", "--out", bad_files / "o", cwd=bad_files,
                     check_rc=2)
    assert "Traceback" not in proc.stderr
    error_lines = [x for x in proc.stderr.splitlines() if "error:" in x]
    assert len(error_lines) == 1, proc.stderr
    assert message in error_lines[0]
    assert not (bad_files / "o" / "config.json").exists()  # nothing written for a bad run


def test_debug_shows_the_traceback(tmp_path):
    proc = gdlab_run("train", "--dataset", "nosuchdata", "--debug", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_divergence_exits_1_and_keeps_the_last_good_checkpoint(tmp_path):
    # the learning rate grows 4x per epoch: the first epochs are fine, then it blows up
    out = tmp_path / "div"
    proc = gdlab_run("train", "--dataset", "iris", "--optimizer", "sgd", "--lr", "0.01",
                     "--schedule", "exponential:gamma=4", "--tol", "none", "--epochs", "60",
                     "--checkpoint-every", "1", "--out", out, cwd=tmp_path, check_rc=1)
    assert "Traceback" not in proc.stderr
    line = next(x for x in proc.stderr.splitlines() if "error:" in x)
    assert "diverged" in line and "epoch" in line and "step" in line
    assert "smaller learning rate" in line and "checkpoint" in line
    from gdlab.training.checkpoint import load_checkpoint

    state, _ = load_checkpoint(out / "checkpoint.npz")
    assert state["epoch"] >= 1
    assert np.all(np.isfinite(state["net"]["params"]))
    assert np.all(np.isfinite(state["history"]["loss"]))


def test_clip_norm_tames_a_learning_rate_that_diverges_without_it(tmp_path):
    common = ("train", "--dataset", "iris", "--layers", "8", "--optimizer", "sgd", "--lr", "1000",
              "--batch-size", "full", "--tol", "none", "--epochs", "20", "--quiet")
    proc = gdlab_run(*common, "--out", tmp_path / "plain", cwd=tmp_path, check_rc=1)
    assert "diverged" in proc.stderr
    gdlab_run(*common, "--clip-norm", "0.01", "--out", tmp_path / "clipped", cwd=tmp_path, check_rc=0)
    metrics = json.loads((tmp_path / "clipped" / "metrics.json").read_text())
    assert metrics["config"]["clip_norm"] == 0.01 and metrics["epochs"] == 20
    assert np.isfinite(metrics["final_loss"])
    gdlab_run("train", "--clip-value", "0", cwd=tmp_path, check_rc=2)


# ---- compare -----------------------------------------------------------------------------------

def test_compare_end_to_end(tmp_path):
    out = tmp_path / "cmp"
    proc = gdlab_run("compare", "--dataset", "iris", "--optimizers", "sgd,adam",
                     "--batch-sizes", "full,16", "--lrs", "0.05,1000", "--seeds", "2",
                     "--epochs", "3", "--layers", "6", "--out", out, cwd=tmp_path, check_rc=0)
    assert "final loss" in proc.stdout
    rows = csv_rows(out / "results.csv")
    assert len(rows) == 2 * 2 * 2 * 2
    configs = {(r["optimizer"], r["batch_size"], float(r["lr"])) for r in rows}
    assert len(configs) == 8 and {r["seed"] for r in rows} == {"0", "1"}
    diverged = [r for r in rows if r["status"] == "diverged"]
    assert diverged and all(float(r["lr"]) == 1000 for r in diverged)
    assert all(r["final_loss"] == "" for r in diverged)
    assert all(np.isfinite(float(r["final_loss"])) for r in rows if r["status"] == "ok")
    summary = csv_rows(out / "summary.csv")
    assert len(summary) == 8
    for s in summary:
        assert {"final_loss_mean", "final_loss_std", "best_val_metric_mean",
                "epochs_to_target_mean", "seconds_to_target_mean", "diverged"} <= set(s)

    # same initial weights within a seed: the first full-batch loss (of the initial
    # weights) agrees across optimizers and learning rates, and differs across seeds
    curves = csv_rows(out / "curves.csv")
    first = {}
    for r in curves:
        if r["batch_size"] == "full" and r["epoch"] == "1":
            first.setdefault(r["seed"], set()).add(r["loss"])
    assert len(first["0"]) == 1 and len(first["1"]) == 1 and first["0"] != first["1"]

    for name in ("loss_vs_epoch.png", "loss_vs_time.png"):
        read_png(out / name)
    html = (out / "report.html").read_text()
    assert '<meta name="viewport"' in html and "max-width" in html
    assert "http://" not in html and "https://" not in html
    assert html.count('src="data:image/png;base64,') == 3
    assert "<img" in html and html.count("<img") == html.count("data:image/png;base64,")
    md = (out / "report.md").read_text()
    assert "| configuration |" in md and "(loss_vs_epoch.png)" in md


def test_compare_rejects_bad_grids(tmp_path):
    proc = gdlab_run("compare", "--optimizers", "sgd,nope", cwd=tmp_path, check_rc=2)
    assert "unknown optimizer 'nope'" in proc.stderr
    proc = gdlab_run("compare", "--lrs", "0.1,-1", cwd=tmp_path, check_rc=2)
    assert "negative learning rate" in proc.stderr
    proc = gdlab_run("compare", "--batch-sizes", "full,0", cwd=tmp_path, check_rc=2)
    assert "batch size '0'" in proc.stderr


# ---- landscape, gradcheck ---------------------------------------------------------------------

def test_landscape_prints_where_each_optimizer_ended(tmp_path):
    out = tmp_path / "land"
    proc = gdlab_run("landscape", "--function", "quadratic", "--optimizers", "sgd,adam",
                     "--lr", "0.01", "--steps", "100", "--start", "-9,3", "--out", out,
                     cwd=tmp_path, check_rc=0)
    # plain gradient descent on 0.5 (x^2 + 50 y^2) contracts x by (1 - lr) per step
    line = next(x for x in proc.stdout.splitlines() if x.strip().startswith("sgd"))
    x_end = -9 * (1 - 0.01) ** 100
    assert f"({x_end: .6g}," in line
    assert any(x.strip().startswith("adam") and "ended at" in x for x in proc.stdout.splitlines())
    read_png(out / "landscape.png")


def test_landscape_maximize_concave(tmp_path):
    proc = gdlab_run("landscape", "--function", "concave", "--maximize", "--optimizers", "sgd",
                     "--lr", "0.1", "--steps", "200", "--out", tmp_path / "c", cwd=tmp_path,
                     check_rc=0)
    line = next(x for x in proc.stdout.splitlines() if x.strip().startswith("sgd"))
    assert "f = 3 " in line + " "  # the maximum, 3 at (1, -0.5)


def test_gradcheck_passes_and_fails(tmp_path):
    proc = gdlab_run("gradcheck", "--layers", "4,3", "--activation", "tanh", "--batchnorm",
                     cwd=tmp_path, check_rc=0)
    for name in ("W1", "gamma1", "beta1", "W2", "gamma2", "W3", "b3"):
        assert name in proc.stdout
    assert "PASS" in proc.stdout
    # an impossible tolerance must fail with exit code 1
    proc = gdlab_run("gradcheck", "--tol", "1e-300", cwd=tmp_path, check_rc=1)
    assert "FAIL" in proc.stdout


def test_python_dash_m_and_console_script_agree(tmp_path):
    script = Path(sys.executable).with_name("gdlab")
    if not script.exists():
        pytest.skip("the gdlab console script is not installed")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                          timeout=60, env={**os.environ})
    assert proc.returncode == 0 and proc.stdout.strip() == f"gdlab {gdlab.__version__}"


def _write_idx_gz(path, array):
    import gzip

    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_train_mnist_from_idx_files_in_data_dir(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    folder.mkdir()
    for prefix, n in (("train", 150), ("t10k", 50)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 6, 6))
        images[np.arange(n), labels % 6, labels // 6] = 255  # one bright pixel per class
        _write_idx_gz(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    out = tmp_path / "m"
    gdlab_run("train", "--dataset", "mnist", "--data-dir", folder, "--epochs", "3",
              "--layers", "8", "--quiet", "--out", out, cwd=tmp_path, check_rc=0)
    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"] == "mnist" and m["task"] == "classification"
    assert m["n_train"] + m["n_val"] + m["n_test"] == 200


def test_train_threads_sets_the_threads_and_wins_over_the_environment(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    for given, want in ((None, 1), ("2", 2)):
        out = tmp_path / f"run-{given}"
        args = ["train", "--dataset", "iris", "--layers", "4", "--epochs", "1", "--quiet",
                "--out", str(out)] + (["--threads", given] if given else [])
        proc = subprocess.run([sys.executable, "-m", "gdlab", *args], cwd=tmp_path,
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert json.loads((out / "metrics.json").read_text())["threads"] == want
    proc = gdlab_run("train", "--threads", "0", cwd=tmp_path, check_rc=2)
    assert "--threads" in proc.stderr and "0" in proc.stderr
