"""run_training as a library function: interrupts, resume, folder rules, configuration."""

import csv
import json

import pytest

from gdlab.lab.runs import DEFAULT_CONFIG, make_config, run_training
from gdlab.training.checkpoint import load_checkpoint

SMALL = {"dataset": "iris", "layers": [5], "epochs": 6, "tol": None, "batch_size": 16,
         "checkpoint_every": 100}


class InterruptAt:
    """Raise KeyboardInterrupt (as a Ctrl-C would) in the middle of a given epoch."""

    def __init__(self, epoch, step_in_epoch=2):
        self.epoch, self.step_in_epoch, self.seen = epoch, step_in_epoch, 0

    def on_step_end(self, trainer, logs):
        if trainer.epoch + 1 == self.epoch:
            self.seen += 1
            if self.seen == self.step_in_epoch:
                raise KeyboardInterrupt


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_interrupt_mid_epoch_checkpoints_the_last_whole_epoch_and_resumes_exactly(tmp_path):
    whole = run_training(make_config(**SMALL), tmp_path / "whole", log=None)
    assert whole["stopped_because"] == "max_epochs" and whole["epochs"] == 6

    cut = run_training(make_config(**SMALL), tmp_path / "cut", log=None,
                       callbacks=(InterruptAt(epoch=4),))
    assert cut["stopped_because"] == "interrupted"
    assert cut["epochs"] == 3 and cut["steps"] == 3 * 7  # the last whole epoch
    state, meta = load_checkpoint(tmp_path / "cut" / "checkpoint.npz")
    assert state["epoch"] == 3 and meta == {"finished": False, "stopped_because": "interrupted"}
    assert not (tmp_path / "cut" / "metrics.json").exists()

    resumed = run_training({}, tmp_path / "cut", resume=True, log=None)
    assert resumed["epochs"] == 6 and resumed["steps"] == whole["steps"]
    assert resumed["final_loss"] == whole["final_loss"]
    assert resumed["test_accuracy"] == whole["test_accuracy"]
    a, b = rows(tmp_path / "whole" / "history.csv"), rows(tmp_path / "cut" / "history.csv")
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert [r["val_accuracy"] for r in a] == [r["val_accuracy"] for r in b]
    assert (json.loads((tmp_path / "cut" / "metrics.json").read_text())["stopped_because"]
            == "max_epochs")


def test_interrupt_in_the_first_epoch_leaves_no_checkpoint_and_resume_restarts(tmp_path):
    cut = run_training(make_config(**SMALL), tmp_path / "cut", log=None,
                       callbacks=(InterruptAt(epoch=1),))
    assert cut["stopped_because"] == "interrupted" and cut["checkpoint"] is None
    assert not list((tmp_path / "cut").glob("checkpoint*"))
    lines = []
    again = run_training({}, tmp_path / "cut", resume=True, log=lines.append)
    assert any("restarting the run from the beginning" in x for x in lines)
    whole = run_training(make_config(**SMALL), tmp_path / "whole", log=None)
    assert again["final_loss"] == whole["final_loss"]


def test_configuration_keys_are_checked():
    with pytest.raises(ValueError, match="unknown configuration key"):
        make_config(learning_rate=0.1)
    config = make_config(layers=(3, 2))
    assert config["layers"] == [3, 2] and set(config) == set(DEFAULT_CONFIG)
    # the gdlab train defaults of the issue
    assert (DEFAULT_CONFIG["dataset"], DEFAULT_CONFIG["layers"], DEFAULT_CONFIG["activation"],
            DEFAULT_CONFIG["optimizer"], DEFAULT_CONFIG["lr"], DEFAULT_CONFIG["batch_size"]) == (
        "digits", [64], "relu", "adam", 1e-3, 32)
    assert DEFAULT_CONFIG["tol"] > 0 and DEFAULT_CONFIG["patience"] >= 1


def test_config_is_written_before_training_and_bad_runs_write_nothing(tmp_path):
    seen = []

    def on_start(out):
        seen.append(json.loads((out / "config.json").read_text()))
        assert not (out / "metrics.json").exists()

    run_training(make_config(**{**SMALL, "epochs": 1}), tmp_path / "a", log=None,
                 on_start=on_start)
    assert seen and seen[0]["dataset"] == "iris"
    with pytest.raises(ValueError, match="momentum"):
        run_training(make_config(**{**SMALL, "momentum": 0.5}), tmp_path / "b", log=None)
    assert not (tmp_path / "b").exists()
