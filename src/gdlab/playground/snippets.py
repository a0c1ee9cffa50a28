"""The code behind the picture: a configuration as a Python snippet and a ``gdlab train`` command.

:func:`python_snippet` writes the plain gdlab code that trains the same network on the same
data with the same settings as the playground does (:func:`gdlab.playground.experiment.
build_experiment`): run in a fresh interpreter it gives the page's history, bit for bit (one
BLAS thread, NumPy's code, as the server trains). :func:`train_command` writes the
``gdlab train`` command that trains the same network on the same points where the command line
can say so, and says what it does differently (it splits and standardises the data, counts
epochs) or why it cannot (a setting it has no option for): never a command that trains
something else.
"""

from __future__ import annotations

import json
import math
import shlex
import textwrap

import numpy as np

from gdlab.data.toy import GENERATORS, MIN_SAMPLES, draw
from gdlab.optim.registry import optimizer_entry
from gdlab.playground.config import check_config, optimizer_arguments

#: the parts of the data ``gdlab train`` holds out (its configuration's test_size, val_size)
CLI_TEST_SIZE, CLI_VAL_SIZE = 0.2, 0.1


def code_for(config) -> dict:
    """``{"config", "python", "command", "command_notes"}`` for ``config`` (checked first):
    the snippet, the command (None where the command line cannot express the configuration)
    and the notes that go with it."""
    config = check_config(config)
    command, notes = train_command(config)
    return {"config": config, "python": python_snippet(config), "command": command,
            "command_notes": notes}


def describe(config) -> str:
    """One line in words: ``spirals (400 points, noise 0.1), hidden layers 16-16 tanh, adam
    (lr 0.03), batches of 16, 5,000 steps, seed 0``."""
    c = check_config(config)
    acts = c["activation"] if isinstance(c["activation"], str) else "/".join(c["activation"])
    net = (f"hidden layers {'-'.join(map(str, c['layers']))} {acts}" if c["layers"]
           else "no hidden layer")
    net += ", batch norm" if c["batchnorm"] else ""
    net += f", dropout {c['dropout']:g}" if c["dropout"] else ""
    k = c["batch_size"]
    batches = ("full batch" if k == "full" else "stochastic (batches of 1)" if k == 1
               else f"batches of {k}")
    return (f"{c['dataset']} ({c['n_samples']} points, noise {c['noise']:g}), {net}, "
            f"{c['optimizer']} (lr {c['lr']:g}), {batches}, {c['max_steps']:,} steps, "
            f"seed {c['seed']}")


#: the width the snippet's lines are wrapped at
WIDTH = 88


def _py(value) -> str:
    """``value`` as Python source, strings in double quotes."""
    if isinstance(value, _Source):
        return value.text
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_py, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_py, value)) + ")"
    return repr(value)


def _call(head, args, kwargs=()) -> list[str]:
    """``head(args..., key=value, ...)`` as lines of at most WIDTH characters (where the
    parts allow), continued under the opening parenthesis."""
    parts = [_py(a) for a in args]
    parts += [f"{key}={_py(value)}" for key, value in kwargs]
    lines, line = [], head + "("
    for i, part in enumerate(parts):
        piece = part + (", " if i < len(parts) - 1 else ")")
        if len(line) + len(piece.rstrip()) > WIDTH and line.strip() != head + "(":
            lines.append(line.rstrip())
            line = " " * (len(head) + 1)
        line += piece
    return [*lines, line if parts else head + "()"]


class _Source:
    """A piece of Python source passed as it is (a name, not a value)."""

    def __init__(self, text):
        self.text = text


def python_snippet(config) -> str:
    """A short Python script that trains ``config`` as the playground does and leaves its
    history in ``recorder.history`` (equal, entry for entry, to the page's)."""
    c = check_config(config)
    classify = GENERATORS[c["dataset"]][0] == "classification"
    n_features = draw(c["dataset"], MIN_SAMPLES, 0.0, rng=np.random.default_rng(0))[0].shape[1]
    data_args = [(k, c[k]) for k in ("n_samples", "noise", "val_size", "seed")]
    net_args = [("activation", c["activation"])]
    net_args += [("batchnorm", True)] if c["batchnorm"] else []
    net_args += [("dropout", c["dropout"])] if c["dropout"] else []
    net_args += [("seed", c["seed"]), ("fast", False)]
    opt_args = list(optimizer_arguments(c).items())
    opt_args += [("fast", False)] if optimizer_entry(c["optimizer"]).has_kernel else []
    trainer_args = [("batch_size", c["batch_size"]), ("epochs", None),
                    ("max_steps", c["max_steps"]), ("tol", None)]
    trainer_args += [("alpha", c["alpha"])] if c["alpha"] else []
    trainer_args += [("clip_norm", c["clip_norm"])] if c["clip_norm"] is not None else []
    if c["schedule"] is not None:
        trainer_args += [("schedule", c["schedule"]), ("schedule_interval", "step")]
    trainer_args += [("seed", c["seed"])]
    loss = "cross_entropy" if classify else "mse"
    name = _Source
    lines = [
        *textwrap.wrap(describe(c), WIDTH, initial_indent="# ", subsequent_indent="# "),
        "from threadpoolctl import threadpool_limits",
        "",
        "from gdlab import DivergenceError, Trainer, make_optimizer, mlp",
        "from gdlab.data import make_toy",
        "from gdlab.playground.experiment import StepRecorder",
        "",
        "threadpool_limits(1)  # one BLAS thread, as the playground trains: the same numbers",
        "",
        *_call("data = make_toy", [c["dataset"]], data_args),
        *_call("net = mlp", [n_features, c["layers"], 2 if classify else 1], net_args),
        *_call("optimizer = make_optimizer", [c["optimizer"], name("[net.flat_parameters]")],
               opt_args),
        f"recorder = StepRecorder(data, every={c['record_every']})  # the page's history",
        *_call("trainer = Trainer", [name("net"), loss, name("optimizer")],
               [*trainer_args, ("callbacks", name("[recorder]"))]),
        "try:",
        "    trainer.fit(data.X, data.y, validation_data=data.validation_data)",
        "except DivergenceError as exc:  # the page's \"diverged\"",
        "    print(exc)",
        "",
        "last = recorder.history[-1]",
        "print(f\"step {last['step']}: loss {last['loss']:.4f}, accuracy {last['accuracy']}\")",
    ]
    return "\n".join(lines) + "\n"


