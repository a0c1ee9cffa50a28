"""What every experiment of the tour shares: the Section record, the verdict rule, data, figures.

Figures are drawn with :mod:`gdlab.report.plots` and kept as :class:`gdlab.report.Figure`
records (PNG bytes and the file name ``figures/NN-name.png``); :mod:`gdlab.lab.tour.render`
writes the report through :class:`gdlab.report.Report`.

A verdict is never written by hand. Each experiment states its checks as
``Check(name, passed, detail)``, where ``passed`` is computed from the measured numbers
against a threshold written in ``detail``; :func:`verdict` turns the checks into
"supported" (all pass), "not supported" (none pass) or "depends" (some pass; the failing ones
say on what).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from gdlab.report.document import Figure, draw_figure

SUPPORTED, NOT_SUPPORTED, DEPENDS = "supported", "not supported", "depends"


@dataclass
class Check:
    """One measured condition of a verdict: ``passed`` is computed, ``detail`` shows the numbers."""

    name: str
    passed: bool
    detail: str

    def as_dict(self):
        return {"name": self.name, "passed": bool(self.passed), "detail": self.detail}


@dataclass
class Section:
    """One experiment's part of the report."""

    key: str
    title: str
    claim: str
    setup: str
    rule: str = ""
    checks: list[Check] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    note: str = ""
    skipped: bool = False
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return verdict(self.checks)[0] if not self.skipped else "skipped"

    @property
    def reason(self) -> str:
        return verdict(self.checks)[1] if not self.skipped else self.note

    def as_dict(self):
        return {"key": self.key, "title": self.title, "claim": self.claim, "setup": self.setup,
                "rule": self.rule, "verdict": self.verdict, "reason": self.reason,
                "checks": [c.as_dict() for c in self.checks],
                "table": {"columns": list(self.columns), "rows": [list(r) for r in self.rows]},
                "metrics": _jsonable(self.metrics),
                "figures": [{"name": f.name, "caption": f.caption} for f in self.figures],
                "note": self.note, "skipped": self.skipped, "seconds": round(self.seconds, 2)}


def verdict(checks) -> tuple[str, str]:
    """(verdict, reason) from the checks: all pass -> supported, none -> not supported."""
    checks = list(checks)
    if not checks:
        raise ValueError("a verdict needs at least one measured check")
    passed = [c for c in checks if c.passed]
    failed = [c for c in checks if not c.passed]
    if not failed:
        return SUPPORTED, f"all {len(checks)} checks hold ({', '.join(c.name for c in passed)})."
    if not passed:
        return NOT_SUPPORTED, (f"none of the {len(checks)} checks holds: "
                               + "; ".join(c.detail for c in failed) + ".")
    return DEPENDS, (f"{len(passed)} of {len(checks)} checks hold ("
                     + ", ".join(c.name for c in passed) + "); it does not hold where "
                     + "; ".join(c.detail for c in failed) + ".")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def fmt(value, digits=3) -> str:
    """A number for a table: 3 significant digits, '—' for missing, 'inf'/'nan' spelled out."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


# ---- the run context: quick or full, progress, shared data ------------------------------------

class Context:
    """What an experiment gets: ``quick``, a progress ticker and the shared digits split."""

    def __init__(self, quick: bool, progress=None):
        self.quick = bool(quick)
        self._progress = progress
        self._digits = None
        self._task = None

    def start(self, description: str, total: int):
        """Begin an experiment's progress bar with ``total`` units of work."""
        if self._progress is not None:
            self._task = self._progress.add_task(description, total=total)
            self._total = total

    def tick(self, n: int = 1):
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def finish(self):
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self._total)
        self._task = None

    def digits(self):
        """The digits data: standardised float32 train/validation/test parts (60/20/20, seed 0).

        Quick mode keeps a stratified half of the training part (fewer steps per epoch).
        """
        if self._digits is None:
            from gdlab.data import load_dataset, split, standardize

            ds = load_dataset("digits")
            sp = split(ds.X, ds.y, test_size=0.2, val_size=0.2, task="classification", seed=0)
            Xtr, ytr = sp.X_train, sp.y_train
            if self.quick:
                keep = split(Xtr, ytr, test_size=0.5, task="classification", seed=1)
                Xtr, ytr = keep.X_train, keep.y_train
            _, Xtr, Xva, Xte = standardize(Xtr, sp.X_val, sp.X_test, dtype=np.float32)
            self._digits = {"X_train": Xtr, "y_train": ytr, "X_val": Xva, "y_val": sp.y_val,
                            "X_test": Xte, "y_test": sp.y_test}
        return self._digits


def digits_note(data) -> str:
    return (f"the scikit-learn digits (8x8 images, 64 features, 10 classes), standardised; "
            f"{len(data['y_train'])} training, {len(data['y_val'])} validation, "
            f"{len(data['y_test'])} test samples")


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


# ---- figures: drawn with gdlab.report.plots, kept as gdlab.report Figures -------------------

def section_figure(name: str, caption: str, draw) -> Figure:
    """Run ``draw()`` in gdlab's plot style; the figure goes to ``figures/<name>.png``."""
    return draw_figure(draw, caption, f"figures/{name}.png")


# ---- one training run -------------------------------------------------------------------------

def train(X, y, *, hidden=(32,), activation="relu", optimizer="sgd", lr=0.1, batch_size=32,
          epochs=10, seed=0, net=None, loss="cross_entropy", validation=None, batchnorm=False,
          **trainer_kw) -> dict:
    """Train one network and never raise on divergence: the outcome is recorded instead.

    Returns ``{"history": dict of per-epoch lists, "diverged": bool, "diverged_epoch": int or
    None, "seconds": float, "net": the network, "initial_loss": loss of the initial network}``.
    """
    from gdlab.errors import DivergenceError
    from gdlab.nn.losses import get_loss
    from gdlab.nn.sequential import mlp
    from gdlab.optim import make_optimizer
    from gdlab.training import Trainer

    if net is None:
        n_out = int(np.max(y)) + 1 if loss == "cross_entropy" else 1
        net = mlp(X.shape[1], list(hidden), n_out, activation=activation, batchnorm=batchnorm,
                  seed=seed)
    loss_fn = get_loss(loss)
    with np.errstate(all="ignore"):
        # on a copy, in training mode: BatchNorm then normalises with the batch statistics
        # (its running statistics are still the defaults) and the network itself is untouched
        initial = float(loss_fn(net.clone().forward(X, training=True), y))
    opt = make_optimizer(optimizer, [net.flat_parameters], lr=lr)
    trainer_kw = {"tol": None} | trainer_kw
    trainer = Trainer(net, loss_fn, opt, batch_size=batch_size, epochs=epochs, seed=seed,
                      **trainer_kw)
    diverged, epoch = False, None
    t0 = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            trainer.fit(X, y, validation_data=validation)
    except DivergenceError as exc:
        diverged, epoch = True, exc.epoch
    seconds = time.perf_counter() - t0
    history = trainer.history.as_dict()
    return {"history": history, "diverged": diverged, "diverged_epoch": epoch,
            "seconds": seconds, "net": net, "initial_loss": initial,
            "step_loss": list(trainer.history.step_loss)}
