"""What a new user tripped over (issue 17's list), each checked where the user met it: the
command line in a subprocess, the messages, the README."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdlab.data import load_dataset
from gdlab.lab.functions import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]


def gdlab_run(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "gdlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def error_line(proc) -> str:
    lines = [x for x in proc.stderr.splitlines() if "error:" in x]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    return lines[0]


# ---- gdlab landscape ---------------------------------------------------------------------

def landscape(tmp_path, *args):
    tmp_path.mkdir(exist_ok=True)
    proc = gdlab_run("landscape", "--steps", "20", "--optimizers", "sgd", "--out", tmp_path,
                     *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_himmelblau_maximize_states_no_maximum_and_no_minima_as_maxima(tmp_path):
    out = landscape(tmp_path, "--function", "himmelblau", "--maximize")
    assert "no maximum: the function is unbounded above" in out
    assert "known maximum 0" not in out and "(3, 2)" not in out
    from gdlab.report import plots

    fig = plots.plot_landscape(FUNCTIONS["himmelblau"], {"sgd": np.zeros((2, 2))},
                               maximize=True)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "minimum" not in labels and "maximum" not in labels  # its minima are not maxima
    fig = plots.plot_landscape(FUNCTIONS["concave"], {"sgd": np.zeros((2, 2))},
                               maximize=True)
    assert "maximum" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_concave_with_and_without_maximize_differ(tmp_path):
    up = landscape(tmp_path / "up", "--function", "concave", "--maximize", "--lr", "0.1")
    down = landscape(tmp_path / "down", "--function", "concave", "--lr", "0.1")
    assert up != down
    assert "gradient ascent" in up and "known maximum 3 at (1, -0.5)" in up
    assert "gradient descent" in down and "no minimum: the function is unbounded below" in down
    assert "add --maximize" in down
    f_up = float(re.search(r"f = (\S+)", up).group(1))
    f_down = float(re.search(r"f = (\S+)", down).group(1))
    start = FUNCTIONS["concave"].f(FUNCTIONS["concave"].start)
    assert f_down < start < f_up


def test_saddle_states_what_is_known(tmp_path):
    out = landscape(tmp_path, "--function", "saddle")
    assert "no minimum: the function is unbounded below" in out
    assert not re.search(r"at\s*$", out.splitlines()[0])


# ---- gdlab train -----------------------------------------------------------------------------

def test_a_run_that_stops_early_says_why(tmp_path):
    proc = gdlab_run("train", "--dataset", "iris", "--layers", "4", "--tol", "0.5",
                     "--patience", "2", "--out", "r", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["stopped_because"] == "tol" and m["epochs"] < 200
    reason = m["stopped_reason"]
    assert "improved by less than --tol 0.5 for --patience 2 epochs" in reason
    assert "was at epoch" in reason and "lower --tol or raise --patience" in reason
    assert " ".join(proc.stdout.split()).count("improved by less than --tol 0.5") == 1


def test_resuming_a_finished_run_says_how_to_train_further(tmp_path):
    gdlab_run("train", "--dataset", "iris", "--layers", "4", "--epochs", "2", "--out", "r",
              cwd=tmp_path)
    proc = gdlab_run("train", "--resume", "r", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "had already finished its 2 epochs" in text
    assert "gdlab train --resume r --epochs 4" in text


def test_resume_help_and_error_name_the_same_options(tmp_path):
    help_text = " ".join(gdlab_run("train", "--help", cwd=tmp_path).stdout.split())
    said = re.search(r"--resume DIR continue .*?only (.*?) may be given", help_text).group(1)
    line = error_line(gdlab_run("train", "--resume", "r", "--lr", "0.5", cwd=tmp_path))
    told = re.search(r"only (.*?) may be given", line).group(1)
    assert said == told == "--epochs and --workers"


def test_unknown_names_get_did_you_mean_and_a_plain_list(tmp_path):
    line = error_line(gdlab_run("train", "--dataset", "iris", "--schedule", "cosine:Tmax=5",
                                "--epochs", "1", cwd=tmp_path))
    assert "unknown option 'Tmax' for schedule 'cosine'; did you mean 'T_max'?" in line
    assert "[" not in line and "Choose from: T_max, eta_min" in line
    line = error_line(gdlab_run("train", "--dataset", "irs", cwd=tmp_path))
    assert "did you mean 'iris'? Known names: iris, wine" in line and "[" not in line
    from gdlab.lab.run_config import make_config

    with pytest.raises(ValueError, match=r"'epoch'; did you mean 'epochs'\? Known keys: "
                                         r"activation, alpha") as err:
        make_config(epoch=3)
    assert "[" not in str(err.value)


def test_messages_show_labels_as_typed_not_numpy_reprs(tmp_path):
    (tmp_path / "w.csv").write_text("x,wind\n1,south\n2,north\n3,south\n")
    with pytest.raises(ValueError) as err:
        load_dataset(tmp_path / "w.csv", task="regression")
    assert "'south'" in str(err.value) and "np.str_" not in str(err.value)
    (tmp_path / "one.csv").write_text("x,wind\n1,south\n2,south\n3,\n")
    line = error_line(gdlab_run("train", "--dataset", "one.csv", cwd=tmp_path))
    assert "single class ('south')" in line and "np." not in line


def test_the_mnist_message_names_the_option(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ValueError, match="--data-dir"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


# ---- gdlab compare -----------------------------------------------------------------------

def test_compare_explains_its_final_loss_and_says_r_squared(tmp_path):
    proc = gdlab_run("compare", "--dataset", "diabetes", "--optimizers", "adam",
                     "--seeds", "1", "--epochs", "3", "--out", "c", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "best val R²" in out and "r2" not in out
    assert "final loss is the training loss of the final weights" in out
    report = " ".join((tmp_path / "c" / "report.md").read_text().split())
    assert "final loss is the training loss of the final weights" in report
    assert "Validation R²" in report and "val r2" not in report.lower()


# ---- the README ------------------------------------------------------------------------------

def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_states_no_timings_that_a_run_does_not_print():
    text = readme()
    before_performance = text.split("## Performance")[0]
    assert not re.search(r"\d+(\.\d+)? to \d+(\.\d+)? s\b", before_performance)
    assert not re.search(r"about (a|one|\d+) minutes?", before_performance)


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", readme(), re.S)


def test_readme_example_imports_only_what_it_uses():
    for block in _python_blocks():
        block = re.sub(r"#.*", "", block)  # a name in a comment is no use of it
        for alias in re.findall(r"^from \S+ import \w+ as (\w+)", block, re.M):
            uses = re.findall(rf"\b{alias}\b", block)
            assert len(uses) >= 2, f"{alias} is imported but never used"
        for name in re.findall(r"^from \S+ import (\w+)$", block, re.M):
            assert len(re.findall(rf"\b{name}\b", block)) >= 2, f"{name} is never used"


@pytest.mark.slow
def test_readme_estimator_example_runs_without_convergence_warnings(tmp_path):
    block = next(b for b in _python_blocks() if "GridSearchCV" in b)
    proc = subprocess.run([sys.executable, "-W", "error::sklearn.exceptions.ConvergenceWarning",
                           "-c", block], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    score = float(proc.stdout.split()[-1])
    assert score >= 0.95