def _cli_training_size(c) -> int:
    """How many of the points ``gdlab train`` trains on: it splits off CLI_TEST_SIZE of them,
    then CLI_VAL_SIZE of the whole from the rest (:func:`gdlab.data.split`, scikit-learn's
    ``train_test_split``, which rounds each part it splits off up)."""
    n = c["n_samples"]
    rest = n - math.ceil(CLI_TEST_SIZE * n)
    return rest - math.ceil(CLI_VAL_SIZE / (1 - CLI_TEST_SIZE) * rest)


def _cannot(c) -> list[str]:
    """Why ``gdlab train`` cannot train ``c`` (empty when it can)."""
    reasons = []
    if not isinstance(c["activation"], str) and len(set(c["activation"])) > 1:
        reasons.append(f"gdlab train gives every hidden layer the same activation "
                       f"(--activation); this network has {', '.join(c['activation'])}")
    entry = optimizer_entry(c["optimizer"])
    if c["betas"] is not None and tuple(c["betas"]) != tuple(
            entry([np.zeros(1, dtype=np.float32)]).betas):
        reasons.append(f"gdlab train has no option for {c['optimizer']}'s betas "
                       f"({', '.join(map(str, c['betas']))})")
    n = c["n_samples"]
    held = (math.ceil(CLI_TEST_SIZE * n), n - math.ceil(CLI_TEST_SIZE * n) - _cli_training_size(c))
    if GENERATORS[c["dataset"]][0] == "classification" and min(held) < 2:
        reasons.append(f"gdlab train holds out {CLI_TEST_SIZE:.0%} of the points for a test and "
                       f"{CLI_VAL_SIZE:.0%} for validation, each with both classes: {n} points "
                       "are too few")
    if c["schedule"] is not None:
        reasons.append("the page steps the learning-rate schedule every step over max_steps; "
                       "gdlab train steps it every epoch over --epochs")
    return reasons


def train_command(config) -> tuple[str | None, list[str]]:
    """``(command, notes)``: the ``gdlab train`` command for ``config`` and what it does
    differently, or ``(None, reasons)`` when the command line cannot express it."""
    c = check_config(config)
    reasons = _cannot(c)
    if reasons:
        return None, [f"No gdlab train command: {r}." for r in reasons]
    activation = c["activation"] if isinstance(c["activation"], str) else c["activation"][0]
    args = ["--dataset", c["dataset"], "--n-samples", c["n_samples"], "--noise", c["noise"],
            "--layers", ",".join(map(str, c["layers"])) or "none", "--activation", activation]
    args += ["--batchnorm"] if c["batchnorm"] else []
    args += ["--dropout", c["dropout"]] if c["dropout"] else []
    args += ["--optimizer", c["optimizer"], "--lr", c["lr"]]
    for key in ("momentum", "weight_decay"):
        if c[key] is not None:
            args += ["--" + key.replace("_", "-"), c[key]]
    args += ["--alpha", c["alpha"]] if c["alpha"] else []
    args += ["--clip-norm", c["clip_norm"]] if c["clip_norm"] is not None else []
    n_train, k = _cli_training_size(c), c["batch_size"]
    per_epoch = 1 if k == "full" else math.ceil(n_train / k)
    epochs = math.ceil(c["max_steps"] / per_epoch)
    args += ["--batch-size", k, "--epochs", epochs, "--tol", "none", "--seed", c["seed"]]
    command = "gdlab train " + " ".join(shlex.quote(str(a)) for a in args)
    n_val = int(round(c["n_samples"] * c["val_size"]))
    notes = [
        f"The same {c['n_samples']} points and the same network, but gdlab train holds out "
        f"{CLI_VAL_SIZE:.0%} of them for validation and {CLI_TEST_SIZE:.0%} for a test and "
        f"trains on {n_train} (the page: {c['n_samples'] - n_val}), standardised: its numbers "
        "differ from the page's; the Python gives the page's own.",
        f"gdlab train counts epochs: {epochs:,} epochs of {per_epoch:,} step"
        f"{'s' if per_epoch != 1 else ''} (the page: {c['max_steps']:,} steps); --tol none "
        "runs them all, as the page does.",
    ]
    return command, notes
