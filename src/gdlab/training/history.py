"""What training records: the per-epoch History and the FitResult of a ``fit`` call."""

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

    def __init__(self, epochs: dict | None = None, step_loss=()):
        """An empty history, or one holding ``epochs`` (key -> one value per epoch, every list
        of the same length) and ``step_loss``."""
        epochs = {k: [float(x) for x in v] for k, v in (epochs or {}).items()}
        lengths = {len(v) for v in epochs.values()}
        if len(lengths) > 1:
            raise ValueError(f"history lists have different lengths {sorted(lengths)}")
        self._epochs: dict[str, list[float]] = epochs
        self.step_loss: list[float] = [float(x) for x in step_loss]
        self.n_epochs = lengths.pop() if lengths else 0

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
        return cls({k: v for k, v in d.items() if k != "step_loss"}, d.get("step_loss", []))

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
