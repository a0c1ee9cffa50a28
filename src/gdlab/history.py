"""What training records: the per-epoch History, the FitResult of a ``fit`` call, Callbacks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


class History:
    """Per-epoch records of a training run: ``history["loss"]`` is a list with one float per epoch.

    Keys: ``loss`` (the epoch's mean training loss, batch losses weighted by batch size, the
    ``alpha`` penalty included), ``val_loss``; ``accuracy``/``val_accuracy`` for
    classification or ``mse``, ``r2``, ``val_mse``, ``val_r2`` for regression; ``lr`` (the rate
    at the start of the epoch), ``grad_norm`` (the global gradient norm of the epoch's last
    step, before clipping), ``time`` (wall seconds of the epoch, validation included). An entry
    that an epoch did not measure is NaN, so every list has one value per epoch.
    ``step_loss`` holds every step's batch loss when the trainer has ``record_steps=True``.
    """

    def __init__(self):
        self._epochs: dict[str, list[float]] = {}
        self.step_loss: list[float] = []
        self.n_epochs = 0

    def append(self, logs: dict) -> None:
        """Add one epoch; keys new to this epoch are padded with NaN for the earlier epochs."""
        for key, value in logs.items():
            if key not in self._epochs:
                self._epochs[key] = [math.nan] * self.n_epochs
            self._epochs[key].append(float(value))
        self.n_epochs += 1
        for values in self._epochs.values():
            if len(values) < self.n_epochs:
                values.append(math.nan)

    def __getitem__(self, key: str) -> list[float]:
        try:
            return self._epochs[key]
        except KeyError:
            raise KeyError(f"history has no {key!r}; it has {sorted(self._epochs)}") from None

    def __contains__(self, key) -> bool:
        return key in self._epochs

    def __len__(self) -> int:
        return self.n_epochs

    def keys(self):
        return self._epochs.keys()

    def last(self, key: str, default=math.nan) -> float:
        """The latest value of ``key`` (``default`` when absent)."""
        values = self._epochs.get(key)
        return values[-1] if values else default

    def as_dict(self) -> dict:
        """Plain lists (JSON-ready); ``step_loss`` included when recorded."""
        d = {key: list(values) for key, values in self._epochs.items()}
        if self.step_loss:
            d["step_loss"] = list(self.step_loss)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """The inverse of :meth:`as_dict`."""
        h = cls()
        lengths = {len(v) for k, v in d.items() if k != "step_loss"}
        if len(lengths) > 1:
            raise ValueError(f"history lists have different lengths {sorted(lengths)}")
        h._epochs = {k: [float(x) for x in v] for k, v in d.items() if k != "step_loss"}
        h.step_loss = [float(x) for x in d.get("step_loss", [])]
        h.n_epochs = lengths.pop() if lengths else 0
        return h

    def __repr__(self):
        return f"History({self.n_epochs} epochs: {', '.join(self._epochs)})"


@dataclass
class FitResult:
    """What ``Trainer.fit`` returns.

    ``stopped_because`` is one of ``"max_epochs"``, ``"max_steps"``, ``"tol"``, ``"grad_tol"``,
    ``"target"``, ``"early_stopping"``, ``"callback"`` (a callback's ``on_epoch_end`` returned
    True) or ``"interrupted"`` (KeyboardInterrupt). ``epochs`` and ``steps`` count the whole
    life of the trainer (they continue across ``fit`` calls); ``best_epoch`` (1-based) and
    ``best_score`` refer to the monitored quantity (``trainer.monitor``).
    """

    history: History
    stopped_because: str
    epochs: int
    steps: int
    best_epoch: int | None = None
    best_score: float | None = None
    monitor: str = "loss"
    message: str = field(default="", repr=False)


class Callback:
    """Base class of training callbacks; override what you need (every method is optional).

    ``logs`` is a dict: at a step ``{"epoch", "step", "loss", "batch_size", "indices"}`` (the
    global indices of the batch's samples, valid only during the call); at an epoch end the
    epoch's History entries plus ``"epoch"`` and ``"step"``. Returning True from
    ``on_epoch_end`` asks the trainer to stop (``stopped_because == "callback"``).
    Objects that are not subclasses but have some of these methods work too.
    """

    def on_train_begin(self, trainer, logs):
        pass

    def on_step_end(self, trainer, logs):
        pass

    def on_epoch_end(self, trainer, logs):
        return False

    def on_train_end(self, trainer, logs):
        pass


class ProgressBar:
    """A rich progress bar over epochs (rich is imported only when one is shown)."""

    def __init__(self, end_epoch, start):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                           TimeElapsedColumn(), TextColumn("{task.description}"))
        self._p.start()
        total = None if end_epoch is None else end_epoch
        self._task = self._p.add_task("", total=total, completed=start)

    def update(self, epoch, logs):
        shown = [f"{k} {v:.4g}" for k, v in logs.items() if k in (
            "loss", "val_loss", "accuracy", "val_accuracy", "r2", "val_r2")]
        self._p.update(self._task, completed=epoch, description="  ".join(shown))

    def close(self):
        self._p.stop()
