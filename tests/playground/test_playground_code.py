"""The code behind the picture: the Python snippet the page shows, run in a fresh interpreter,
gives the history the API gave; the gdlab train command runs and trains what it says."""

import json
import shlex
import subprocess
import sys

import pytest

CASES = {
    "spirals, adam": {"dataset": "spirals", "layers": [16, 16], "max_steps": 800},
    "curve, every option": {"dataset": "curve", "layers": [6, 6], "activation": ["relu", "elu"],
                            "batchnorm": True, "dropout": 0.1, "optimizer": "nadam",
                            "betas": [0.8, 0.99], "weight_decay": 0.01, "lr": 0.01,
                            "batch_size": "full", "alpha": 0.001, "clip_norm": 1.0,
                            "schedule": "cosine", "max_steps": 300, "record_every": 7,
                            "val_size": 0.3, "n_samples": 150, "noise": 0.2, "seed": 7},
    "ravine, momentum": {"dataset": "ravine", "layers": [4], "optimizer": "momentum",
                         "momentum": 0.5, "lr": 0.05, "batch_size": 1, "max_steps": 400},
    "diverges": {"dataset": "curve", "optimizer": "sgd", "lr": 1, "max_steps": 500},
}


def _run_snippet(code, tmp_path):
    """The snippet as a script in a fresh interpreter, its ``recorder.history`` read back."""
    script = tmp_path / "snippet.py"
    script.write_text(code + "\nimport json, sys\njson.dump(recorder.history, sys.stderr)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stderr), out.stdout


@pytest.mark.parametrize("name", list(CASES))
def test_the_python_snippet_reproduces_the_pages_history(server, tmp_path, name):
    config = CASES[name]
    code = server.post("/api/code", config)
    run = server.finished(server.start(config))
    history, printed = _run_snippet(code["python"], tmp_path)
    # the API's JSON has None for the infinite loss of a diverged step; the script's has inf
    expected = json.loads(json.dumps(run["history"]))
    assert json.loads(json.dumps(history).replace("Infinity", "null")) == expected
    assert len(history) > 1 and history[-1]["step"] == run["history"][-1]["step"]
    if run["status"] == "diverged":
        assert "diverged" in printed and f"step {run['diverged']['step']}" in printed
    else:
        assert f"step {run['step']}:" in printed
    assert code["config"] == run["config"]


def test_the_command_trains_the_same_network_on_the_same_points(server, tmp_path):
    config = {"dataset": "moons", "n_samples": 300, "noise": 0.15, "layers": [12, 6],
              "activation": "relu", "batchnorm": True, "dropout": 0.1, "optimizer": "momentum",
              "lr": 0.05, "momentum": 0.8, "batch_size": 32, "alpha": 0.001, "clip_norm": 2.0,
              "max_steps": 400, "seed": 4}
    code = server.post("/api/code", config)
    command = code["command"]
    assert command.startswith("gdlab train ")
    args = shlex.split(command)[2:] + ["--out", str(tmp_path / "run"), "--quiet"]
    out = subprocess.run([sys.executable, "-m", "gdlab", "train", *args], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    for key in ("dataset", "n_samples", "noise", "layers", "activation", "batchnorm", "dropout",
                "optimizer", "lr", "momentum", "batch_size", "alpha", "clip_norm", "seed"):
        assert saved[key] == config[key], key
    assert saved["tol"] is None
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # the epochs make about the page's steps (the last epoch may add a few)
    per_epoch = -(-metrics["n_train"] // 32)
    assert metrics["steps"] == saved["epochs"] * per_epoch
    assert 400 <= metrics["steps"] < 400 + per_epoch
    notes = " ".join(code["command_notes"])
    assert f"trains on {metrics['n_train']}" in notes and "standardised" in notes


@pytest.mark.parametrize("change, words", [
    ({"activation": ["relu", "tanh"]}, "same activation"),
    ({"betas": [0.5, 0.9]}, "betas"),
    ({"schedule": "step:step_size=100"}, "schedule"),
    ({"n_samples": 10, "batch_size": "full"}, "10 points are too few"),
])
def test_no_command_where_the_command_line_cannot_say_it(server, change, words):
    code = server.post("/api/code", {"max_steps": 200, **change})
    assert code["command"] is None
    assert any(words in note for note in code["command_notes"]), code["command_notes"]
    assert "make_toy" in code["python"]


def test_the_optimizers_own_betas_need_no_option(server):
    code = server.post("/api/code", {"optimizer": "adam", "betas": [0.9, 0.999],
                                     "activation": ["tanh", "tanh"]})
    assert code["command"] is not None and "--activation tanh" in code["command"]


def test_a_bad_configuration_gets_no_code(server):
    status, answer, _ = server.request("POST", "/api/code", {"lr": "fast"})
    assert status == 400 and answer["field"] == "lr"
