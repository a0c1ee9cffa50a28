"""The learning-rate range test (Smith 2017, "Cyclical learning rates for training neural
networks", section 3.3; fastai's ``lr_find``): :func:`lr_range_test` and the ``gdlab lr-find``
job, :func:`find_lr`.

A fresh network trains for at most ``num_it`` mini-batch steps while the rate grows
exponentially from ``start_lr`` to ``end_lr`` (an :class:`~gdlab.schedules.ExponentialLR`
stepped after every step: step ``i`` uses ``start_lr * (end_lr / start_lr) ** (i / (num_it -
1))``). Each step's batch loss is smoothed as fastai does (an exponential moving average with
``beta = 0.98``, bias-corrected); the test stops early when the smoothed loss exceeds
``stop_factor`` (4) times the best one so far, or a loss is not finite: the loss blew up.

The suggestion is fastai's default rule, ``"valley"``: on the smoothed losses (the first 10 %
of the steps and the last 5 left out, as fastai does), find the longest run of steps over which
the loss keeps decreasing (the longest decreasing subsequence), and take the rate in its middle
(fastai's index: a third of its length, plus a sixth), well before the bottom where the loss is
about to turn. The other rules:
``"steep"`` (the rate where the loss falls fastest per decade of rate) and ``"minimum"`` (the
rate of the lowest loss, divided by 10). The rate at the bottom itself is too high to train
with: it is where the loss is about to blow up.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gdlab import _checks
from gdlab.errors import DivergenceError
from gdlab.schedules.decay import ExponentialLR
from gdlab.training.trainer import Trainer

#: the suggestion rules, the first the default
RULES = ("valley", "steep", "minimum")
#: what each rule takes, in words (printed with the suggestion)
RULE_TEXT = {
    "valley": "fastai's default: the middle of the longest stretch over which the "
              "smoothed loss keeps falling",
    "steep": "the steepest fall of the smoothed loss per decade of rate",
    "minimum": "the rate of the lowest smoothed loss, divided by 10",
}
START_LR, END_LR, NUM_IT, BETA, STOP_FACTOR = 1e-7, 10.0, 100, 0.98, 4.0


@dataclass
class LRFindResult:
    """The range test: each step's rate, batch loss and smoothed loss, why it ended
    (``"end_lr"``: every step ran; ``"loss_blew_up"``: the smoothed loss passed
    ``stop_factor`` times its best, or a loss was not finite), and the suggested rate."""

    lrs: list
    losses: list
    smoothed: list
    stopped_because: str
    suggestion: float
    rule: str
    task: str = "classification"

    @property
    def loss_name(self) -> str:
        """The loss the test measured, as a run labels it."""
        return "cross-entropy" if self.task == "classification" else "MSE, standardised target"

    def as_dict(self) -> dict:
        return asdict(self)


class _CancelFit(Exception):
    """Raised by the recorder to end the test (fastai's CancelFitException)."""


class _Recorder:
    """A trainer callback: the rate and loss of each step, smoothed; ends the test when the
    smoothed loss blows up."""

    def __init__(self, beta: float, stop_factor: float):
        self.beta, self.stop_factor = beta, stop_factor
        self.lrs, self.losses, self.smoothed = [], [], []
        self._avg, self._best, self._next_lr = 0.0, math.inf, None

    def on_train_begin(self, trainer, logs):
        self._next_lr = float(trainer.optimizer.lr)

    def on_step_end(self, trainer, logs):
        # the per-step schedule has already set the next step's rate: this step used the last
        lr, self._next_lr = self._next_lr, float(trainer.optimizer.lr)
        loss = float(logs["loss"])
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        smooth = self._avg / (1 - self.beta ** (len(self.losses) + 1))
        self.lrs.append(lr)
        self.losses.append(loss)
        self.smoothed.append(smooth)
        if not math.isfinite(smooth) or smooth > self.stop_factor * self._best:
            raise _CancelFit
        self._best = min(self._best, smooth)


def lr_range_test(net, loss, optimizer, X, y, *, start_lr=START_LR, end_lr=END_LR,
                  num_it=NUM_IT, rule="valley", beta=BETA, stop_factor=STOP_FACTOR,
                  batch_size=32, seed=0, **trainer_kwargs) -> LRFindResult:
    """Run the range test on ``net`` (its weights are changed: pass a fresh network) with
    ``optimizer`` (its rate is set to ``start_lr``) on ``(X, y)``; see the module docstring.

    ``trainer_kwargs`` go to :class:`~gdlab.training.Trainer` (``alpha``, ``clip_norm``,
    ``clip_value``, ``task``, ...), so that the test trains as the run will.
    """
    start_lr = _checks.positive("start_lr", start_lr)
    end_lr = _checks.positive("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(f"end_lr must be above start_lr, got {end_lr:g} <= {start_lr:g}")
    num_it = _checks.positive_int("num_it", num_it)
    if num_it < 10:
        raise ValueError(f"num_it must be at least 10 steps to suggest a rate, got {num_it}")
    rule = _checks.choice("rule", rule, RULES, kind="suggestion rule")
    optimizer.lr = start_lr
    schedule = ExponentialLR(optimizer, gamma=(end_lr / start_lr) ** (1.0 / (num_it - 1)))
    recorder = _Recorder(beta, stop_factor)
    trainer = Trainer(net, loss, optimizer, batch_size=batch_size, epochs=None,
                      max_steps=num_it, tol=None, divergence_factor=None, schedule=schedule,
                      schedule_interval="step", callbacks=(recorder,), seed=seed,
                      **trainer_kwargs)
    stopped = "end_lr"
    try:
        trainer.fit(X, y)
    except (_CancelFit, DivergenceError):
        stopped = "loss_blew_up"
    if len(recorder.lrs) < 3:
        raise ValueError(f"the loss blew up after {len(recorder.lrs)} step(s) of the range "
                         f"test, at a rate of {recorder.lrs[-1] if recorder.lrs else start_lr:g}"
                         "; lower the start rate")
    return LRFindResult(recorder.lrs, recorder.losses, recorder.smoothed, stopped,
                        suggest(recorder.lrs, recorder.smoothed, rule, num_it), rule,
                        trainer.task)


def suggest(lrs, losses, rule: str = "valley", num_it: int | None = None) -> float:
    """The rate that ``rule`` suggests from the rates and smoothed losses of a range test
    (fastai's rules; the first ``num_it // 10`` steps and the last 5 are left out, as fastai
    does, when enough remain)."""
    rule = _checks.choice("rule", rule, RULES, kind="suggestion rule")
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    skip = (num_it or len(lrs)) // 10
    if len(lrs) - skip - 5 >= 5:
        lrs, losses = lrs[skip:-5], losses[skip:-5]
    finite = np.isfinite(losses)
    if not finite.all():
        end = int(np.argmin(finite))
        lrs, losses = lrs[:end], losses[:end]
    if rule == "minimum":
        return float(lrs[int(np.argmin(losses))] / 10)
    if rule == "steep":
        slopes = np.diff(losses) / np.diff(np.log(lrs))
        return float(lrs[int(np.argmin(slopes))])
    return float(lrs[_valley(losses)])


def _valley(losses) -> int:
    """fastai's valley: the index halfway along the longest decreasing subsequence."""
    n = len(losses)
    lengths = [1] * n
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lengths[i] < lengths[j] + 1:
                lengths[i] = lengths[j] + 1
            if lengths[end] < lengths[i]:
                end, start = i, i - lengths[i]
    sections = (end - start) / 3
    return start + int(sections) + int(sections / 2)


# ---- the ``gdlab lr-find`` job -------------------------------------------------------------

def find_lr(config: dict, data=None, *, start_lr=START_LR, end_lr=END_LR, num_it=NUM_IT,
            rule="valley") -> LRFindResult:
    """The range test of a run's configuration (:mod:`gdlab.lab.run_config`): its data
    (``data``: already prepared by :func:`gdlab.lab.run_data.prepare_data`), a fresh network
    with its seed, its optimizer, batch size, penalty and clipping, on the training part."""
    from gdlab.lab.run_data import (
        build_loss,
        build_network,
        build_optimizer,
        check_batch_size,
        prepare_data,
    )

    if data is None:
        data = prepare_data(config)
    net = build_network(config, data)
    optimizer = build_optimizer({**config, "lr": start_lr}, net.parameters())
    check_batch_size(config["batch_size"], len(data.X_train))
    return lr_range_test(net, build_loss(data.task), optimizer, data.X_train, data.y_train,
                         start_lr=start_lr, end_lr=end_lr, num_it=num_it, rule=rule,
                         batch_size=config["batch_size"], seed=int(config["seed"]),
                         alpha=float(config["alpha"]), clip_norm=config.get("clip_norm"),
                         clip_value=config.get("clip_value"), task=data.task)


#: the files :func:`write_lr_find` writes
PLOT_FILE, CSV_FILE = "lr_find.png", "lr_find.csv"


def write_lr_find(out, found: LRFindResult, dataset: str = "") -> list[Path]:
    """``lr_find.png`` (the smoothed loss against the rate, log x, the suggestion marked) and
    ``lr_find.csv`` (step, rate, batch loss, smoothed loss) in the folder ``out``."""
    from gdlab.report.plots import save
    from gdlab.report.run_figures import lr_find_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / CSV_FILE).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "lr", "loss", "smoothed_loss"])
        for i, row in enumerate(zip(found.lrs, found.losses, found.smoothed), start=1):
            w.writerow([i, *map(repr, row)])
    fig = lr_find_figure(found.lrs, found.smoothed, suggestion=found.suggestion,
                         rule=found.rule, loss_name=found.loss_name, dataset=dataset)
    return [out / CSV_FILE, save(fig, out / PLOT_FILE)]
