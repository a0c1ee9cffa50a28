"""Repeatability: the same ``gdlab train`` command with the same seed gives bit-identical
figures in ``metrics.json`` and ``history.csv`` (timings aside) and a bit-identical final
state, run after run, in separate processes; another seed gives other figures.

Dropout, shuffling by mini-batch and a learning-rate schedule are on, so every random stream
of a run (split, initial weights, shuffling, dropout masks) is exercised.
"""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from gdlab.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

ARGS = ["train", "--dataset", "wine", "--layers", "8,4", "--dropout", "0.2", "--batch-size",
        "8", "--epochs", "8", "--tol", "none", "--schedule", "cosine", "--quiet"]


def train(out, *extra):
    proc = subprocess.run([sys.executable, "-m", "gdlab", *ARGS, *extra, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    with open(out / "history.csv", newline="") as fh:
        history = [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(fh)]
    state, _ = load_checkpoint(out / "checkpoint.npz")
    return metrics, history, state


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("repeat")
    return [train(root / "a", "--seed", "11"), train(root / "b", "--seed", "11"),
            train(root / "c", "--seed", "12")]


def test_same_seed_same_metrics_bit_for_bit(runs):
    (ma, _, _), (mb, _, _), _ = runs
    ma, mb = dict(ma), dict(mb)
    assert ma.pop("seconds") >= 0 and mb.pop("seconds") >= 0
    assert ma == mb  # floats compared exactly: JSON keeps every bit of a double
    assert ma["epochs"] == 8 and isinstance(ma["final_loss"], float)


def test_same_seed_same_history_and_final_state(runs):
    (_, ha, sa), (_, hb, sb), _ = runs
    assert len(ha) == 8 and ha == hb
    np.testing.assert_array_equal(sa["net"]["params"], sb["net"]["params"])
    assert sa["net"]["rng"] == sb["net"]["rng"] and sa["shuffle_rng"] == sb["shuffle_rng"]


def test_another_seed_gives_other_figures(runs):
    (ma, ha, sa), _, (mc, hc, sc) = runs
    assert ma["final_loss"] != mc["final_loss"]
    assert ha[0]["loss"] != hc[0]["loss"]
    assert not np.array_equal(sa["net"]["params"], sc["net"]["params"])
